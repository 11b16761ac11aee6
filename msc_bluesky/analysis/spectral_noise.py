"""Noise of an absorbance spectrum, estimated from the spectrum itself.

Photometric noise grows with absorbance: with sample counts ``S ∝ 10^-A`` and reference
counts ``R``, ``σ_A ≈ 0.434·sqrt(1/S + 1/R)``, which is ``a + b·10^A`` to first order
(``a`` from the reference, dark counts and read-out, ``b·10^A`` from the sample's shot
noise). :func:`noise_model` fits that form, with ``a, b ≥ 0``, to local estimates of the
scatter: point-to-point differences of the raw data (before any fit) or the residual of
a fit (after it, which also takes in local model mismatch).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

#: Points per window of a local scatter estimate.
WINDOW_POINTS = 24

#: Largest absorbance used in the 10^A term (keeps the model finite on saturated data).
MAX_ABSORBANCE = 5.0

#: Smallest σ (absorbance) ever returned: a numerical floor for noiseless input.
SIGMA_FLOOR = 1e-6

_MAD_TO_SIGMA = 1.4826


def _fit_model(level: np.ndarray, sigma: np.ndarray) -> tuple[float, float]:
    """NNLS fit of ``sigma ≈ a + b·10^level``, once more without windows far above it."""
    x = 10.0 ** np.clip(level, -1.0, MAX_ABSORBANCE)
    keep = np.isfinite(sigma) & (sigma > 0)
    if not keep.any():
        return SIGMA_FLOOR, 0.0
    coef = np.zeros(2)
    scale = sigma.copy()
    for _ in range(3):
        # weights from the previous prediction (not from the noisy estimates themselves,
        # which would bias the fit low); later passes drop windows on sharp features
        a = np.column_stack([np.ones(keep.sum()), x[keep]]) / scale[keep, None]
        coef, _ = nnls(a, sigma[keep] / scale[keep])
        pred = np.maximum(coef[0] + coef[1] * x, SIGMA_FLOOR)
        scale = pred
        keep = keep & (sigma <= 2.0 * pred)
        if keep.sum() < 2:
            break
    return max(float(coef[0]), SIGMA_FLOOR), float(coef[1])


def noise_model(absorbance: np.ndarray, scatter: np.ndarray | None = None,
                window: int = WINDOW_POINTS) -> tuple[float, float]:
    """Fit ``σ(A) = a + b·10^A`` to the local scatter of a spectrum.

    Parameters
    ----------
    absorbance : numpy.ndarray
        The spectrum (sets the absorbance level of each window).
    scatter : numpy.ndarray, optional
        Residuals of a fit. Without it, the scatter is taken from second differences
        of ``absorbance`` (robust: median absolute deviation per window), which smooth
        features barely affect.
    window : int
        Points per window.

    Returns
    -------
    (float, float)
        ``a`` and ``b``.
    """
    y = np.asarray(absorbance, dtype=float)
    if scatter is None:
        d2 = np.diff(y, 2) / np.sqrt(6.0)
        count = max(1, d2.size // window)
        parts = d2[: count * window].reshape(count, -1)
        centred = parts - np.median(parts, axis=1, keepdims=True)
        sigmas = _MAD_TO_SIGMA * np.median(np.abs(centred), axis=1)
        levels = np.median(y[1 : 1 + count * window].reshape(count, -1), axis=1)
    else:
        r = np.asarray(scatter, dtype=float)
        count = max(1, r.size // window)
        sigmas = np.sqrt(np.mean(r[: count * window].reshape(count, -1) ** 2, axis=1))
        levels = np.median(y[: count * window].reshape(count, -1), axis=1)
    return _fit_model(levels, sigmas)


def sigma_of(absorbance: np.ndarray, model: tuple[float, float]) -> np.ndarray:
    """σ at each absorbance for a fitted ``(a, b)``."""
    a, b = model
    level = np.clip(np.asarray(absorbance, dtype=float), -1.0, MAX_ABSORBANCE)
    return np.maximum(a + b * 10.0**level, SIGMA_FLOOR)


def local_misfit_factor(residual: np.ndarray, sigma: np.ndarray, window: int) -> np.ndarray:
    """How much larger than the noise the residual scatters nearby (≥ 1 at every point).

    ``sqrt`` of the running mean of ``(residual/σ)²`` over ``window`` points: where a
    model does not describe the data, its local mismatch counts as noise, so a narrow
    feature there must stand out of the mismatch, not only out of the photon noise.
    """
    z2 = (np.asarray(residual, dtype=float) / sigma) ** 2
    kernel = np.ones(max(1, int(window))) / max(1, int(window))
    mean = np.convolve(z2, kernel, mode="same")
    edge = np.convolve(np.ones_like(z2), kernel, mode="same")
    return np.sqrt(np.maximum(mean / edge, 1.0))
