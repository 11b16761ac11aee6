"""Helpers that read the paper's facts off simulated signals, as an instrument would.

Deliberately simple and independent of ``msc_bluesky.analysis``: a narrow band is
measured as the amplitude of a Gaussian of the MSC band width at its fixed wavelength,
fitted together with a smooth (quadratic) baseline over a window around it.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks

#: Half-width (nm) of the window in which a band and its baseline are fitted.
BAND_WINDOW_NM = 20.0
#: Width (σ, eV) of an MSC band: narrow, as reported for MSCs (FWHM ~0.05–0.09 eV).
BAND_SIGMA_EV = 0.03
HC_EV_NM = 1239.84193

#: The paper's Fig. 1 grid: nucleation temperatures and ten growth temperatures each.
GRID_T_NUC = tuple(range(260, 321, 10))
GRID_STEPS = 10
#: CdSe-437 persists at 14 s only for these nucleation temperatures (°C).
WINDOW = (270, 300)


def grid_conditions():
    """``(t_nuc, t_growth)`` of the Fig. 1 grid, T_growth from T_nuc down in 10 °C steps."""
    return [(tn, tn - 10 * k) for tn in GRID_T_NUC for k in range(GRID_STEPS)]


def band_depth(wavelength_nm, absorbance, center_nm: float) -> float:
    """Absorbance of a narrow band at ``center_nm`` above a smooth local baseline.

    Linear least squares over ``center ± BAND_WINDOW_NM`` of a quadratic baseline plus a
    Gaussian (σ = ``BAND_SIGMA_EV`` in photon energy) at the band's fixed position; the
    Gaussian's amplitude is returned (negative when the spectrum dips there).
    """
    wl = np.asarray(wavelength_nm, dtype=float)
    a = np.asarray(absorbance, dtype=float)
    sel = np.abs(wl - center_nm) <= BAND_WINDOW_NM
    x = (wl[sel] - center_nm) / BAND_WINDOW_NM
    energy = HC_EV_NM / wl[sel]
    band = np.exp(-0.5 * ((energy - HC_EV_NM / center_nm) / BAND_SIGMA_EV) ** 2)
    design = np.column_stack([np.ones_like(x), x, x * x, band])
    coef, *_ = np.linalg.lstsq(design, a[sel], rcond=None)
    return float(coef[-1])


def nc_peak_nm(wavelength_nm, absorbance, above_nm: float = 470.0) -> float:
    """Wavelength of the strongest local maximum redder than ``above_nm`` (the NC exciton).

    The spectrum is smoothed over ~5 nm first so that noise makes no maxima.
    """
    wl = np.asarray(wavelength_nm, dtype=float)
    step = float(np.median(np.diff(wl)))
    n = max(int(round(5.0 / step)), 1)
    smooth = np.convolve(np.asarray(absorbance, dtype=float), np.ones(n) / n, mode="same")
    peaks, _ = find_peaks(smooth, prominence=1e-3)
    peaks = [p for p in peaks if above_nm < wl[p] < wl[-1] - 5.0]
    if not peaks:
        return float("nan")
    return float(wl[max(peaks, key=lambda p: smooth[p])])


def sphere_curve(q_per_nm, radius_nm: float) -> np.ndarray:
    """Volume-weighted form factor ``V P(q, R)`` of one sphere radius (arbitrary units)."""
    q = np.asarray(q_per_nm, dtype=float)
    qr = q * radius_nm
    amp = 3.0 * (np.sin(qr) - qr * np.cos(qr)) / qr**3
    return radius_nm**3 * amp * amp


def sphere_fractions(q_per_nm, intensity, sigma, radii_nm) -> np.ndarray:
    """Non-negative amounts of spheres of the given radii (plus a flat background).

    Weighted non-negative least squares of ``I(q) = Σ a_i V_i P(q, R_i) + b``; returns
    the ``a_i`` (proportional to volume fractions).
    """
    from scipy.optimize import nnls

    q = np.asarray(q_per_nm, dtype=float)
    w = 1.0 / np.asarray(sigma, dtype=float)
    cols = [sphere_curve(q, r) for r in radii_nm] + [np.ones_like(q)]
    design = np.column_stack(cols) * w[:, None]
    scale = np.linalg.norm(design, axis=0)
    coef, _ = nnls(design / scale, np.asarray(intensity, dtype=float) * w)
    return (coef / scale)[:-1]


def best_sphere_radius(q_per_nm, intensity, sigma, radii_nm=None) -> float:
    """Radius (nm) of the single sphere population (plus background) that fits best."""
    radii = np.arange(0.6, 2.5, 0.01) if radii_nm is None else np.asarray(radii_nm)
    q = np.asarray(q_per_nm, dtype=float)
    y = np.asarray(intensity, dtype=float)
    w = 1.0 / np.asarray(sigma, dtype=float)
    best, best_chi2 = float("nan"), np.inf
    for r in radii:
        design = np.column_stack([sphere_curve(q, r), np.ones_like(q)]) * w[:, None]
        coef, *_ = np.linalg.lstsq(design, y * w, rcond=None)
        chi2 = float(np.sum((design @ coef - y * w) ** 2))
        if coef[0] > 0 and chi2 < best_chi2:
            best, best_chi2 = float(r), chi2
    return best


def bragg_peak_height(q_per_nm, intensity, q0: float) -> float:
    """Height of a peak at ``q0`` above a straight line through its flanks (cm^-1)."""
    q = np.asarray(q_per_nm, dtype=float)
    y = np.asarray(intensity, dtype=float)
    at = np.abs(q - q0) < 0.05
    flank = (np.abs(q - q0) > 0.3) & (np.abs(q - q0) < 0.6)
    line = np.polyfit(q[flank], y[flank], 1)
    return float(np.mean(y[at] - np.polyval(line, q[at])))


#: An NC's first exciton and its 2S3/2-1Se shoulder (+0.1-0.2 eV) span this much photon
#: energy above the exciton (eV); a narrow-band estimator cannot judge MSC families there.
NC_FEATURES_EV = 0.22


def judged_families(bands: dict, nc_peak: float) -> dict:
    """The band depths of the families that lie clear of the NC's own features."""
    if not np.isfinite(nc_peak):
        return dict(bands)
    e_nc = HC_EV_NM / nc_peak
    return {f: v for f, v in bands.items() if HC_EV_NM / f - e_nc > NC_FEATURES_EV}


def size_distribution_mode(q_per_nm, intensity, sigma) -> float:
    """Radius (nm) at the peak of the volume-weighted size distribution.

    Non-negative least squares over spheres of 0.70–1.60 nm (0.01 nm steps), smoothed over
    five steps: the peak a Monte Carlo size distribution (as in the paper) would show.
    """
    radii = np.arange(0.70, 1.605, 0.01)
    amounts = sphere_fractions(q_per_nm, intensity, sigma, radii)
    smooth = np.convolve(amounts, np.ones(5) / 5, mode="same")
    return float(radii[int(np.argmax(smooth))])
