"""SAXS intensity I(q) of a composition: polydisperse spheres, precursor mesophase,
solvent background and counting noise.

``I(q) = Σ_pop φ Δρ² ⟨V² P(q,R)⟩ / ⟨V⟩ + I_mesophase(q) + I_solvent`` in cm^-1. Each
population (every MSC family at its SAXS radius, the NCs at their mean radius and
spread) is a Gaussian radius distribution integrated by Gauss–Hermite quadrature. With
``rng=None`` the curve is noiseless and linear in the amounts.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from msc_bluesky.physics.spheres import CDSE_CONTRAST_NM2, sphere_form_factor
from msc_bluesky.sim.composition import Composition

#: Flat solvent (octadecene) and cell background (cm^-1).
SOLVENT_BACKGROUND_CM = 0.02
#: Mesophase Bragg peaks: (q in nm^-1, height in cm^-1 at full strength, σ in nm^-1).
MESOPHASE_PEAKS = ((1.84, 0.25, 0.06), (3.69, 0.08, 0.08))
#: Low-q Cd-precursor signal: broad log-normal maximum (q in nm^-1, height cm^-1, ln-width).
PRECURSOR_LOW_Q = (0.25, 0.6, 0.5)
#: Precursor concentration (mM) at which the mesophase has the heights above.
MESOPHASE_REFERENCE_MM = 20.0
#: The mesophase is full at 25 °C and gone at this temperature (°C).
MESOPHASE_MELT_C = 100.0
#: Detected counts per second per cm^-1 per nm^-1 of q (annulus area grows with q).
DETECTOR_FLUX = 2.0e5

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(11)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def polydisperse_sphere_intensity(
    q_per_nm: np.ndarray, radius_nm: float, width_nm: float, volume_fraction: float
) -> np.ndarray:
    """Intensity (cm^-1) of dilute spheres with a Gaussian radius distribution.

    ``I(q) = φ Δρ² ⟨V² P(q, R)⟩ / ⟨V⟩ · 1e7`` (nm^-1 to cm^-1), number averages over
    ``R ~ N(radius_nm, width_nm)`` truncated at 0.05 nm, Δρ = ``CDSE_CONTRAST_NM2``.
    """
    r = np.maximum(radius_nm + width_nm * _NODES, 0.05)
    v = 4.0 / 3.0 * np.pi * r**3
    w = _WEIGHTS
    pq = sphere_form_factor(q_per_nm[:, None], r[None, :])
    return volume_fraction * CDSE_CONTRAST_NM2**2 * 1e7 * (pq @ (w * v * v)) / float(w @ v)


def mesophase_strength(temperature_c: float) -> float:
    """Relative mesophase strength: 1 at ≤ 25 °C, ~0.5 at 50 °C, 0 at ≥ 100 °C."""
    x = (MESOPHASE_MELT_C - float(temperature_c)) / (MESOPHASE_MELT_C - 25.0)
    return min(max(x, 0.0), 1.0) ** 1.5


def mesophase_intensity(
    q_per_nm: ArrayLike, precursor_mM: float, temperature_c: float
) -> np.ndarray:
    """Cd-precursor mesophase (cm^-1): lamellar Bragg peaks plus the low-q signal.

    Proportional to the unreacted precursor and faded by :func:`mesophase_strength`.
    """
    q = np.asarray(q_per_nm, dtype=float)
    scale = precursor_mM / MESOPHASE_REFERENCE_MM * mesophase_strength(temperature_c)
    out = np.zeros_like(q)
    if scale <= 0:
        return out
    for q0, height, sigma in MESOPHASE_PEAKS:
        out += height * np.exp(-0.5 * ((q - q0) / sigma) ** 2)
    q0, height, width = PRECURSOR_LOW_Q
    out += height * np.exp(-0.5 * (np.log(q / q0) / width) ** 2)
    return scale * out


def saxs_counting_noise(
    intensity: ArrayLike,
    q_per_nm: ArrayLike,
    exposure_s: float,
    rng: np.random.Generator | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson counting statistics of an azimuthally integrated curve.

    Expected counts per q bin are ``I · DETECTOR_FLUX · exposure_s · q``.

    Parameters
    ----------
    intensity : array_like
        Noiseless intensity (cm^-1), positive.
    q_per_nm : array_like
        Scattering vector (nm^-1).
    exposure_s : float
        Exposure time (s), finite and > 0.
    rng : numpy.random.Generator or None
        With None, the intensity is returned unchanged with its expected σ.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Intensity (noisy when ``rng`` is given) and its standard uncertainty (cm^-1).
    """
    exposure = float(exposure_s)
    if not (math.isfinite(exposure) and exposure > 0):
        raise ValueError(
            f"exposure_s = {exposure_s!r} is not allowed; it must be a finite time > 0 s"
        )
    i = np.asarray(intensity, dtype=float)
    scale = DETECTOR_FLUX * exposure * np.asarray(q_per_nm, dtype=float)
    expected = np.maximum(i, 0.0) * scale
    if rng is None:
        return i.copy(), np.sqrt(np.maximum(expected, 1.0)) / scale
    counts = rng.poisson(expected).astype(float)
    return counts / scale, np.sqrt(np.maximum(counts, 1.0)) / scale


def saxs_curve(
    composition: Composition,
    q_per_nm: ArrayLike,
    *,
    temperature_c: float,
    exposure_s: float = 1.0,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """I(q) and its uncertainty as the SAXS detector would report them.

    Parameters
    ----------
    composition : Composition
        What the flow cell holds.
    q_per_nm : array_like
        q axis (nm^-1), e.g. :func:`msc_bluesky.sim.default_q_per_nm`.
    temperature_c : float
        Flow-cell temperature (°C); sets the precursor mesophase strength.
    exposure_s : float
        Exposure time (s); sets the counting statistics.
    rng : numpy.random.Generator, optional
        With a generator, Poisson counting noise is added; with None the curve is
        noiseless (and linear in the amounts) and σ is the expected counting error.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Intensity and σ in cm^-1.
    """
    q = np.asarray(q_per_nm, dtype=float)
    intensity = np.full_like(q, SOLVENT_BACKGROUND_CM)
    for pop in composition.populations():
        intensity += polydisperse_sphere_intensity(
            q, pop.radius_nm, pop.width_nm, pop.volume_fraction
        )
    intensity += mesophase_intensity(q, composition.precursor_mM, temperature_c)
    return saxs_counting_noise(intensity, q, exposure_s, rng)
