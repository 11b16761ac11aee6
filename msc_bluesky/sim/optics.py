"""UV-Vis absorbance of a composition: fixed MSC bands, a moving NC exciton, background.

Built in photon energy ``E = 1239.84 / λ`` (eV). Every term is proportional to an
amount, so with ``rng=None`` the spectrum of a mixture is the weighted sum of spectra.

- MSC family F: a Gaussian band at its fixed wavelength, peak ``ε(d_F) c_F l`` (Yu ε,
  d_F from the sizing curve), σ = ``MSC_SIGMA_EV``; plus an interband continuum.
- NCs: first exciton at the Yu wavelength of the absorption-weighted diameter
  d̄ = 2 Σr³/Σr², peak ``ε(d̄) c l``, σ from the homogeneous width and the size
  distribution (``|dE/dd| σ_d``); a second and a third transition at higher energy;
  an interband continuum proportional to CdSe units.
- A Rayleigh-like scattering background ∝ NC units · d̄^3 · λ^-4.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from msc_bluesky.physics.sizing import MSC_FAMILIES_NM, extinction_coefficient, yu_diameter_nm
from msc_bluesky.sim.composition import FAMILY_UNITS, Composition

HC_EV_NM = 1239.84193
#: Gaussian σ (eV) of an MSC band (FWHM ≈ 9 nm at 403 nm).
MSC_SIGMA_EV = 0.03
#: Homogeneous Gaussian σ (eV) of an NC first exciton.
NC_HOMOGENEOUS_SIGMA_EV = 0.045
#: NC higher transitions: (energy above the first exciton in eV, relative height, σ in eV).
NC_HIGHER_TRANSITIONS = ((0.2, 0.3, 0.06), (0.5, 0.5, 0.12))
#: Interband continuum per mM of CdSe units at high energy (absorbance per cm).
CONTINUUM_PER_MM_CM = 0.3
#: Rayleigh background coefficient (absorbance per cm per mM of units per nm^3 of d^3).
SCATTER_PER_MM_NM3_CM = 1.2e-4

# Yu curve tabulated on a fine grid: wavelength of a diameter by interpolation.
_TABLE_NM = np.linspace(300.0, 720.0, 2101)
_TABLE_D = np.asarray(yu_diameter_nm(_TABLE_NM))


def _exciton_energy_ev(diameter_nm: float) -> float:
    lam = float(np.interp(diameter_nm, _TABLE_D, _TABLE_NM, left=300.0, right=720.0))
    return HC_EV_NM / lam


def _continuum(energy: np.ndarray, onset_ev: float) -> np.ndarray:
    x = (energy - onset_ev - 0.45) / 0.15
    return (1.0 + np.maximum(energy - onset_ev, 0.0)) / (1.0 + np.exp(-x))


def _gauss(energy: np.ndarray, center: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((energy - center) / sigma) ** 2)


def absorbance_spectrum(
    composition: Composition,
    wavelength_nm: ArrayLike,
    *,
    path_length_cm: float = 0.1,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Absorbance the spectrometer would report for ``composition``.

    Parameters
    ----------
    composition : Composition
        What the flow cell holds.
    wavelength_nm : array_like
        Wavelength axis (nm), e.g. :func:`msc_bluesky.sim.default_wavelength_nm`.
    path_length_cm : float
        Optical path of the flow cell (cm).
    rng : numpy.random.Generator, optional
        With a generator, photon noise is added by :func:`add_spectrum_noise`; with
        None the spectrum is noiseless and linear in the amounts.

    Returns
    -------
    numpy.ndarray
        Absorbance (base 10) on ``wavelength_nm``.
    """
    lam = np.asarray(wavelength_nm, dtype=float)
    energy = HC_EV_NM / lam
    per_cm = np.zeros_like(lam)
    for fam in MSC_FAMILIES_NM:
        units = composition.msc_units_mM[fam]
        if units <= 0:
            continue
        e_f = HC_EV_NM / fam
        molar = units / FAMILY_UNITS[fam] * 1e-3
        per_cm += (
            extinction_coefficient(yu_diameter_nm(fam)) * molar * _gauss(energy, e_f, MSC_SIGMA_EV)
        )
        per_cm += CONTINUUM_PER_MM_CM * units * _continuum(energy, e_f)
    n0 = composition.nc_number_mM
    if n0 > 1e-15:
        d = 2.0 * composition.nc_absorption_radius_nm
        e1 = _exciton_energy_ev(d)
        # |dE/dd| by a central difference of the tabulated Yu curve.
        slope = abs(_exciton_energy_ev(d + 0.01) - _exciton_energy_ev(d - 0.01)) / 0.02
        sigma = math.hypot(NC_HOMOGENEOUS_SIGMA_EV, slope * 2.0 * composition.nc_radius_sd_nm)
        peak = extinction_coefficient(d) * n0 * 1e-3
        per_cm += peak * _gauss(energy, e1, sigma)
        for shift, height, width in NC_HIGHER_TRANSITIONS:
            per_cm += peak * height * _gauss(energy, e1 + shift, math.hypot(width, sigma))
        units = composition.nc_units_mM
        per_cm += CONTINUUM_PER_MM_CM * units * _continuum(energy, e1)
        per_cm += SCATTER_PER_MM_NM3_CM * units * d**3 * (400.0 / lam) ** 4
    absorbance = per_cm * float(path_length_cm)
    if rng is not None:
        absorbance = add_spectrum_noise(absorbance, rng)
    return absorbance


def add_spectrum_noise(
    absorbance: ArrayLike, rng: np.random.Generator, *, noise_sd: float = 1e-3
) -> np.ndarray:
    """Add photon noise: Gaussian with σ = ``noise_sd`` · 10^(A/2).

    Less light reaches the detector where the sample absorbs, so the noise grows with
    absorbance (σ = 1e-3 at A = 0, 3.2e-3 at A = 1).

    Parameters
    ----------
    absorbance : array_like
        Noiseless absorbance.
    rng : numpy.random.Generator
        Source of the noise (the only one; the global RNG is never used).
    noise_sd : float
        Standard deviation at zero absorbance.

    Returns
    -------
    numpy.ndarray
        A new array with noise added.
    """
    a = np.asarray(absorbance, dtype=float)
    sigma = noise_sd * 10.0 ** (0.5 * np.clip(a, 0.0, 6.0))
    return a + rng.normal(0.0, 1.0, a.shape) * sigma
