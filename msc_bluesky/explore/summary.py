"""What an exploration found: the predicted map, the CdSe-437 window, the points used."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from msc_bluesky.explore.space import (
    PAPER_REACTION_TIME_S,
    paper_grid,
)

#: Probabilities one standard deviation either side of a decision (Φ(±1)).
_ONE_SIGMA = (0.1587, 0.8413)


def predicted_phase_map(agent, reaction_time: float = PAPER_REACTION_TIME_S) -> list[dict]:
    """The model's prediction at every point of the paper's 14 s grid.

    Returns
    -------
    list of dict
        ``{"t_nuc", "t_growth", "msc437": bool, "probability"}`` for the 70 points.
    """
    grid = paper_grid(reaction_time)
    rows = np.array([[c["t_nuc"], c["t_growth"], c["reaction_time"]] for c in grid])
    p, _ = agent.presence(rows)
    return [
        {
            "t_nuc": c["t_nuc"],
            "t_growth": c["t_growth"],
            "msc437": bool(pi > 0.5),
            "probability": round(float(pi), 4),
        }
        for c, pi in zip(grid, p, strict=True)
    ]


def diagonal_window(
    agent,
    reaction_time: float = PAPER_REACTION_TIME_S,
    t_nuc_range: tuple[float, float] | None = None,
    step_c: float = 1.0,
) -> tuple[list[float] | None, list[float] | None]:
    """Predicted T_nuc window (T_growth = T_nuc) where CdSe-437 persists, and its uncertainty.

    The window is given on the space's grid, as a measured grid would give it: the lowest
    and highest grid T_nuc where ``P(CdSe-437) > 0.5``. Each edge's uncertainty is half the
    width of the zone around it, on a fine diagonal, where P lies between Φ(−1) and Φ(+1),
    and at least half the grid step (the model cannot place an edge more finely than the
    points it learned from).

    Returns
    -------
    window : [low, high] or None
    uncertainty : [low_sigma, high_sigma] or None
    """
    low, high = t_nuc_range or agent.space.t_nuc_range
    grid_step = agent.space.resolution_c
    grid = np.arange(low, high + grid_step / 2, grid_step)
    p_grid, _ = agent.presence(np.column_stack([grid, grid, np.full_like(grid, reaction_time)]))
    inside = p_grid > 0.5
    if not inside.any():
        return None, None
    edges = [float(grid[inside][0]), float(grid[inside][-1])]
    t = np.arange(low, high + step_c / 2, step_c)
    p, _ = agent.presence(np.column_stack([t, t, np.full_like(t, reaction_time)]))
    fine = p > 0.5
    floor = grid_step / 2.0
    if not fine.any():
        return edges, [floor, floor]
    lo_i, hi_i = int(np.argmax(fine)), int(len(t) - 1 - np.argmax(fine[::-1]))
    return edges, [
        max(floor, _edge_width(t, p, lo_i)),
        max(floor, _edge_width(t, p, hi_i)),
    ]


def _edge_width(t: np.ndarray, p: np.ndarray, i: int) -> float:
    """Half the width of the uncertain zone (Φ(−1) < P < Φ(+1)) around index ``i``."""
    lo, hi = _ONE_SIGMA
    uncertain = (p > lo) & (p < hi)
    if not uncertain[i]:
        return 0.0
    a = b = i
    while a > 0 and uncertain[a - 1]:
        a -= 1
    while b < len(t) - 1 and uncertain[b + 1]:
        b += 1
    return float(t[b] - t[a]) / 2.0


def summarize_exploration(
    agent,
    points: Sequence[dict[str, Any]],
    *,
    exploration_id: str,
    stop_reason: str,
    decisions: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The summary JSON of ``msc-bluesky explore``.

    Parameters
    ----------
    agent : MapAgent or OptimumAgent
        Fitted to every measured point.
    points : sequence of dict
        Every measured point, with the reason it was chosen.
    exploration_id : str
    stop_reason : str
        Why the loop ended (stopping rule, budget, user).
    decisions : sequence of dict
        Every proposal with the person's decision (with ``--approve``).

    Returns
    -------
    dict
        ``conditions_used``, ``msc437_window_c`` ([low, high] or None),
        ``msc437_window_uncertainty_c``, ``phase_map``, ``points``, ``decisions``,
        ``objective``, ``space``, ``stop_reason``, ``exploration_id`` and, for the
        optimum objective, ``optimum``.
    """
    window, uncertainty = diagonal_window(agent)
    summary: dict[str, Any] = {
        "exploration_id": exploration_id,
        "objective": agent.objective,
        "space": agent.space.to_dict(),
        "conditions_used": len(points),
        "stop_reason": stop_reason,
        "msc437_window_c": window,
        "msc437_window_uncertainty_c": uncertainty,
        "phase_map": predicted_phase_map(agent),
        "points": list(points),
        "decisions": list(decisions),
    }
    best = getattr(agent, "best", None)
    if callable(best):
        found = best()
        summary["optimum"] = None if found is None else {
            **found.condition,
            "msc437_absorbance": found.msc437_absorbance,
            "nc_absorbance": found.nc_absorbance,
            "raw_uid": found.raw_uid,
        }
    return summary


def format_exploration(summary: dict[str, Any]) -> str:
    """Human-readable lines: points in order, the window and the predicted 14 s map."""
    lines = [f"exploration {summary['exploration_id']} ({summary['objective']}): "
             f"{summary['conditions_used']} conditions; stopped: {summary['stop_reason']}"]
    for i, pt in enumerate(summary["points"], start=1):
        mark = "CdSe-437" if pt.get("msc437") else "—"
        lines.append(f"  {i:>2}. T_nuc {pt['t_nuc']:>5.0f}  T_growth {pt['t_growth']:>5.0f}  "
                     f"t {pt['reaction_time']:>5g} s  {mark:<9} {pt.get('reason', '')}")
    window, unc = summary["msc437_window_c"], summary["msc437_window_uncertainty_c"]
    if window:
        lines.append(
            f"CdSe-437 predicted at 14 s for T_nuc = T_growth in {window[0]:.0f} (±{unc[0]:.0f})"
            f" – {window[1]:.0f} (±{unc[1]:.0f}) °C"
        )
    else:
        lines.append("CdSe-437 predicted nowhere on the 14 s diagonal")
    grid = summary["phase_map"]
    t_nucs = sorted({g["t_nuc"] for g in grid})
    lines.append("predicted 14 s map (rows T_nuc − T_growth, columns T_nuc; # = CdSe-437):")
    lines.append("       " + " ".join(f"{t:>4.0f}" for t in t_nucs))
    for dg in range(0, 91, 10):
        cells = []
        for t in t_nucs:
            hit = [g for g in grid if g["t_nuc"] == t and abs(t - g["t_growth"] - dg) < 1e-6]
            cells.append(("   #" if hit[0]["msc437"] else "   .") if hit else "    ")
        lines.append(f"  −{dg:>3} " + " ".join(cells))
    if summary.get("optimum"):
        o = summary["optimum"]
        lines.append(f"optimum: T_nuc {o['t_nuc']:.0f} °C, T_growth {o['t_growth']:.0f} °C, "
                     f"t {o['reaction_time']:g} s, A(437) {o['msc437_absorbance']:.3f}, "
                     f"A(NC) {o['nc_absorbance']:.3f}")
    return "\n".join(lines)
