"""Report figures from plain data (lists of :class:`ConditionRecord`, numpy arrays).

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (so no
GUI backend and no global figure state); :func:`save_figure` writes it as PNG.
matplotlib is imported only when a figure is drawn.

Artists carry a ``gid`` so tests and users can find them: ``"spectrum"``,
``"msc-line-437"``, ``"msc-detected-437"``, ``"size-distribution"``, ``"size-peak"``,
``"size-population"``, ``"magic-radius"``,
``"saxs-curve"``, ``"precursor-curve"``, ``"bragg-peak"``, ``"phase-map"``,
``"phase-grid-map"``; axes ``"spectra-panel"``, ``"size-panel"``, ``"iq-panel"``,
``"precursor-panel"``, ``"phase-time-panel"``, ``"phase-grid-panel"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from msc_bluesky.analysis.saxs_basis import MAGIC_RADII_NM
from msc_bluesky.physics.sizing import MSC_FAMILIES_NM

from .records import (
    PHASES,
    ConditionRecord,
    group_by,
    latest_per,
    temperature_key,
    time_key,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Colours of the phase map, one per entry of ``PHASES``.
PHASE_COLOURS: dict[str, str] = {
    "none": "#d9d9d9",
    "NC": "#e6550d",
    "MSC+NC": "#31a354",
    "MSC": "#3182bd",
}

_DEG = "\N{DEGREE SIGN}C"
_PER_NM = "nm$^{-1}$"


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG file (parent directories are created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=fig.dpi)
    return path


def _require(records: Sequence[ConditionRecord], attr: str, what: str) -> list[ConditionRecord]:
    usable = [r for r in records if getattr(r, attr)]
    if not usable:
        raise ValueError(f"no records with {what}: cannot draw this figure")
    return usable


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    ncols = min(n, max_cols)
    return math.ceil(n / ncols), ncols


# --------------------------------------------------------------------------- Fig. 1


def spectra_figure(
    records: Sequence[ConditionRecord],
    *,
    offset: float | None = None,
    families: Sequence[int] = MSC_FAMILIES_NM,
    cmap: str = "plasma",
    max_cols: int = 4,
) -> Figure:
    """UV-Vis spectra, one panel per nucleation temperature, coloured by T_growth.

    Like Fig. 1 of Palencia et al. (2020): spectra of one panel are stacked with a
    vertical offset in order of growth temperature; dashed lines mark the MSC families;
    a family the analysis detected in any spectrum of the panel is shaded and drawn in
    red.

    Parameters
    ----------
    records : sequence of ConditionRecord
        Records with a spectrum; those without one are ignored.
    offset : float, optional
        Vertical offset between consecutive spectra of a panel (absorbance units).
        Default: 8 % of the largest absorbance in the panel; 0 overlays them.
    families : sequence of int
        Wavelengths (nm) to mark.
    cmap : str
        Colour map over growth temperature.
    max_cols : int
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If no record holds a spectrum.
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, Normalize
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    usable = _require(records, "has_spectrum", "a UV-Vis spectrum")
    panels = group_by(usable, lambda r: temperature_key(r.t_nuc))
    t_growth = np.array([r.t_growth for r in usable], dtype=float)
    lo, hi = float(np.nanmin(t_growth)), float(np.nanmax(t_growth))
    norm = Normalize(lo - 0.5, hi + 0.5) if hi - lo < 1 else Normalize(lo, hi)
    # stop short of the palest end of the map: the hottest spectrum stays visible on white
    colours = ListedColormap(colormaps[cmap](np.linspace(0.0, 0.88, 256)))
    times = sorted({time_key(r.reaction_time) for r in usable})

    nrows, ncols = _grid(len(panels), max_cols)
    fig = _new_figure(3.3 * ncols + 1.0, 2.9 * nrows + 0.6)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
    flat = list(axes.flat)
    for ax in flat[len(panels) :]:
        ax.set_axis_off()  # keeps the grid (and the colour bar) compact

    for ax, (t_nuc, recs) in zip(flat, panels.items(), strict=False):
        recs = sorted(recs, key=lambda r: r.t_growth)
        top = max(float(np.nanmax(r.absorbance)) for r in recs)
        step = 0.08 * top if offset is None else float(offset)
        for k, rec in enumerate(recs):
            (line,) = ax.plot(
                rec.wavelength_nm,
                np.asarray(rec.absorbance, dtype=float) + k * step,
                color=colours(norm(rec.t_growth)),
                lw=1.0,
            )
            line.set_gid("spectrum")
        detected = {f for r in recs for f in r.detected_families}
        _mark_families(ax, families, detected)
        ax.set_title(f"$T_\\mathrm{{nuc}}$ = {t_nuc:g} {_DEG}", fontsize=10)
        ax.set_gid("spectra-panel")
        ax.set_xlim(
            min(float(np.nanmin(r.wavelength_nm)) for r in recs),
            max(float(np.nanmax(r.wavelength_nm)) for r in recs),
        )
        ax.tick_params(labelsize=8)
    ylabel = "Absorbance" if offset == 0 else "Absorbance (offset)"
    for idx, ax in enumerate(flat[: len(panels)]):
        if idx + ncols >= len(panels):  # no panel below this one
            ax.set_xlabel("Wavelength (nm)")
            ax.tick_params(labelbottom=True)
        if idx % ncols == 0:
            ax.set_ylabel(ylabel)

    sm = ScalarMappable(norm=norm, cmap=colours)
    fig.colorbar(sm, ax=flat, fraction=0.025, aspect=40, label=f"$T_\\mathrm{{growth}}$ ({_DEG})")
    handles = [
        Line2D([], [], ls="--", color="0.45", lw=0.9, label="MSC family"),
        Patch(color="gold", alpha=0.45, label="detected"),
    ]
    flat[0].legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.8)
    when = ", ".join(f"{t:g}" for t in times)
    fig.suptitle(f"UV-Vis spectra by nucleation temperature (t = {when} s)")
    return fig


