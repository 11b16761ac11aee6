"""Where CdSe-437 persists: predicted from the model, and as measured.

CdSe-437 *persists* at a condition when its band absorbance reaches
:data:`~msc_bluesky.modelling.observables.DETECTION_ABSORBANCE`, the smallest band the
analysis calls a detected family. The window is read on the diagonal
T_growth = T_nuc, as the paper's Fig. 1 statement is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
from scipy.optimize import brentq

from msc_bluesky.modelling.observables import DETECTION_ABSORBANCE

#: T_nuc range (°C) scanned for the predicted window, and the scan step.
WINDOW_SCAN_C: tuple[float, float] = (150.0, 360.0)
WINDOW_STEP_C = 2.0


def persistence_segments(
    absorbance_at: Callable[[float], float],
    *,
    level: float = DETECTION_ABSORBANCE,
    t_range: tuple[float, float] = WINDOW_SCAN_C,
    step: float = WINDOW_STEP_C,
) -> list[tuple[float, float, float]]:
    """Every T_nuc interval where ``absorbance_at(T) >= level``.

    The range is scanned every ``step`` °C and each edge refined by root finding.

    Returns
    -------
    list of (low, high, peak)
        Edges (°C, to 0.1 °C) and the largest absorbance in the interval, low to high.
    """
    grid = np.arange(t_range[0], t_range[1] + 0.5 * step, step)
    grid[-1] = min(grid[-1], t_range[1])
    values = np.array([absorbance_at(float(t)) for t in grid])
    above = values >= level

    def edge(i: int) -> float:  # between grid[i] and grid[i + 1], where `above` flips
        try:
            return float(
                brentq(lambda t: absorbance_at(t) - level, grid[i], grid[i + 1], xtol=0.05)
            )
        except ValueError:
            return float(grid[i] if above[i] else grid[i + 1])

    segments = []
    i = 0
    while i < grid.size:
        if not above[i]:
            i += 1
            continue
        j = i
        while j + 1 < grid.size and above[j + 1]:
            j += 1
        low = edge(i - 1) if i > 0 else float(grid[0])
        high = edge(j) if j + 1 < grid.size else float(grid[-1])
        segments.append((round(low, 1), round(high, 1), float(values[i : j + 1].max())))
        i = j + 1
    return segments


def main_window(segments: list[tuple[float, float, float]]) -> list[float] | None:
    """The interval with the strongest band (``[low, high]``), None when there is none."""
    if not segments:
        return None
    low, high, _ = max(segments, key=lambda s: s[2])
    return [low, high]


def measured_msc437_window_c(
    rows: Iterable[Mapping[str, Any]],
    reaction_time: float,
    *,
    tolerance_s: float = 0.5,
    level: float = DETECTION_ABSORBANCE,
) -> list[float] | None:
    """Measured T_nuc window (°C) of CdSe-437 at ``reaction_time``, on the diagonal.

    A row counts when T_growth = T_nuc (within 1 °C), its reaction time is within
    ``tolerance_s`` and CdSe-437 was detected (``msc437_detected``, or, when the row has
    no such flag, ``msc437_absorbance >= level``).

    Returns
    -------
    list of two floats or None
        Lowest and highest such T_nuc (rounded to 1 °C); None when none counts.
    """
    found = []
    for r in rows:
        try:
            t, tn, tg = (float(r.get(k)) for k in ("reaction_time", "t_nuc", "t_growth"))
        except (TypeError, ValueError):
            continue
        if not all(math.isfinite(v) for v in (t, tn, tg)):
            continue
        if abs(t - reaction_time) > tolerance_s or abs(tn - tg) > 1.0:
            continue
        flag = r.get("msc437_detected")
        if flag is None or (isinstance(flag, float) and math.isnan(flag)):
            try:
                detected = float(r.get("msc437_absorbance")) >= level
            except (TypeError, ValueError):
                detected = False
        else:
            detected = bool(flag)
        if detected:
            found.append(round(tn))
    return [float(min(found)), float(max(found))] if found else None


#: Farthest (°C) :func:`window_sensitivity` looks for a moved edge.
MAX_EDGE_SHIFT_C = 60.0


def window_sensitivity(
    absorbance_with: Callable[[Mapping[str, float], float], float],
    edges: Iterable[float],
    changes: Mapping[str, float],
    *,
    level: float = DETECTION_ABSORBANCE,
    dt_c: float = 1.0,
    max_shift_c: float = MAX_EDGE_SHIFT_C,
) -> dict[str, float]:
    """How far (°C) each parameter change moves an edge of a CdSe-437 window.

    The moved edge is found again, not linearised: from each edge, the changed band
    absorbance is followed outwards in steps of ``dt_c`` to where it crosses ``level``,
    and that crossing is refined by root finding. (A linearised shift,
    ``−ΔA / (dA/dT)``, saturates at about one width of a step-like switch, whatever the
    change: the closed-shell switch of the twin is such a step.)

    Parameters
    ----------
    absorbance_with : callable
        ``absorbance_with(changes, t_nuc)``: the diagonal CdSe-437 absorbance at
        ``t_nuc`` with the parameters in ``changes`` replaced (``{}``: unchanged).
    edges : iterable of float
        Edges (°C) of the window at the unchanged parameters (leave out an edge that is
        only the end of the scanned range).
    changes : mapping
        Parameter name -> changed value.
    level : float
        Detection level of the band.
    dt_c : float
        Search step (°C).
    max_shift_c : float
        Farthest shift looked for; a farther one (or a vanished edge) is ``inf``.

    Returns
    -------
    dict
        Name -> the larger edge shift (°C, absolute).
    """
    edges = [float(e) for e in edges]

    def f(t: float, change: Mapping[str, float]) -> float:
        return absorbance_with(change, t) - level

    out = {}
    for name, value in changes.items():
        change = {name: value}
        shifts = []
        for edge in edges:
            f0 = f(edge, change)
            if f0 == 0.0:
                shifts.append(0.0)
                continue
            shift = math.inf
            offsets = np.arange(dt_c, max_shift_c + 0.5 * dt_c, dt_c)
            for d in offsets:
                for t0, t1 in ((edge, edge + d), (edge, edge - d)):
                    prev = t1 - math.copysign(dt_c, t1 - t0)
                    if np.sign(f(t1, change)) != np.sign(f0):
                        root = brentq(f, prev, t1, args=(change,), xtol=0.05)
                        shift = min(shift, abs(root - edge))
                if math.isfinite(shift):
                    break
            shifts.append(shift)
        out[name] = max(shifts, default=0.0)
    return out
