"""Figures of an exploration: the predicted map with the measured points, the window's history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from msc_bluesky.explore.space import PAPER_REACTION_TIME_S


def write_exploration_figures(
    agent, summary: dict[str, Any], history: list[dict[str, Any]], report_dir: str | Path
) -> list[Path]:
    """Write ``explore_map.png`` and ``explore_window.png``; return their paths.

    ``explore_map.png``: P(CdSe-437) at 14 s over T_nuc × T_growth, the 0.5 contour as the
    predicted boundary, the model's latent uncertainty, and the measured points numbered
    in the order they were taken (filled: CdSe-437 found). ``explore_window.png``: the
    predicted window edges with their uncertainty against conditions used.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = Path(report_dir)
    out.mkdir(parents=True, exist_ok=True)
    low, high = agent.space.t_nuc_range
    tn = np.linspace(low, high, 61)
    tg = np.linspace(low - agent.space.growth_span_c, high, 81)
    TN, TG = np.meshgrid(tn, tg)
    rows = np.column_stack([TN.ravel(), TG.ravel(), np.full(TN.size, PAPER_REACTION_TIME_S)])
    p, s = agent.presence(rows)
    P, S = p.reshape(TN.shape), s.reshape(TN.shape)
    outside = TG > TN + 1e-9
    P = np.ma.array(P, mask=outside)
    S = np.ma.array(S, mask=outside)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), constrained_layout=True)
    im = axes[0].pcolormesh(TN, TG, P, cmap="RdBu_r", vmin=0, vmax=1, shading="auto")
    axes[0].contour(TN, TG, P.filled(np.nan), levels=[0.5], colors="k", linewidths=1.2)
    fig.colorbar(im, ax=axes[0], label="P(CdSe-437) at 14 s")
    im2 = axes[1].pcolormesh(TN, TG, S, cmap="viridis", shading="auto")
    fig.colorbar(im2, ax=axes[1], label="model uncertainty (latent σ)")
    for ax in axes:
        for i, pt in enumerate(summary["points"], start=1):
            if abs(pt["reaction_time"] - PAPER_REACTION_TIME_S) > 0.5:
                continue
            ax.plot(pt["t_nuc"], pt["t_growth"], "o", ms=9,
                    mfc="gold" if pt["msc437"] else "white", mec="k")
            ax.annotate(str(i), (pt["t_nuc"], pt["t_growth"]), ha="center", va="center",
                        fontsize=6)
        ax.set_xlabel("T_nuc (°C)")
        ax.set_ylabel("T_growth (°C)")
    axes[0].set_title("predicted CdSe-437 map, measured points in order")
    axes[1].set_title("where the model is unsure")
    map_path = out / "explore_map.png"
    fig.savefig(map_path, dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    used = [h["conditions_used"] for h in history if h["window"]]
    for edge, label in ((0, "low edge"), (1, "high edge")):
        values = [h["window"][edge] for h in history if h["window"]]
        errors = [h["uncertainty"][edge] for h in history if h["window"]]
        if values:
            ax.errorbar(used, values, yerr=errors, marker="o", capsize=3, label=label)
    ax.set_xlabel("conditions used")
    ax.set_ylabel("predicted CdSe-437 window edge at 14 s (T_nuc, °C)")
    ax.set_title("boundary estimate against conditions used")
    if used:
        ax.legend()
    window_path = out / "explore_window.png"
    fig.savefig(window_path, dpi=120)
    plt.close(fig)
    return [map_path, window_path]
