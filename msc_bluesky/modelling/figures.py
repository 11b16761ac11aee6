"""Figures of a kinetic fit: parity, Arrhenius, predicted against measured phase map.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (no GUI
backend, no global state); :func:`save_figure` writes it as PNG. Artists carry a
``gid``: ``"parity-<field>"`` axes, ``"arrhenius-<name>"`` lines, ``"phase-measured"``
and ``"phase-predicted"`` axes, ``"msc437-contour"``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from msc_bluesky.modelling.fit import KineticFit
from msc_bluesky.modelling.observables import DETECTION_ABSORBANCE, OBSERVABLES
from msc_bluesky.modelling.parameters import (
    ENERGY_PREFIX,
    GAS_CONSTANT_KJ,
    RATE_PREFIX,
    reference_temperature_c,
)
from msc_bluesky.physics.sizing import MSC_FAMILIES_NM, extinction_coefficient

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Phase colours (as in the report's phase map).
PHASE_COLOURS: dict[str, str] = {
    "none": "#d9d9d9",
    "NC": "#e6550d",
    "MSC+NC": "#31a354",
    "MSC": "#3182bd",
}
_DEG = "\N{DEGREE SIGN}C"
_LOG_SCALE = {"nc_concentration_molar", "saxs_total_volume_fraction", "saxs_msc_volume_fraction"}


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG (parent directories are created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=fig.dpi)
    return path


def parity_figure(fit: KineticFit) -> Figure:
    """Measured against fitted, one panel per observable with data, ±1σ error bars."""
    names = [o.name for o in OBSERVABLES if any(o.name in r.measured for r in fit.residuals)]
    if not names:
        raise ValueError("the fit has no measured observables to draw")
    ncols = min(4, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig = _new_figure(3.2 * ncols, 3.0 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    labels = {o.name: (o.label, o.unit, o.in_fit) for o in OBSERVABLES}
    for ax, name in zip(axes, names, strict=False):
        ax.set_gid(f"parity-{name}")
        x = np.array([r.measured[name] for r in fit.residuals if name in r.measured])
        y = np.array([r.model[name] for r in fit.residuals if name in r.measured])
        s = np.array([r.sigma[name] for r in fit.residuals if name in r.measured])
        t = np.array([r.reaction_time for r in fit.residuals if name in r.measured])
        ax.errorbar(x, y, xerr=s, fmt="none", ecolor="0.6", lw=0.8)
        sc = ax.scatter(x, y, c=t, cmap="viridis", s=14, zorder=3)
        finite = np.concatenate([x[np.isfinite(x)], y[np.isfinite(y)]])
        if finite.size:
            lo, hi = float(finite.min()), float(finite.max())
            pad = 0.05 * (hi - lo or abs(hi) or 1.0)
            ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8)
        if name in _LOG_SCALE and finite.size and finite.min() > 0 and (
            finite.max() / finite.min() < 1e4
        ):
            ax.set_xscale("log")
            ax.set_yscale("log")
        label, unit, in_fit = labels[name]
        unit = f" ({unit})" if unit else ""
        ax.set_title(label + ("" if in_fit else " (not fitted)"), fontsize=9)
        ax.set_xlabel(f"measured{unit}", fontsize=8)
        ax.set_ylabel(f"fitted{unit}", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    fig.colorbar(sc, ax=axes[: len(names)].tolist(), label="reaction time (s)", shrink=0.8)
    fig.suptitle(f"Measured against fitted (reduced χ² = {fit.reduced_chi2:.3g})")
    return fig


def identified_rates(fit: KineticFit) -> list[str]:
    """Rates ``<name>`` whose ``k_<name>`` the fit identified (with ``ea_<name>`` in the model)."""
    out = []
    for n, p in fit.parameters.items():
        rate = n[len(RATE_PREFIX):]
        if n.startswith(RATE_PREFIX) and p.identifiable and ENERGY_PREFIX + rate in fit.parameters:
            out.append(rate)
    return out


def arrhenius_figure(fit: KineticFit, t_range_c: tuple[float, float] | None = None) -> Figure:
    """ln k against 1000/T for every identified rate, with its ±1σ band from the covariance."""
    rates = identified_rates(fit)
    if not rates:
        raise ValueError("no rate constant is identified: nothing to draw")
    temps = [r.t_nuc for r in fit.residuals] + [r.t_growth for r in fit.residuals]
    lo, hi = t_range_c or (min(temps), max(temps))
    t_c = np.linspace(lo, hi, 60)
    x = 1000.0 / (t_c + 273.15)
    t_ref = reference_temperature_c(fit.params) + 273.15
    fig = _new_figure(6.4, 4.6)
    ax = fig.subplots()
    for rate in rates:
        k_name, ea_name = RATE_PREFIX + rate, ENERGY_PREFIX + rate
        k, ea = fit.values[k_name], fit.values[ea_name]
        slope = -(1.0 / (t_c + 273.15) - 1.0 / t_ref) / GAS_CONSTANT_KJ  # d ln k / d Ea
        ln_k = math.log(k) + ea * slope
        var = np.zeros_like(ln_k)
        if k_name in fit.free:
            i = fit.free.index(k_name)
            var = var + fit.covariance[i, i]
            if ea_name in fit.free and fit.parameters[ea_name].identifiable:
                # (an energy held at its reference adds nothing: the band is conditional)
                j = fit.free.index(ea_name)
                var = var + slope**2 * fit.covariance[j, j] + 2 * slope * fit.covariance[i, j]
        line = ax.plot(x, ln_k, label=f"{rate}: Ea = {ea:.0f} kJ/mol")[0]
        line.set_gid(f"arrhenius-{rate}")
        sd = np.sqrt(np.where(np.isfinite(var) & (var >= 0), var, np.nan))
        ax.fill_between(x, ln_k - sd, ln_k + sd, color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xlabel("1000 / T (K$^{-1}$)")
    ax.set_ylabel("ln k  (k in s$^{-1}$ or mM$^{-1}$ s$^{-1}$)")
    top = ax.secondary_xaxis("top", functions=(lambda v: 1000.0 / np.asarray(v) - 273.15,
                                               lambda v: 1000.0 / (np.asarray(v) + 273.15)))
    top.set_xlabel(f"T ({_DEG})")
    ax.legend(fontsize=8)
    ax.set_title("Arrhenius plot of the identified rates (±1σ)", fontsize=10)
    return fig


def _measured_phase(row: Mapping[str, Any]) -> str | None:
    phase = row.get("phase")
    if isinstance(phase, str) and phase in PHASE_COLOURS:
        return phase
    msc = any(bool(row.get(f"msc{f}_detected")) for f in MSC_FAMILIES_NM)
    try:
        nc = math.isfinite(float(row.get("nc_peak_nm")))
    except (TypeError, ValueError):
        nc = False
    if not msc and not nc and not any(f"msc{f}_absorbance" in row for f in MSC_FAMILIES_NM):
        return None
    return "MSC+NC" if msc and nc else "MSC" if msc else "NC" if nc else "none"


def predicted_phase(obs: Mapping[str, float], path_length_cm: float = 0.1) -> str:
    """Phase the model predicts: MSC bands and NC exciton at or above the detection level."""
    msc = any(obs[f"msc{f}_absorbance"] >= DETECTION_ABSORBANCE for f in MSC_FAMILIES_NM)
    d = obs["nc_diameter_nm"]
    nc_abs = (
        float(extinction_coefficient(d)) * obs["nc_concentration_molar"] * path_length_cm
        if math.isfinite(d) else 0.0
    )
    nc = nc_abs >= DETECTION_ABSORBANCE
    return "MSC+NC" if msc and nc else "MSC" if msc else "NC" if nc else "none"


def phase_map_figure(
    fit: KineticFit,
    rows: Iterable[Mapping[str, Any]],
    *,
    reaction_time: float = 14.0,
    tolerance_s: float = 0.5,
    t_nuc_c: Sequence[float] | None = None,
    growth_span_c: float = 90.0,
    step_c: float = 5.0,
) -> Figure:
    """Measured phase map (left) beside the predicted one (right) at ``reaction_time``.

    Axes T_nuc × T_growth (T_growth <= T_nuc). The prediction is drawn on a grid of
    ``step_c`` with the CdSe-437 detection contour; measured conditions are overlaid.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    measured = []
    for r in rows:
        try:
            t, tn, tg = (float(r.get(k)) for k in ("reaction_time", "t_nuc", "t_growth"))
        except (TypeError, ValueError):
            continue
        phase = _measured_phase(r)
        if phase and abs(t - reaction_time) <= tolerance_s:
            measured.append((tn, tg, phase, bool(r.get("msc437_detected"))))
    if t_nuc_c is None:
        if measured:
            lo = min(m[0] for m in measured)
            hi = max(m[0] for m in measured)
        else:
            lo, hi = 250.0, 330.0
        t_nuc_c = np.arange(lo - step_c, hi + 1.5 * step_c, step_c)
    t_nuc_c = np.asarray(t_nuc_c, dtype=float)
    t_nuc_c = t_nuc_c[(t_nuc_c >= 20) & (t_nuc_c <= 360)]
    offsets = np.arange(0.0, growth_span_c + 0.5 * step_c, step_c)
    t_growth_c = np.unique(np.concatenate([t_nuc_c - o for o in offsets]))
    t_growth_c = t_growth_c[t_growth_c >= 20]
    codes = np.full((t_growth_c.size, t_nuc_c.size), np.nan)
    a437 = np.full_like(codes, np.nan)
    order = list(PHASE_COLOURS)
    for j, tn in enumerate(t_nuc_c):
        for i, tg in enumerate(t_growth_c):
            if tg > tn + 1e-9 or tn - tg > growth_span_c + 1e-9:
                continue
            obs = fit.predict(float(tn), float(tg), reaction_time)
            codes[i, j] = order.index(predicted_phase(obs, fit.path_length_cm))
            a437[i, j] = obs["msc437_absorbance"]

    cmap = ListedColormap([PHASE_COLOURS[p] for p in order])
    norm = BoundaryNorm(np.arange(len(order) + 1) - 0.5, len(order))
    fig = _new_figure(11.0, 4.8)
    ax_m, ax_p = fig.subplots(1, 2, sharex=True, sharey=True)
    ax_m.set_gid("phase-measured")
    ax_p.set_gid("phase-predicted")
    if measured:
        ax_m.scatter([m[0] for m in measured], [m[1] for m in measured], marker="s", s=90,
                     c=[PHASE_COLOURS[m[2]] for m in measured], edgecolors="0.3")
        hits = [m for m in measured if m[3]]
        ax_m.scatter([m[0] for m in hits], [m[1] for m in hits], marker="x", c="k", s=20,
                     label="CdSe-437 detected")
        if hits:
            ax_m.legend(fontsize=8, loc="lower right")
    else:
        ax_m.text(0.5, 0.5, f"no measurement at {reaction_time:g} s", ha="center",
                  transform=ax_m.transAxes)
    dx = step_c / 2
    ax_p.pcolormesh(
        np.append(t_nuc_c - dx, t_nuc_c[-1] + dx), np.append(t_growth_c - dx, t_growth_c[-1] + dx),
        np.ma.masked_invalid(codes), cmap=cmap, norm=norm, edgecolors="white", linewidth=0.3,
    )
    if np.nanmax(np.nan_to_num(a437, nan=0.0)) >= DETECTION_ABSORBANCE:
        cs = ax_p.contour(t_nuc_c, t_growth_c, np.ma.masked_invalid(a437),
                          levels=[DETECTION_ABSORBANCE], colors="k", linewidths=1.2)
        cs.set_gid("msc437-contour")
    if measured:
        ax_p.scatter([m[0] for m in measured], [m[1] for m in measured], s=6, c="k", alpha=0.5)
    for ax, title in ((ax_m, "measured"), (ax_p, "predicted by the fit (— CdSe-437 limit)")):
        ax.set_xlabel(f"$T_\\mathrm{{nuc}}$ ({_DEG})")
        ax.set_title(f"{title}, t = {reaction_time:g} s", fontsize=10)
    ax_m.set_ylabel(f"$T_\\mathrm{{growth}}$ ({_DEG})")
    handles = [Patch(facecolor=PHASE_COLOURS[p], edgecolor="0.3", label=p) for p in order]
    fig.legend(handles=handles, loc="outside right center", title="Phase", fontsize=9)
    fig.suptitle("MSC / NC phase map: measured and predicted")
    return fig


def write_fit_figures(
    fit: KineticFit, rows: Iterable[Mapping[str, Any]], report_dir: str | Path,
    *, reaction_time: float = 14.0,
) -> list[Path]:
    """Write ``fit_parity.png``, ``fit_arrhenius.png`` (when a rate is identified) and
    ``fit_phase_map.png`` into ``report_dir``; return the paths written."""
    report_dir = Path(report_dir)
    rows = list(rows)
    written = [save_figure(parity_figure(fit), report_dir / "fit_parity.png")]
    if identified_rates(fit):
        written.append(save_figure(arrhenius_figure(fit), report_dir / "fit_arrhenius.png"))
    written.append(
        save_figure(phase_map_figure(fit, rows, reaction_time=reaction_time),
                    report_dir / "fit_phase_map.png")
    )
    return written


__all__ = [
    "arrhenius_figure",
    "identified_rates",
    "parity_figure",
    "phase_map_figure",
    "predicted_phase",
    "save_figure",
    "write_fit_figures",
]
