"""SAXS size distribution by regularised non-negative least squares over a sphere basis.

Model (intensity in cm^-1, ``q`` in nm^-1)::

    I(q) = Σ_j φ_j V_j Δρ² P(q, R_j) · 1e7 + B

with homogeneous-sphere form factors ``P`` (:mod:`msc_bluesky.physics.spheres`) on a
log-spaced radius grid ``R_j`` from ``π / q_max`` to ``π / q_min`` (at most 100 nm), a
flat background ``B`` as one more non-negative column, and ``Δρ`` the CdSe contrast
(:data:`msc_bluesky.physics.spheres.CDSE_CONTRAST_NM2`). Because the intensity is absolute
(cm^-1) and the contrast is CdSe's, the fitted ``φ_j`` are absolute volume fractions.
Dilute, non-interacting spheres are assumed (no structure factor).

The weighted problem ``min ‖(K φ − I)/σ‖² + α ‖D φ‖²`` (``D``: second differences
across the grid, a smoothness prior) is solved by NNLS for a few ``α``; the largest
``α`` whose χ² stays within the statistical spread of the least-regularised fit is kept.
Deterministic, a few milliseconds: fast enough for every curve.

:func:`find_mesophase` (Bragg peaks of the precursor mesophase) is re-exported here from
:mod:`msc_bluesky.analysis.mesophase`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import nnls

from msc_bluesky.analysis._validate import as_curve, as_sigma, positive_number
from msc_bluesky.analysis.mesophase import find_mesophase
from msc_bluesky.analysis.results import DEFAULT_N_RADII, Population, SizeDistribution
from msc_bluesky.physics.spheres import CDSE_CONTRAST_NM2, sphere_form_factor, sphere_volume_nm3

__all__ = ["fit_size_distribution", "find_mesophase", "radius_grid_nm"]

#: Largest radius (nm) the grid ever reaches.
MAX_RADIUS_NM = 100.0

#: Regularisation strengths tried, relative to ‖K‖² / ‖D‖².
ALPHAS = (1e-9, 1e-7, 1e-5, 1e-3)

#: A population's volume fraction must exceed this many times its uncertainty.
MIN_SIGNIFICANCE = 3.0

#: A population must hold at least this fraction of the total volume fraction.
MIN_POPULATION_FRACTION = 0.02


def radius_grid_nm(q_per_nm: ArrayLike, n_radii: int = DEFAULT_N_RADII) -> np.ndarray:
    """Log-spaced radius grid ``π/q_max … min(π/q_min, 100 nm)`` for a q range.

    The lower bound ``π / q_max`` matters: smaller spheres are flat over the measured q
    range and would trade off against the flat background.
    """
    q = np.asarray(q_per_nm, dtype=float)
    r_lo = np.pi / float(q.max())
    r_hi = min(np.pi / float(q.min()), MAX_RADIUS_NM)
    if r_hi <= r_lo * 1.5:
        raise ValueError(
            f"q range {q.min():g}–{q.max():g} nm^-1 is too narrow to resolve sizes; "
            "it must span at least a factor 1.5"
        )
    return np.geomspace(r_lo, r_hi, int(n_radii))


def fit_size_distribution(
    q_per_nm: ArrayLike,
    intensity: ArrayLike,
    sigma: ArrayLike,
    *,
    n_radii: int = DEFAULT_N_RADII,
    contrast_nm2: float = CDSE_CONTRAST_NM2,
) -> SizeDistribution:
    """Volume-fraction size distribution of spheres from one absolute SAXS curve.

    Parameters
    ----------
    q_per_nm : array_like
        Strictly increasing, positive scattering vectors (nm^-1); at least 20 points.
    intensity : array_like
        Absolute intensity (cm^-1).
    sigma : array_like or float
        1σ uncertainty of the intensity (cm^-1), positive.
    n_radii : int, optional
        Number of radii in the grid (the length of the output arrays).
    contrast_nm2 : float, optional
        Scattering-length-density contrast (nm^-2); CdSe in octadecene by default.

    Returns
    -------
    SizeDistribution
        ``.radius_nm``, ``.volume_fraction``, ``.volume_fraction_sigma``, ``.background``
        and ``.populations`` (volume-weighted mean radius, width = standard deviation,
        volume fraction; largest first).

    Raises
    ------
    ValueError
        On mismatched lengths, too few points, non-finite values, a q axis that is not
        strictly increasing and positive, or non-positive ``sigma``.
    """
    q, y = as_curve(
        q_per_nm, intensity, x_name="q_per_nm", y_name="intensity", min_points=20,
        positive_x=True,
    )
    s = as_sigma(sigma, q.size)
    contrast = positive_number(contrast_nm2, "contrast_nm2")
    if int(n_radii) < 5:
        raise ValueError(f"n_radii must be at least 5, got {n_radii}")
    radius = radius_grid_nm(q, n_radii)

    kernel = _kernel(q, radius, contrast)
    design = np.hstack([kernel, np.ones((q.size, 1))]) / s[:, None]
    target = y / s
    scale = 1.0 / np.linalg.norm(design, axis=0)  # column scaling for conditioning
    a = design * scale

    n = radius.size
    diff2 = np.zeros((n - 2, n + 1))
    for i in range(n - 2):
        diff2[i, i : i + 3] = (1.0, -2.0, 1.0)
    d = diff2 * scale
    ref = np.linalg.norm(a) ** 2 / max(np.linalg.norm(d) ** 2, 1e-300)

    def solve(rel: float) -> tuple[float, np.ndarray, float]:
        alpha = rel * ref
        aug = np.vstack([a, np.sqrt(alpha) * d])
        rhs = np.concatenate([target, np.zeros(d.shape[0])])
        coef, _ = nnls(aug, rhs, maxiter=50 * aug.shape[1])
        return alpha, coef, float(np.sum((a @ coef - target) ** 2))

    # Least regularised fit first; then the strongest α whose χ² stays within the spread.
    alpha, coef, chi2 = solve(ALPHAS[0])
    dof = max(q.size - 1, 1)
    allowed = chi2 + max(2.0 * np.sqrt(2.0 * dof), 0.05 * chi2)
    for rel in reversed(ALPHAS[1:]):
        trial = solve(rel)
        if trial[2] <= allowed:
            alpha, coef, chi2 = trial
            break

    x = coef * scale
    phi, background = x[:n], float(x[n])

    # Tikhonov covariance (sandwich), in scaled units, then unscaled.
    ata = a.T @ a
    m = ata + alpha * d.T @ d
    m += np.eye(m.shape[0]) * 1e-12 * np.trace(m) / m.shape[0]
    half = np.linalg.solve(m, ata)
    cov = np.linalg.solve(m, half.T)
    chi2_red = chi2 / dof
    sig = np.sqrt(np.clip(np.diag(cov), 0.0, None)) * scale * np.sqrt(max(chi2_red, 1.0))

    model = (design @ x) * s
    return SizeDistribution(
        radius_nm=radius,
        volume_fraction=phi,
        volume_fraction_sigma=sig[:n],
        background=background,
        populations=_populations(radius, phi, sig[:n]),
        chi2_reduced=chi2_red,
        model=model,
    )


_KERNEL_CACHE: dict[tuple[bytes, bytes, float], np.ndarray] = {}


def _kernel(q: np.ndarray, radius: np.ndarray, contrast: float) -> np.ndarray:
    """Intensity (cm^-1) per unit volume fraction for each radius; cached per q grid."""
    key = (q.tobytes(), radius.tobytes(), contrast)
    kernel = _KERNEL_CACHE.get(key)
    if kernel is None:
        if len(_KERNEL_CACHE) >= 8:
            _KERNEL_CACHE.pop(next(iter(_KERNEL_CACHE)))
        kernel = sphere_volume_nm3(radius) * contrast**2 * 1e7 * sphere_form_factor(
            q[:, None], radius[None, :]
        )
        _KERNEL_CACHE[key] = kernel
    return kernel


def _populations(radius: np.ndarray, phi: np.ndarray, sigma: np.ndarray) -> list[Population]:
    """Split the distribution into peaks (at zeros and deep minima) and take moments.

    A population must hold ``MIN_POPULATION_FRACTION`` of the total and be significant:
    its volume fraction above ``MIN_SIGNIFICANCE`` times its uncertainty.
    """
    total = float(phi.sum())
    if total <= 0:
        return []
    present = phi > 1e-3 * phi.max()
    segments: list[tuple[int, int]] = []
    start = None
    for i, on in enumerate(present):
        if on and start is None:
            start = i
        if not on and start is not None:
            segments.append((start, i))
            start = None
    if start is not None:
        segments.append((start, phi.size))

    pieces: list[tuple[int, int]] = []
    for lo, hi in segments:
        cut = lo
        for i in range(lo + 1, hi - 1):
            left, right = phi[cut:i].max(), phi[i + 1 : hi].max()
            if phi[i] < phi[i - 1] and phi[i] <= phi[i + 1] and phi[i] < 0.5 * min(left, right):
                pieces.append((cut, i))
                cut = i
        pieces.append((cut, hi))

    pops = []
    for lo, hi in pieces:
        w = phi[lo:hi]
        vf = float(w.sum())
        vf_sigma = float(np.sqrt(np.sum(sigma[lo:hi] ** 2)))
        if vf < MIN_POPULATION_FRACTION * total or vf < MIN_SIGNIFICANCE * vf_sigma:
            continue
        mean = float(np.sum(w * radius[lo:hi]) / vf)
        width = float(np.sqrt(np.sum(w * (radius[lo:hi] - mean) ** 2) / vf))
        pops.append(Population(radius_nm=mean, width_nm=width, volume_fraction=vf))
    return sorted(pops, key=lambda p: p.volume_fraction, reverse=True)
