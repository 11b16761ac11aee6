"""Independent UV-Vis spectra of CdSe nanocrystals and magic-size clusters, with truth.

A validation generator that shares NO code with ``msc_bluesky`` (not the simulator, not
the analysis, not ``msc_bluesky.physics``): its sizing curve, line shapes, backgrounds
and noise are written here from the published descriptions of real spectra, so the
analysis is tested on spectra it was not built from.

- NC first exciton (1S3/2–1Se) at 470–660 nm, FWHM 0.07–0.15 eV, Gaussian or
  pseudo-Voigt in energy; a second transition 0.10–0.30 eV above it at 1.2–2× its height
  and 1.2–2× its width; a third 0.45–0.60 eV above at 2–3×, FWHM 0.15–0.30 eV; an
  interband continuum rising into the UV so that A(350 nm) is 3–6× the exciton's peak.
- MSC bands at the family positions ±2 nm (350, 381, 403, 437, 466 nm), absorbance
  0.01–0.1, FWHM 0.04–0.08 eV, Gaussian or Lorentzian in energy, often on a much larger
  NC absorbance. A band is placed only ≥ 20 nm blue of the NC exciton (a band on the
  exciton itself cannot be told from the exciton's own shape).
- Scattering ∝ λ^-n (n 1–4), a cell offset and a small tilt.
- Noise, either constant (σ 0.0005–0.003) or photometric: sample and reference counts
  S = R·T (T = 10^-A plus 0–0.1 % stray light) and R (3·10^4–10^6), each with shot noise
  and 0–30 counts of dark noise, so σ_A ≈ 0.434·sqrt(1/S + 1/R) grows with absorbance.

``make_cases(n, seed)`` gives ``n`` seeded, varied :class:`Case` objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

HC_EV_NM = 1239.84198

#: Family name -> where this generator puts its band centre (nm), before the ±2 nm shift.
FAMILY_POSITIONS_NM: dict[int, float] = {350: 350.0, 380: 381.0, 403: 403.0, 437: 437.0,
                                         467: 466.0}

_YU_COEFFS = (1.6122e-9, -2.6575e-6, 1.6242e-3, -0.4277, 41.57)


def yu_diameter(wavelength_nm: float) -> float:
    """Yu et al. (Chem. Mater. 2003) diameter (nm) of a first exciton at ``wavelength_nm``."""
    d = 0.0
    for c in _YU_COEFFS:
        d = d * wavelength_nm + c
    return d


def _gauss(e: np.ndarray, e0: float, fwhm: float) -> np.ndarray:
    return np.exp(-4.0 * np.log(2.0) * ((e - e0) / fwhm) ** 2)


def _lorentz(e: np.ndarray, e0: float, fwhm: float) -> np.ndarray:
    return 1.0 / (1.0 + (2.0 * (e - e0) / fwhm) ** 2)


def _pseudo_voigt(e: np.ndarray, e0: float, fwhm: float, eta: float) -> np.ndarray:
    return (1.0 - eta) * _gauss(e, e0, fwhm) + eta * _lorentz(e, e0, fwhm)


@dataclass
class Band:
    """One MSC band as generated."""

    family: int
    centre_nm: float
    height: float
    fwhm_ev: float
    lorentzian: bool

    def shape(self, energy: np.ndarray) -> np.ndarray:
        """Unit-height band on the photon-energy axis."""
        e0 = HC_EV_NM / self.centre_nm
        if self.lorentzian:
            return _lorentz(energy, e0, self.fwhm_ev)
        return _gauss(energy, e0, self.fwhm_ev)


@dataclass
class Case:
    """A spectrum and what is in it."""

    wavelength_nm: np.ndarray
    absorbance: np.ndarray
    clean: np.ndarray
    sigma: np.ndarray
    nc_peak_nm: float | None
    nc_height: float
    nc_fwhm_ev: float
    bands: dict[int, Band] = field(default_factory=dict)
    noise_model: str = "constant"

    def band_depth_sigma(self, family: int) -> float:
        """Band height over its matched-filter uncertainty under the true noise."""
        band = self.bands[family]
        g = band.shape(HC_EV_NM / self.wavelength_nm)
        return float(band.height * np.sqrt(np.sum((g / self.sigma) ** 2)))


def nc_absorbance(energy: np.ndarray, rng: np.random.Generator, peak_nm: float,
                   fwhm: float, height: float) -> np.ndarray:
    e1 = HC_EV_NM / peak_nm
    eta = 0.0 if rng.random() < 0.6 else rng.uniform(0.0, 0.3)
    off2 = rng.uniform(max(0.10, fwhm), 0.30)
    h2, w2 = height * rng.uniform(1.2, 2.0), fwhm * rng.uniform(1.2, 2.0)
    h3, off3, w3 = height * rng.uniform(2.0, 3.0), rng.uniform(0.45, 0.60), rng.uniform(0.15, 0.30)
    onset = e1 + rng.uniform(0.6, 0.8)

    def discrete(e: np.ndarray) -> np.ndarray:
        return (height * _pseudo_voigt(e, e1, fwhm, eta) + h2 * _gauss(e, e1 + off2, w2)
                + h3 * _gauss(e, e1 + off3, w3))

    def continuum(e: np.ndarray) -> np.ndarray:
        return (1.0 + np.maximum(e - onset, 0.0)) / (1.0 + np.exp(-(e - onset) / 0.08))

    # The interband continuum is scaled so that the NC absorbs 3–6x its exciton peak
    # at 350 nm (whether or not the grid reaches 350 nm).
    e350 = np.array([HC_EV_NM / 350.0])
    target = rng.uniform(3.0, 6.0) * height
    scale = max(target - float(discrete(e350)[0]), 0.0) / float(continuum(e350)[0])
    return discrete(energy) + scale * continuum(energy)


def _grid(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.8:
        return np.linspace(300.0, 700.0, 1000)
    lo, hi = rng.uniform(280.0, 320.0), rng.uniform(680.0, 800.0)
    return np.arange(lo, hi, rng.choice([0.25, 0.5, 0.8]))


def make_case(rng: np.random.Generator, *, nc_probability: float = 0.75,
              band_probability: float = 0.4,
              nc_range_nm: tuple[float, float] = (470.0, 660.0)) -> Case:
    """One random spectrum (see the module docstring for the ranges); ``nc_range_nm``
    narrows where the NC first exciton may lie."""
    lam = _grid(rng)
    energy = HC_EV_NM / lam
    clean = rng.uniform(-0.02, 0.04) + rng.uniform(-5e-5, 5e-5) * (lam - 500.0)
    clean = clean + rng.uniform(0.0, 0.12) * (400.0 / lam) ** rng.uniform(1.0, 4.0)
    nc_peak, nc_height, nc_fwhm = None, 0.0, float("nan")
    if rng.random() < nc_probability:
        nc_peak = float(rng.uniform(*nc_range_nm))
        nc_fwhm = float(rng.uniform(0.07, 0.15))
        nc_height = float(np.exp(rng.uniform(np.log(0.03), np.log(0.6))))
        clean = clean + nc_absorbance(energy, rng, nc_peak, nc_fwhm, nc_height)
    bands: dict[int, Band] = {}
    for fam, pos in FAMILY_POSITIONS_NM.items():
        if rng.random() >= band_probability:
            continue
        centre = pos + rng.uniform(-2.0, 2.0)
        if nc_peak is not None and centre > nc_peak - 20.0:
            continue
        if not lam[0] + 10.0 <= centre <= lam[-1] - 10.0:
            continue
        band = Band(fam, float(centre), float(np.exp(rng.uniform(np.log(0.01), np.log(0.1)))),
                    float(rng.uniform(0.04, 0.08)), bool(rng.random() < 0.5))
        bands[fam] = band
        clean = clean + band.height * band.shape(energy)

    if rng.random() < 0.5:
        level = rng.uniform(0.0005, 0.003)
        sigma = np.full(lam.size, level)
        measured = clean + rng.normal(0.0, 1.0, lam.size) * sigma
        model = "constant"
    else:
        ref = float(np.exp(rng.uniform(np.log(3e4), np.log(1e6))))
        stray = rng.uniform(0.0, 1e-3)
        dark = rng.uniform(0.0, 30.0)
        transmission = (10.0 ** -clean + stray) / (1.0 + stray)
        s_mean = ref * transmission
        s = s_mean + rng.normal(0.0, 1.0, lam.size) * np.sqrt(s_mean + dark**2)
        r = ref + rng.normal(0.0, 1.0, lam.size) * np.sqrt(ref + dark**2)
        measured = -np.log10(np.maximum(s, 1.0) / r)
        sigma = 0.4343 * np.sqrt((s_mean + dark**2) / s_mean**2 + (ref + dark**2) / ref**2)
        model = "photometric"
    return Case(lam, measured, clean, sigma, nc_peak, nc_height, nc_fwhm, bands, model)


def make_cases(n: int, seed: int = 2026) -> list[Case]:
    """``n`` seeded, varied spectra (the same for the same ``n`` and ``seed``)."""
    rng = np.random.default_rng(seed)
    return [make_case(rng) for _ in range(n)]