def _mark_families(ax: Axes, families: Sequence[int], detected: set[int]) -> None:
    from matplotlib.transforms import blended_transform_factory

    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for fam in families:
        hit = fam in detected
        if hit:
            span = ax.axvspan(fam - 5, fam + 5, color="gold", alpha=0.45, lw=0, zorder=0)
            span.set_gid(f"msc-detected-{fam}")
        line = ax.axvline(
            fam,
            ls="--",
            lw=1.1 if hit else 0.8,
            color="firebrick" if hit else "0.45",
            zorder=1,
        )
        line.set_gid(f"msc-line-{fam}")
        ax.text(
            fam + 2,
            0.98,
            str(fam),
            transform=trans,
            rotation=90,
            va="top",
            ha="left",
            fontsize=6.5,
            color="firebrick" if hit else "0.35",
            fontweight="bold" if hit else "normal",
        )


# --------------------------------------------------------------------------- Fig. 2


def saxs_figure(records: Sequence[ConditionRecord], *, cmap: str = "viridis") -> Figure:
    """SAXS size distributions and I(q) curves per nucleation temperature (like Fig. 2).

    Left: volume-weighted size distributions dφ/d ln R from the analysis runs at the
    fit's fine radius resolution (log radius axis), one curve per T_nuc, offset upwards
    with T_nuc; the magic radii 0.87, 0.94, 1.02 nm dotted; the main population's radius
    marked with a triangle and, where several populations were resolved, each with its
    volume share ± σ.
    Right: the measured I(q) on log-log axes, same colours.

    Parameters
    ----------
    records : sequence of ConditionRecord
        Records with a SAXS curve; one per T_nuc is drawn (the last measured).
    cmap : str
        Colour map over T_nuc.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If no record holds a SAXS curve.
    """
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    usable = latest_per(_require(records, "has_saxs", "a SAXS curve"), _t_nuc_key)
    temps = np.array([r.t_nuc for r in usable], dtype=float)
    norm = (
        Normalize(temps.min() - 0.5, temps.max() + 0.5)
        if np.ptp(temps) < 1
        else Normalize(temps.min(), temps.max())
    )
    colours = colormaps[cmap]
    fig = _new_figure(11.0, 4.8)
    ax_size, ax_iq = fig.subplots(1, 2)
    ax_size.set_gid("size-panel")
    ax_iq.set_gid("iq-panel")

    dists = [(r, r.size_distribution) for r in usable]
    dists = [(r, d) for r, d in dists if d is not None]
    if dists:
        densities = [_volume_density(radius, phi) for _, (radius, phi) in dists]
        step = 1.1 * max(float(np.nanmax(d)) for d in densities)
        step = step if step > 0 else 1.0
        r_max = 0.0
        for k, ((rec, (radius, _)), dens) in enumerate(zip(dists, densities, strict=True)):
            colour = colours(norm(rec.t_nuc))
            (line,) = ax_size.plot(radius, dens + k * step, color=colour, lw=1.2)
            line.set_gid("size-distribution")
            peak = _main_radius(rec, radius, dens)
            y_peak = float(np.interp(peak, radius, dens)) + k * step
            (mark,) = ax_size.plot([peak], [y_peak], "v", color=colour, ms=6, mec="k", mew=0.5)
            mark.set_gid("size-peak")
            _label_populations(ax_size, rec, radius, dens, k * step, step, colour)
            ax_size.text(
                0.99,
                k * step + 0.15 * step,
                f"{rec.t_nuc:g} {_DEG}",
                transform=ax_size.get_yaxis_transform(),
                ha="right",
                fontsize=7,
                color=colour,
            )
            top = np.nanmax(dens)
            significant = radius[dens > 0.02 * top] if top > 0 else radius
            r_max = max(r_max, float(significant.max()))
        r_lo = min(float(d[0].min()) for _, d in dists)
        r_hi = max(float(d[0].max()) for _, d in dists)
        ax_size.set_xscale("log")
        ax_size.set_xlim(max(r_lo, 0.5), min(r_hi, max(1.5 * r_max, 2.0)))
        ticks = [t for t in (0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0, 20.0, 50.0)
                 if ax_size.get_xlim()[0] <= t <= ax_size.get_xlim()[1]]
        ax_size.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax_size.set_xticks([], minor=True)
        for r_m in MAGIC_RADII_NM:
            guide = ax_size.axvline(r_m, color="0.55", lw=0.7, ls=":", zorder=0)
            guide.set_gid("magic-radius")
            ax_size.text(
                r_m, 1.0, f"{r_m:g}", transform=ax_size.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=6.5, color="0.35",
            )
        ax_size.set_yticks([])
    else:
        ax_size.text(
            0.5,
            0.5,
            "no size distributions in the store",
            ha="center",
            va="center",
            transform=ax_size.transAxes,
            color="0.4",
        )
    ax_size.set_xlabel("Radius (nm)")
    ax_size.set_ylabel("Volume-weighted d$\\phi$/d ln R (offset per $T_\\mathrm{nuc}$)")
    ax_size.set_title(
        "Size distributions (▼ main population; dotted: magic radii, nm)", fontsize=10, pad=12
    )

    for rec in usable:
        q = np.asarray(rec.q_per_nm, dtype=float)
        i = np.asarray(rec.intensity, dtype=float)
        ok = (q > 0) & (i > 0) & np.isfinite(i)
        (line,) = ax_iq.loglog(
            q[ok], i[ok], color=colours(norm(rec.t_nuc)), lw=1.0, label=f"{rec.t_nuc:g} {_DEG}"
        )
        line.set_gid("saxs-curve")
    ax_iq.set_xlabel(f"q ({_PER_NM})")
    ax_iq.set_ylabel("I(q) (cm$^{-1}$)")
    ax_iq.set_title("Scattering curves", fontsize=10)
    ax_iq.legend(title="$T_\\mathrm{nuc}$", fontsize=7, title_fontsize=8, ncols=2)
    fig.suptitle(f"SAXS by nucleation temperature ({_conditions_text(usable)})")
    return fig


