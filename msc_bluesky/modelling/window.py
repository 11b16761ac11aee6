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


def window_sensitivity(
    absorbance_with: Callable[[Mapping[str, float], float], float],
    edges: Iterable[float],
    changes: Mapping[str, float],
    *,
    level: float = DETECTION_ABSORBANCE,
    dt_c: float = 1.0,
) -> dict[str, float]:
    """How far (°C) each parameter change moves an edge of a CdSe-437 window.

    Linearised at each edge: ``shift = −ΔA / (dA/dT)``, with ``ΔA`` the change of the
    band absorbance at the edge when one parameter changes.

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

    Returns
    -------
    dict
        Name -> the larger edge shift (°C, absolute).
    """
    edges = [float(e) for e in edges]
    slopes = {}
    for edge in edges:
        up = absorbance_with({}, edge + dt_c)
        down = absorbance_with({}, edge - dt_c)
        slopes[edge] = (up - down) / (2 * dt_c)
    out = {}
    for name, value in changes.items():
        shifts = []
        for edge in edges:
            delta = absorbance_with({name: value}, edge) - absorbance_with({}, edge)
            slope = slopes[edge]
            shifts.append(abs(delta / slope) if slope else math.inf)
        out[name] = max(shifts, default=0.0)
    return out
