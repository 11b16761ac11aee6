"""Synthetic spectra and SAXS curves with known truth, made independently of msc_bluesky.sim.

Plain Gaussian/Lorentzian bands in wavelength on a sloping background, an NC exciton
Gaussian with broad higher transitions, analytic sphere curves with Schulz polydispersity
and Gaussian Bragg peaks. Shared by the analysis tests and benchmarks/bench_analysis.py.
"""

from __future__ import annotations

import numpy as np

from msc_bluesky.physics.spheres import sphere_intensity_cm

HC = 1239.841984


def gaussian(x: np.ndarray, centre: float, fwhm: float) -> np.ndarray:
    s = fwhm / 2.354820045
    return np.exp(-0.5 * ((x - centre) / s) ** 2)


def lorentzian(x: np.ndarray, centre: float, fwhm: float) -> np.ndarray:
    return 1.0 / (1.0 + ((x - centre) / (fwhm / 2.0)) ** 2)


def spectrum(
    wavelength_nm: np.ndarray,
    *,
    msc: dict[float, float] | None = None,
    msc_fwhm_nm: float = 10.0,
    msc_shape: str = "gaussian",
    nc_peak_nm: float | None = None,
    nc_height: float = 0.3,
    nc_fwhm_nm: float | None = None,
    offset: float = 0.02,
    slope_per_nm: float = -8e-5,
    scattering: float = 0.03,
    noise: float = 0.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Absorbance: MSC bands {centre_nm: height}, an NC with higher transitions, background."""
    lam = np.asarray(wavelength_nm, dtype=float)
    a = offset + slope_per_nm * (lam - 500.0) + scattering * (350.0 / lam) ** 4
    shape = gaussian if msc_shape == "gaussian" else lorentzian
    for centre, height in (msc or {}).items():
        a = a + height * shape(lam, centre, msc_fwhm_nm)
    if nc_peak_nm is not None:
        fwhm = nc_fwhm_nm if nc_fwhm_nm is not None else 22.0 + 0.12 * (nc_peak_nm - 450.0)
        a = a + nc_height * gaussian(lam, nc_peak_nm, fwhm)
        e1 = HC / nc_peak_nm
        # Broad higher transitions 0.2 and 0.45 eV above the exciton, and a UV continuum.
        for de, rel, width in ((0.20, 0.5, 45.0), (0.45, 0.8, 55.0)):
            a = a + rel * nc_height * gaussian(lam, HC / (e1 + de), width)
        edge = HC / (e1 + 0.8)
        a = a + 1.5 * nc_height / (1.0 + np.exp((lam - edge) / 18.0))
    if noise > 0:
        gen = rng if rng is not None else np.random.default_rng(0)
        a = a + gen.normal(0.0, noise, lam.size)
    return a


def schulz_intensity(
    q: np.ndarray, radius_nm: float, rel_width: float, volume_fraction: float, n: int = 41
) -> np.ndarray:
    """Absolute intensity (cm^-1) of CdSe spheres with a Schulz radius distribution.

    ``volume_fraction`` is the total volume fraction; the distribution is in number.
    """
    z = 1.0 / rel_width**2 - 1.0
    r = np.linspace(max(radius_nm * (1 - 4 * rel_width), 0.05), radius_nm * (1 + 5 * rel_width), n)
    x = r / radius_nm
    log_number = z * np.log(x) - (z + 1.0) * x
    number = np.exp(log_number - log_number.max())  # no overflow for narrow widths
    vol_weight = number * r**3
    vol_weight /= vol_weight.sum()
    out = np.zeros_like(q)
    for ri, wi in zip(r, vol_weight, strict=True):
        out += sphere_intensity_cm(q, ri, volume_fraction * wi)
    return out


def saxs_curve(
    q: np.ndarray,
    populations: list[tuple[float, float, float]],
    background: float = 0.01,
) -> np.ndarray:
    """Sum of Schulz populations (radius nm, relative width, volume fraction) + flat background."""
    out = np.full_like(q, background)
    for radius, width, phi in populations:
        out += schulz_intensity(q, radius, width, phi)
    return out


def bragg_curve(q: np.ndarray, peaks: list[tuple[float, float]], fwhm: float = 0.08) -> np.ndarray:
    """Gaussian Bragg peaks (q, height) on a smooth decaying background (cm^-1)."""
    out = 0.05 + 0.4 / (1.0 + (q / 0.3) ** 2)
    for centre, height in peaks:
        out = out + height * gaussian(q, centre, fwhm)
    return out
