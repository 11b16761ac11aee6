"""The campaign's findings, from the stored analysis results (never the simulator)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from msc_bluesky.analysis import phase as phase_rule

#: Reaction time (s) of the paper's Fig. 1 grid, where the CdSe-437 window is read.
WINDOW_REACTION_TIME_S = 14.0


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def summarize(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Condense analysis results into the campaign summary.

    Parameters
    ----------
    rows : iterable of mapping
        One per measured condition, with at least ``t_nuc``, ``t_growth``,
        ``reaction_time``, ``phase``, ``msc437_detected``, ``nc_peak_nm`` and
        ``nc_diameter_nm`` (the analysis run's fields); ``plan_name`` if known; the
        ``saxs_pop{i}_radius_nm`` / ``saxs_pop{i}_volume_fraction``, ``saxs_fit_ok``
        and ``mesophase_lamellar`` fields when SAXS was measured.

    Returns
    -------
    dict
        ``conditions``: one entry per condition with ``t_nuc``, ``t_growth``,
        ``reaction_time``, ``phase`` and ``phase_source`` (as the live analysis
        decided them; for rows stored without ``phase_source``, by the same rule,
        :func:`msc_bluesky.analysis.phase.decide`), ``nc_peak_nm``, ``nc_diameter_nm`` (UV-Vis;
        twice the largest SAXS radius without a spectrum), ``saxs_radius_nm`` (the
        dominant SAXS population; None when the SAXS fit does not describe the curve,
        ``saxs_fit_ok`` False), ``mesophase`` (lamellar precursor peaks) and
        ``msc437_detected``; ``msc437_window_c``: ``[low, high]`` nucleation
        temperatures (°C) where CdSe-437 is found at 14 s with T_growth = T_nuc
        (``None`` if it is never found).
    """
    conditions = []
    for r in rows:
        radii = [_finite(r.get(f"saxs_pop{i}_radius_nm")) for i in (1, 2, 3)]
        shares = [_finite(r.get(f"saxs_pop{i}_volume_fraction")) for i in (1, 2, 3)]
        pops = [(a, v) for a, v in zip(radii, shares, strict=True) if a is not None and v]
        if not _fit_ok(r):  # a fit that does not describe the curve sizes nothing
            pops = []
        diameter = _finite(r.get("nc_diameter_nm"))
        phase, source = _phase(r)
        if source == "saxs":
            nc_radii = [a for a, _ in pops if a > phase_rule.MSC_MAX_RADIUS_NM]
            diameter = 2.0 * max(nc_radii) if nc_radii else None
        conditions.append(
            {
                "plan_name": r.get("plan_name"),
                "t_nuc": _finite(r.get("t_nuc")),
                "t_growth": _finite(r.get("t_growth")),
                "reaction_time": _finite(r.get("reaction_time")),
                "phase": phase,
                "phase_source": source,
                "nc_peak_nm": _finite(r.get("nc_peak_nm")),
                "nc_diameter_nm": diameter,
                "saxs_radius_nm": max(pops, key=lambda p: p[1])[0] if pops else None,
                "mesophase": bool(r.get("mesophase_lamellar") or False),
                "msc437_detected": bool(r.get("msc437_detected") or False),
            }
        )
    return {"conditions": conditions, "msc437_window_c": msc437_window(conditions)}


def _phase(row: Mapping[str, Any]) -> tuple[str, str]:
    """(phase, source) of a stored row: as the live analysis decided it (``phase_source``
    stored, ``""`` for "unknown"), else — rows stored before it was — by the same rule of
    analysis.phase."""
    stored = str(row.get("phase") or phase_rule.UNKNOWN)
    if isinstance(row.get("phase_source"), str):
        return stored, row["phase_source"]
    return phase_rule.decide(spectrum=stored, sizes=row)


def _fit_ok(row: Mapping[str, Any]) -> bool:
    """Whether the row's SAXS fit describes its curve (rows stored without it: True)."""
    value = row.get("saxs_fit_ok")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return bool(value)


def msc437_window(
    conditions: Iterable[Mapping[str, Any]],
    reaction_time: float = WINDOW_REACTION_TIME_S,
    tolerance_s: float = 0.5,
) -> list[float] | None:
    """Nucleation-temperature window (°C) in which CdSe-437 persists at ``reaction_time``.

    Uses the conditions with T_growth = T_nuc (within 1 °C) at that reaction time, as
    the paper's Fig. 1 does for its window statement.
    """
    found = []
    for c in conditions:
        t, tn, tg = c.get("reaction_time"), c.get("t_nuc"), c.get("t_growth")
        if None in (t, tn, tg) or abs(t - reaction_time) > tolerance_s or abs(tn - tg) > 1.0:
            continue
        if c.get("msc437_detected"):
            found.append(round(float(tn)))
    if not found:
        return None
    return [float(min(found)), float(max(found))]


def format_summary(summary: Mapping[str, Any]) -> str:
    """Human-readable table of the summary, one line per condition."""
    lines = [
        f"{'T_nuc':>6} {'T_growth':>8} {'t (s)':>6}  {'phase':<12} {'NC peak':>8} {'NC d':>6}"
        f" {'SAXS R':>7}  notes",
        f"{'(°C)':>6} {'(°C)':>8} {'':>6}  {'':<12} {'(nm)':>8} {'(nm)':>6} {'(nm)':>7}",
    ]
    for c in summary["conditions"]:
        phase = c["phase"] + (" (SAXS)" if c.get("phase_source") == "saxs" else "")
        notes = ", ".join(
            n for n, on in (("CdSe-437", c["msc437_detected"]), ("mesophase", c.get("mesophase")))
            if on
        )
        lines.append(
            f"{_fmt(c['t_nuc']):>6} {_fmt(c['t_growth']):>8} {_fmt(c['reaction_time'], 1):>6}"
            f"  {phase:<12} {_fmt(c['nc_peak_nm']):>8} {_fmt(c['nc_diameter_nm'], 2):>6}"
            f" {_fmt(c.get('saxs_radius_nm'), 2):>7}  {notes}"
        )
    window = summary.get("msc437_window_c")
    lines.append("")
    lines.append(
        "CdSe-437 persists at 14 s for T_nuc = T_growth in "
        + (f"{window[0]:.0f}–{window[1]:.0f} °C" if window else "no measured condition")
        + " (paper: 270–300 °C)"
    )
    return "\n".join(lines)


def _fmt(v: float | None, digits: int = 0) -> str:
    return "—" if v is None else f"{v:.{digits}f}"
