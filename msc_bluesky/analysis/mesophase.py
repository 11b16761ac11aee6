"""Bragg peaks of the precursor mesophase (lamellar Cd-myristate stack).

Narrow peaks are separated from the smooth scattering (form factors, Guinier and Porod
regions, background) by a high-pass filter in ``log I``: the curve minus its running
median over ±``MEDIAN_HALF_WIDTH`` in ``ln q``. Peaks of that high-passed curve that
rise well above the point-to-point noise of ``ln I`` and are narrow are Bragg peaks. The stack is
called lamellar when one peak has a second order at twice its q (within 3 %); the
lamellar period is ``d = 2π / q1`` with q1 that first-order peak. Peaks within one
running-median half-width of either end of the q range are not considered.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.signal import find_peaks, peak_widths

from msc_bluesky.analysis._validate import as_curve
from msc_bluesky.analysis.results import Mesophase

#: Half-width of the running median in ln q (±8 % in q): wider than a Bragg peak,
#: narrower than a form-factor oscillation.
MEDIAN_HALF_WIDTH = 0.08

#: Half-width in ln q of the window for the local noise (wide enough that a Bragg peak
#: is a small part of it).
NOISE_HALF_WIDTH = 0.3

#: A Bragg peak must rise this many robust noise σ above the smooth curve ...
MIN_SIGNIFICANCE = 6.0
#: ... and at least this much in ln I (3 %).
MIN_RISE = 0.03

#: Largest full width at half maximum of a Bragg peak, in ln q (±3 % in q).
MAX_WIDTH_LN_Q = 0.06

#: Tolerance on q2 / q1 = 2 for a lamellar second order.
LAMELLAR_TOLERANCE = 0.03


def find_mesophase(q_per_nm: ArrayLike, intensity: ArrayLike) -> Mesophase:
    """Find Bragg peaks, the lamellar d-spacing and whether q2 = 2 q1.

    Parameters
    ----------
    q_per_nm : array_like
        Strictly increasing, positive scattering vectors (nm^-1); at least 20 points.
    intensity : array_like
        Intensity (any positive scale; cm^-1 for this instrument).

    Returns
    -------
    Mesophase
        ``.peaks_q_per_nm`` (ascending), ``.d_spacing_nm`` (``2π/q1``; None without
        peaks), ``.lamellar`` and ``.second_order_q_per_nm``.

    Raises
    ------
    ValueError
        On mismatched lengths, too few points, non-finite values, or a q axis that is
        not strictly increasing and positive.
    """
    q, y = as_curve(
        q_per_nm, intensity, x_name="q_per_nm", y_name="intensity", min_points=20,
        positive_x=True,
    )
    floor = max(float(np.max(np.abs(y))) * 1e-12, 1e-300)
    log_i = np.log(np.clip(y, floor, None))
    log_q = np.log(q)

    smooth = np.empty_like(log_i)
    lo = np.searchsorted(log_q, log_q - MEDIAN_HALF_WIDTH)
    hi = np.searchsorted(log_q, log_q + MEDIAN_HALF_WIDTH, side="right")
    for i in range(q.size):
        smooth[i] = np.median(log_i[lo[i] : hi[i]])
    high = log_i - smooth

    # Point-to-point noise of ln I from second differences (blind to smooth structure),
    # estimated locally: counting noise in ln I varies strongly along q.
    d2 = np.abs(np.diff(log_i, 2))
    d2 = np.concatenate([d2[:1], d2, d2[-1:]])
    nlo = np.searchsorted(log_q, log_q - NOISE_HALF_WIDTH)
    nhi = np.searchsorted(log_q, log_q + NOISE_HALF_WIDTH, side="right")
    noise = np.array([np.median(d2[nlo[i] : nhi[i]]) for i in range(q.size)])
    noise *= 1.0 / 0.6745 / np.sqrt(6.0)
    threshold = np.maximum(MIN_SIGNIFICANCE * noise, MIN_RISE)
    idx, _ = find_peaks(high, height=threshold)
    # Ignore the ends, where the running median is one-sided, and broad bumps
    # (form-factor oscillations): a Bragg peak is narrow in ln q.
    inside = (log_q[idx] >= log_q[0] + MEDIAN_HALF_WIDTH) & (
        log_q[idx] <= log_q[-1] - MEDIAN_HALF_WIDTH
    )
    idx = idx[inside & (idx >= 2) & (idx <= q.size - 3)]
    if idx.size:
        _, _, left, right = peak_widths(high, idx, rel_height=0.5)
        grid = np.arange(q.size)
        width_ln_q = np.interp(right, grid, log_q) - np.interp(left, grid, log_q)
        idx = idx[width_ln_q <= MAX_WIDTH_LN_Q]
    if idx.size == 0:
        return Mesophase.empty()

    peaks = np.sort(np.array([_refine(q, high, i) for i in idx]))
    # Lamellar: some peak has its second order at twice its q (not only the lowest
    # peak: a stray low-q feature must not hide the stack).
    q1, second = float(peaks[0]), None
    lamellar = False
    for first in peaks:
        doubles = np.abs(peaks / (2.0 * first) - 1.0) < LAMELLAR_TOLERANCE
        if doubles.any():
            q1, second, lamellar = float(first), float(peaks[doubles][0]), True
            break
    if not lamellar and peaks.size > 1:
        second = float(peaks[1])
    return Mesophase(
        peaks_q_per_nm=peaks,
        d_spacing_nm=float(2.0 * np.pi / q1),
        lamellar=lamellar,
        second_order_q_per_nm=second,
    )


def _refine(q: np.ndarray, y: np.ndarray, i: int) -> float:
    """Sub-grid peak position from a parabola through three points."""
    x0, x1, x2 = q[i - 1 : i + 2]
    y0, y1, y2 = y[i - 1 : i + 2]
    denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
    a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
    b = (x2**2 * (y0 - y1) + x1**2 * (y2 - y0) + x0**2 * (y1 - y2)) / denom
    if a >= 0:
        return float(q[i])
    return float(np.clip(-b / (2.0 * a), x0, x2))