def _t_nuc_key(rec: ConditionRecord) -> float:
    return temperature_key(rec.t_nuc)


def _volume_density(radius: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Volume fraction per bin → volume-weighted density dφ/d ln R (grid-independent)."""
    ln = np.log(radius)
    width = np.gradient(ln) if radius.size > 1 else np.ones(1)
    return np.where(width > 0, phi / width, 0.0)


def _label_populations(
    ax: Axes,
    rec: ConditionRecord,
    radius: np.ndarray,
    dens: np.ndarray,
    base: float,
    step: float,
    colour,
) -> None:
    """Mark each resolved population; list radius and volume share ± σ (%) by the curve."""
    pops = []
    for i in (1, 2, 3):
        r = rec.analysis.get(f"saxs_pop{i}_radius_nm")
        vf = rec.analysis.get(f"saxs_pop{i}_volume_fraction")
        if r is None or vf is None or not (np.isfinite(float(r)) and np.isfinite(float(vf))):
            continue
        sig = rec.analysis.get(f"saxs_pop{i}_volume_fraction_sigma")
        pops.append((float(r), float(vf), float(sig) if sig is not None else math.nan))
    total = sum(vf for _, vf, _ in pops)
    if len(pops) < 2 or total <= 0:
        return
    parts = []
    for r, vf, sig in sorted(pops):
        y = float(np.interp(r, radius, dens)) + base
        (dot,) = ax.plot([r], [y], "o", color=colour, ms=3.5, mec="k", mew=0.4)
        dot.set_gid("size-population")
        share = f"{100 * vf / total:.0f}"
        if np.isfinite(sig):
            share += f" ± {100 * sig / total:.0f}"
        parts.append(f"{r:.2f} nm {share} %")
    ax.text(
        0.01, base + 0.55 * step, " | ".join(parts), transform=ax.get_yaxis_transform(),
        ha="left", va="bottom", fontsize=6, color=colour,
    )


def _main_radius(rec: ConditionRecord, radius: np.ndarray, phi: np.ndarray) -> float:
    value = rec.analysis.get("saxs_pop1_radius_nm")
    if value is not None and np.isfinite(float(value)):
        return float(value)
    return float(radius[int(np.nanargmax(phi))])


def _conditions_text(records: Sequence[ConditionRecord]) -> str:
    growth = sorted({temperature_key(r.t_growth) for r in records})
    times = sorted({time_key(r.reaction_time) for r in records})
    g = f"{growth[0]:g} {_DEG}" if len(growth) == 1 else f"{growth[0]:g}–{growth[-1]:g} {_DEG}"
    return f"$T_\\mathrm{{growth}}$ = {g}, t = {', '.join(f'{t:g}' for t in times)} s"


# --------------------------------------------------------------------------- Fig. 3


def precursor_figure(
    records: Sequence[ConditionRecord], *, scale_step: float = 3.0, cmap: str = "plasma"
) -> Figure:
    """Precursor SAXS curves per temperature with the mesophase Bragg peaks (like Fig. 3).

    Parameters
    ----------
    records : sequence of ConditionRecord
        Precursor measurements with a SAXS curve; the temperature is ``t_nuc``. One
        curve per temperature (the last measured). Bragg peaks come from the analysis
        (``mesophase_q1_per_nm``, ``mesophase_q2_per_nm`` when ``mesophase_detected``).
    scale_step : float
        Curve k (k = 0 for the hottest) is multiplied by ``scale_step**k`` so curves do not
        overlap; 1 overlays them on the absolute scale.
    cmap : str
        Colour map over temperature (dark = cold).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If no record holds a SAXS curve.
    """
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D

    usable = latest_per(_require(records, "has_saxs", "a SAXS curve"), _t_nuc_key)
    temps = np.array([r.t_nuc for r in usable], dtype=float)
    span = max(float(np.ptp(temps)), 2.0)
    norm = Normalize(temps.min() - 1, temps.min() - 1 + 1.25 * span)  # stop before yellow
    colours = colormaps[cmap]
    fig = _new_figure(6.4, 5.2)
    ax = fig.subplots()
    ax.set_gid("precursor-panel")
    any_peak = False
    for k, rec in enumerate(usable[::-1]):
        q = np.asarray(rec.q_per_nm, dtype=float)
        i = np.asarray(rec.intensity, dtype=float) * float(scale_step) ** k
        ok = (q > 0) & (i > 0) & np.isfinite(i)
        colour = colours(norm(rec.t_nuc))
        peaks = [p for p in rec.bragg_peaks_q if q[ok].min() <= p <= q[ok].max()]
        label = f"{rec.t_nuc:g} {_DEG}" + (f" ×{scale_step**k:g}" if scale_step != 1 else "")
        d = rec.analysis.get("mesophase_d_spacing_nm")
        if peaks and d is not None and np.isfinite(float(d)):
            label += f" (d = {float(d):.2f} nm)"
        (line,) = ax.loglog(q[ok], i[ok], color=colour, lw=1.2, label=label)
        line.set_gid("precursor-curve")
        for p in peaks:
            any_peak = True
            y = float(np.exp(np.interp(np.log(p), np.log(q[ok]), np.log(i[ok]))))
            (mark,) = ax.plot([p], [1.6 * y], "v", color=colour, ms=7, mec="k", mew=0.5)
            mark.set_gid("bragg-peak")
            ax.annotate(
                f"{p:.2f}",
                (p, 1.6 * y),
                xytext=(0, 8),
                textcoords="offset points",
                ha="center",
                fontsize=7,
                color=colour,
            )
    handles = ax.get_legend_handles_labels()[0][::-1]
    if any_peak:
        handles.append(
            Line2D(
                [],
                [],
                ls="",
                marker="v",
                color="0.5",
                mec="k",
                label=f"Bragg peak (q in {_PER_NM})",
            )
        )
    ax.legend(handles=handles, title="Temperature", fontsize=8, title_fontsize=8,
              loc="upper left", bbox_to_anchor=(1.02, 1.0))
    ax.set_xlabel(f"q ({_PER_NM})")
    ax.set_ylabel("I(q) (cm$^{-1}$)" + (", scaled for clarity" if scale_step != 1 else ""))
    ax.set_title("Precursor mixture: SAXS and mesophase Bragg peaks")
    return fig


# --------------------------------------------------------------------------- phase map


def phase_map_figure(
    t_nuc: ArrayLike,
    t_growth: ArrayLike,
    reaction_time: ArrayLike,
    phase: Sequence[str],
    *,
    grid_reaction_time: float = 14.0,
    time_tolerance: float = 0.75,
) -> Figure:
    """Map of the phase (MSC / MSC+NC / NC / none) over temperature and reaction time.

    Left panel: temperature versus reaction time. It uses the conditions with
    T_nuc = T_growth (within 1 °C) when there are any, else every condition against
    T_nuc. Right panel (drawn when the data hold at least two growth temperatures at
    ``grid_reaction_time``): T_growth versus T_nuc at that reaction time. A cell shows
    the last point measured there.

    Parameters
    ----------
    t_nuc, t_growth, reaction_time : array_like
        Conditions (°C, °C, s), one entry per analysed measurement.
    phase : sequence of str
        Phase label per measurement, one of ``PHASES``.
    grid_reaction_time : float
        Reaction time (s) of the T_nuc × T_growth panel.
    time_tolerance : float
        How far (s) a reaction time may be from ``grid_reaction_time``.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the inputs are empty or of different lengths, or a phase label is unknown.
    """
    from matplotlib.patches import Patch

    tn = np.asarray(t_nuc, dtype=float)
    tg = np.asarray(t_growth, dtype=float)
    rt = np.asarray(reaction_time, dtype=float)
    labels = [str(p) for p in phase]
    if not (tn.shape == tg.shape == rt.shape == (len(labels),)) or not labels:
        raise ValueError(
            "t_nuc, t_growth, reaction_time and phase must be non-empty 1-D sequences of "
            f"equal length; got {tn.shape}, {tg.shape}, {rt.shape}, {len(labels)}"
        )
    unknown = sorted(set(labels) - set(PHASES))
    if unknown:
        raise ValueError(f"unknown phase label(s) {unknown}; allowed: {list(PHASES)}")
    codes = np.array([PHASES.index(p) for p in labels], dtype=float)

    same = np.abs(tn - tg) <= 1.0
    on_grid = np.abs(rt - grid_reaction_time) <= time_tolerance
    show_grid = len({temperature_key(v) for v in tg[on_grid]}) >= 2
    fig = _new_figure(11.0 if show_grid else 6.2, 4.8)
    axes = fig.subplots(1, 2 if show_grid else 1, squeeze=False)[0]

    ax = axes[0]
    ax.set_gid("phase-time-panel")
    if same.any():
        sel, ylabel = same, f"T = $T_\\mathrm{{nuc}}$ = $T_\\mathrm{{growth}}$ ({_DEG})"
    else:
        sel, ylabel = np.ones_like(same), f"$T_\\mathrm{{nuc}}$ ({_DEG})"
    mesh = _categorical_mesh(ax, rt[sel], tn[sel], codes[sel], time_key, temperature_key)
    mesh.set_gid("phase-map")
    ax.set_xlabel("Reaction time (s)")
    ax.set_ylabel(ylabel)
    ax.set_title("Phase versus temperature and reaction time", fontsize=10)

    if show_grid:
        ax2 = axes[1]
        ax2.set_gid("phase-grid-panel")
        mesh2 = _categorical_mesh(
            ax2, tn[on_grid], tg[on_grid], codes[on_grid], temperature_key, temperature_key
        )
        mesh2.set_gid("phase-grid-map")
        ax2.set_xlabel(f"$T_\\mathrm{{nuc}}$ ({_DEG})")
        ax2.set_ylabel(f"$T_\\mathrm{{growth}}$ ({_DEG})")
        ax2.set_title(f"Phase at t = {grid_reaction_time:g} s", fontsize=10)

    present = [p for p in PHASES if p in labels]
    handles = [Patch(facecolor=PHASE_COLOURS[p], edgecolor="0.3", label=p) for p in present]
    fig.legend(handles=handles, loc="outside right center", title="Phase", fontsize=9)
    fig.suptitle("MSC / NC phase map")
    return fig


def _edges(centres: np.ndarray) -> np.ndarray:
    if centres.size == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    mid = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - mid[0]], mid, [2 * centres[-1] - mid[-1]]])


def _categorical_mesh(ax: Axes, x, y, codes, xkey, ykey):
    """Draw codes on the grid of unique (x, y) values; later points overwrite earlier."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    xs = np.array(sorted({xkey(v) for v in x}))
    ys = np.array(sorted({ykey(v) for v in y}))
    grid = np.full((ys.size, xs.size), np.nan)
    for xv, yv, c in zip(x, y, codes, strict=True):
        grid[np.searchsorted(ys, ykey(yv)), np.searchsorted(xs, xkey(xv))] = c
    cmap = ListedColormap([PHASE_COLOURS[p] for p in PHASES])
    norm = BoundaryNorm(np.arange(len(PHASES) + 1) - 0.5, len(PHASES))
    mesh = ax.pcolormesh(
        _edges(xs),
        _edges(ys),
        np.ma.masked_invalid(grid),
        cmap=cmap,
        norm=norm,
        edgecolors="white",
        linewidth=0.6,
    )
    ax.plot(x, y, ".", color="k", ms=2.5, alpha=0.6)
    ax.set_xticks(xs if xs.size <= 12 else xs[:: math.ceil(xs.size / 12)])
    ax.set_yticks(ys if ys.size <= 12 else ys[:: math.ceil(ys.size / 12)])
    ax.tick_params(labelsize=8)
    return mesh
