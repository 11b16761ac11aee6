"""Columns of the SAXS inversion: free sphere grids, magic-size templates, background.

Every column is the absolute intensity (cm^-1) per unit volume fraction, or a background
shape. Magic-size templates are narrow Gaussian volume-weighted radius distributions
(relative width ``w``, chosen per template) at the paper's SAXS radii of the magic-size
clusters. The free grids cover
everything else: radii below the magic window (small clusters, complexes) and above it
(regular nanocrystals), log-spaced.

Pure numpy; the only physics used is the homogeneous-sphere form factor of
:mod:`msc_bluesky.physics.spheres`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from msc_bluesky.physics.spheres import sphere_form_factor, sphere_volume_nm3

#: SAXS radii (nm) of the magic-size clusters (paper's Fig. 2: 403, 437, 465 nm families).
MAGIC_RADII_NM = (0.87, 0.94, 1.02)

#: The free grids leave out this radius window: the magic templates cover it.
MAGIC_WINDOW_NM = (0.80, 1.10)

#: Magic templates are used only when q reaches this far (their first form-factor
#: minima lie at 4.4-5.2 nm^-1; with q up to 5 nm^-1 they cannot be told apart).
MAGIC_MIN_Q_MAX = 6.0

#: Largest radius (nm) the grids ever reach.
MAX_RADIUS_NM = 100.0

#: Spacing of the free grids in ln R (about 9 % per column) ...
FREE_LOG_STEP = 0.09

#: ... up to this radius (nm); coarser beyond.
COARSE_FROM_NM = 6.0

#: Spacing of the free grids in ln R above ``COARSE_FROM_NM`` (about 22 %).
COARSE_LOG_STEP = 0.2

_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(11)
_GH_W = _GH_W / _GH_W.sum()


def radius_range_nm(q: np.ndarray) -> tuple[float, float]:
    """``(π/q_max, min(π/q_min, 100 nm))``; raises if the q range is too narrow.

    The lower bound matters: smaller spheres are flat over the measured q range and
    would trade off against the flat background.
    """
    r_lo = np.pi / float(q.max())
    r_hi = min(np.pi / float(q.min()), MAX_RADIUS_NM)
    if r_hi <= r_lo * 1.5:
        raise ValueError(
            f"q range {q.min():g}–{q.max():g} nm^-1 is too narrow to resolve sizes; "
            "it must span at least a factor 1.5"
        )
    return r_lo, r_hi


def uses_magic_templates(q: np.ndarray) -> bool:
    """True when the q range reaches far enough to resolve the magic sizes."""
    r_lo, r_hi = radius_range_nm(q)
    return float(q.max()) >= MAGIC_MIN_Q_MAX and r_hi > MAGIC_WINDOW_NM[1] * 1.5


def free_segments(q: np.ndarray, magic: bool) -> list[np.ndarray]:
    """Radii of the free grids: one segment, or two around the magic window.

    Columns are :data:`FREE_LOG_STEP` apart up to :data:`COARSE_FROM_NM`, then
    :data:`COARSE_LOG_STEP` (large particles are rare here and need no fine sizing).
    """
    r_lo, r_hi = radius_range_nm(q)
    bounds = [(r_lo, MAGIC_WINDOW_NM[0]), (MAGIC_WINDOW_NM[1], r_hi)] if magic else [(r_lo, r_hi)]
    out = []
    for lo, hi in bounds:
        if hi <= lo * (1.0 + FREE_LOG_STEP):
            continue
        split = min(max(COARSE_FROM_NM, lo), hi)
        n_fine = max(int(np.ceil(np.log(split / lo) / FREE_LOG_STEP)) + 1, 3)
        radii = np.geomspace(lo, split, n_fine)
        if hi > split * (1.0 + COARSE_LOG_STEP):
            n_coarse = int(np.ceil(np.log(hi / split) / COARSE_LOG_STEP))
            radii = np.concatenate([radii, np.geomspace(split, hi, n_coarse + 1)[1:]])
        out.append(radii)
    return out


def sphere_columns(q: np.ndarray, radius: np.ndarray, contrast: float) -> np.ndarray:
    """Intensity (cm^-1) per unit volume fraction of monodisperse spheres, (len q, len R)."""
    return sphere_volume_nm3(radius) * contrast**2 * 1e7 * sphere_form_factor(
        q[:, None], radius[None, :]
    )


def template_nodes(radius: float, rel_width: float) -> tuple[np.ndarray, np.ndarray]:
    """Radii and volume weights (sum 1) of a Gaussian volume-weighted template."""
    r = radius * (1.0 + rel_width * _GH_X)
    return r, _GH_W


def magic_column(q: np.ndarray, radius: float, rel_width: float, contrast: float) -> np.ndarray:
    """Intensity per unit volume fraction of one magic-size template."""
    r, w = template_nodes(radius, rel_width)
    return sphere_columns(q, r, contrast) @ w


def background_columns(q: np.ndarray) -> np.ndarray:
    """Flat background and a slow rise ``(q/q_max)^2``, ``(q/q_max)^4`` (solvent)."""
    x = (q / q.max()) ** 2
    return np.stack([np.ones_like(q), x, x * x], axis=1)


def smoothness_rows(sizes: list[int], offsets: list[int], n_cols: int) -> np.ndarray:
    """Second differences within each free segment, taking zero beyond its ends.

    The zero padding penalises a spike at a segment's edge like one inside it, so the
    free grids do not pile up against the magic window or the grid limits.
    """
    rows = np.zeros((sum(sizes), n_cols))
    k = 0
    for n, off in zip(sizes, offsets, strict=True):
        for i in range(n):
            for j, c in ((i - 1, 1.0), (i, -2.0), (i + 1, 1.0)):
                if 0 <= j < n:
                    rows[k, off + j] = c
            k += 1
    return rows


def render_on_grid(
    grid: np.ndarray,
    segments: list[np.ndarray],
    seg_values: list[np.ndarray],
    magic_radii: np.ndarray,
    magic_widths: np.ndarray,
    magic_values: np.ndarray,
) -> np.ndarray:
    """Volume fraction per bin of the log-spaced output ``grid`` (sums are preserved).

    Free columns are spread by linear interpolation of their density in ln R; each
    magic template deposits its Gaussian volume distribution into the bins it covers.
    """
    ln = np.log(grid)
    step = float(np.mean(np.diff(ln)))
    edges = np.concatenate([[ln[0] - step / 2], (ln[1:] + ln[:-1]) / 2, [ln[-1] + step / 2]])
    out = np.zeros(grid.size)
    for radii, values in zip(segments, seg_values, strict=True):
        total = float(np.sum(values))
        if total == 0.0:
            continue
        lr = np.log(radii)
        seg_step = float(np.mean(np.diff(lr)))
        density = np.interp(ln, lr, values / seg_step, left=0.0, right=0.0)
        # bins inside the segment but between columns still get their share
        piece = density * np.diff(edges)
        s = float(piece.sum())
        if s > 0:
            out += piece * (total / s)
        else:
            out[int(np.argmin(np.abs(ln - lr[int(np.argmax(values))])))] += total
    for r_m, width, value in zip(magic_radii, magic_widths, magic_values, strict=True):
        if value == 0.0:
            continue
        z = (np.exp(edges) - r_m) / (width * r_m)
        share = np.diff(ndtr(z))
        if share.sum() <= 0:
            out[int(np.argmin(np.abs(grid - r_m)))] += value
        else:
            out += value * share / share.sum()
    return out
