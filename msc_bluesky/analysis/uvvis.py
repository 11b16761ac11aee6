"""UV-Vis spectrum fit: MSC bands tested against the spectrum's own noise, one NC.

Model (absorbance ``A`` against photon energy ``E = hc/λ``;
:mod:`~msc_bluesky.analysis.spectrum_model` builds the columns)::

    A = b0 + b1 (λ − λ_mid) + Σ_n s_n (λ_min/λ)^n                 offset, tilt, scattering
      + Σ_F MSC band of family F (Gaussian/Lorentzian in E)        narrow, near λ_F
      + h_G G(E; E1, s1) + h_L L(E; E1, s1)                        NC first exciton
      + Σ_k c_k G(E; E1 + o_k, σ_k),  o_k ≥ max(0.09 eV, 2 s1)     higher transitions,
                                                                   continuum (broad)

All amplitudes except ``b0, b1`` are non-negative and solved exactly by noise-weighted
non-negative least squares; ``(E1, s1)`` are refined by variable projection
(:mod:`~msc_bluesky.analysis.nc_search`), starting from the reddest broad hump and from
curvature maxima (a first exciton is often only a shoulder of stronger higher
transitions). The NC is the *lowest-energy* excitonic transition: nothing in the
model sits red of it, so a guess at a higher transition leaves the first exciton
unexplained.

The noise is estimated from the spectrum itself, ``σ(A) = a + b·10^A``
(:mod:`~msc_bluesky.analysis.spectral_noise`), raised where the residual scatters more
than that (local model mismatch counts as noise). Each MSC family is then tested by a
matched-filter scan (:mod:`~msc_bluesky.analysis.msc_detect`): single bands with the centre
free within ±3 nm of the family position and FWHM 0.04–0.09 eV, Gaussian or Lorentzian,
each made orthogonal to the fitted smooth model; the best gives the band's
``absorbance``, ``centre_nm``, ``absorbance_sigma`` and ``significance`` (its
likelihood-ratio z). A family is ``detected`` when the significance reaches
:data:`DETECTION_SIGMA`.
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
from numpy.typing import ArrayLike

from msc_bluesky.analysis import msc_detect, nc_search, spectral_noise
from msc_bluesky.analysis._validate import as_curve, positive_number
from msc_bluesky.analysis.msc_detect import DETECTION_SIGMA
from msc_bluesky.analysis.nc_search import NC_MIN_PEAK_NM
from msc_bluesky.analysis.results import MscBand, NcPeak, SpectrumFit
from msc_bluesky.analysis.spectrum_model import (
    FAMILY_CENTRES_NM,
    HC_EV_NM,
    NC_SIGMA_EV,
    Basis,
    basis_for,
)
from msc_bluesky.physics import sizing

try:  # small matrices: BLAS threads only cost time (far more on a loaded machine)
    from threadpoolctl import ThreadpoolController

    _THREADPOOLS: ThreadpoolController | None = ThreadpoolController()
except ImportError:  # pragma: no cover - optional
    _THREADPOOLS = None

__all__ = ["DETECTION_SIGMA", "FAMILY_CENTRES_NM", "NC_MIN_PEAK_NM", "fit_spectrum"]

#: Working resolution (nm): finer spectra are averaged in bins to about this step.
WORK_STEP_NM = 2.0

#: Window (nm) over which the residual's scatter is compared with the noise.
MISFIT_WINDOW_NM = 30.0

#: An NC is kept when its exciton is this many σ above zero and the fit with it
#: improves χ² by at least NC_MIN_CHI2_GAIN of the fit without it.
NC_MIN_SIGNIFICANCE = 8.0
NC_MIN_CHI2_GAIN = 0.19

#: Levenberg–Marquardt iterations of the NC refit with the bands where the scan put them.
REFIT_ITERATIONS = 6

_SIG_PER_FWHM = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
_NOMINAL = tuple(sorted(FAMILY_CENTRES_NM))


def _one_blas_thread():
    if _THREADPOOLS is None:
        return contextlib.nullcontext()
    return _THREADPOOLS.limit(limits=1, user_api="blas")


def fit_spectrum(
    wavelength_nm: ArrayLike, absorbance: ArrayLike, path_length_cm: float = 0.1
) -> SpectrumFit:
    """Fit MSC family bands and the NC first exciton in one absorbance spectrum.

    Parameters
    ----------
    wavelength_nm : array_like
        Strictly increasing wavelengths (nm); at least 50 points. Any instrument grid.
    absorbance : array_like
        Absorbance (base-10 optical density) at those wavelengths.
    path_length_cm : float, optional
        Optical path length of the flow cell (cm), for Beer–Lambert concentrations.

    Returns
    -------
    SpectrumFit
        ``.msc[F]`` for F in 350, 380, 403, 437, 467 (``.detected``, ``.absorbance``,
        ``.absorbance_sigma``, ``.centre_nm``, ``.significance``,
        ``.concentration_molar``); ``.nc`` (None when there is no NC peak, else peak,
        FWHM, Yu diameter, CdSe units, ε and particle concentration, with σ's);
        ``.extinction_model``; ``.r_squared``.

    Raises
    ------
    ValueError
        On mismatched lengths, fewer than 50 points, non-finite values, a wavelength
        axis that is not strictly increasing, or a non-positive path length.

    Notes
    -----
    MSC concentrations use the Yu diameter of the family's nominal wavelength and
    ``ε = 5857 d^2.65``; published MSC extinction models differ by up to ~20×, so
    compare MSC amounts by band absorbance first.
    """
    lam, y = as_curve(
        wavelength_nm, absorbance, x_name="wavelength_nm", y_name="absorbance", min_points=50
    )
    path = positive_number(path_length_cm, "path_length_cm")
    with _one_blas_thread():
        return _fit(lam, y, path)


def _fit(lam: np.ndarray, y: np.ndarray, path: float) -> SpectrumFit:
    step = float(np.median(np.diff(lam)))
    factor = max(1, int(round(WORK_STEP_NM / step)))
    basis = basis_for(lam, factor)
    y_b = basis.lam.size * factor
    y_w = y[:y_b].reshape(-1, factor).mean(axis=1) if factor > 1 else y
    # σ(A) = a + b·10^A from the data (noise grows where little light gets through).
    noise_model = spectral_noise.noise_model(y)
    sigma_w = spectral_noise.sigma_of(y_w, noise_model) / np.sqrt(factor)
    w = 1.0 / sigma_w

    a0 = basis.matrix(None)
    coef0, rnorm0 = nc_search.solve(a0 * w[:, None], y_w * w)
    nc_params, coef, a_used, jac = None, coef0, a0, None
    hump = nc_search.hump_guess(basis, y_w - a0 @ coef0, float(np.median(sigma_w)))
    guesses = [] if hump is None else [hump]
    guesses += [(e, nc_search.NC_GUESS_SIGMA_EV)
                for e in nc_search.curvature_candidates(basis, y_w, sigma_w)]
    best = nc_search.best_nc(basis, y_w * w, w, guesses)
    if best is not None:
        params, coef1, rnorm1, jac1 = best
        if _nc_accepted(basis, params, coef1, rnorm0, rnorm1, a_w=basis.matrix(params) * w[:, None]):
            nc_params, coef, a_used, jac = params, coef1, basis.matrix(params), jac1

    residual = y_w - a_used @ coef
    window = max(3, int(round(MISFIT_WINDOW_NM / float(np.median(np.diff(basis.lam))))))
    # The bands where the scan puts them (centre ±3 nm, width, shape), then refit.
    basis = basis.with_msc(msc_detect.choose_templates(basis, a_used, coef, residual, sigma_w))
    if nc_params is not None:
        p6, coef6, _, jac6 = nc_search.fit_transitions(basis, y_w * w, w, nc_params,
                                                       REFIT_ITERATIONS, search=False)
        nc_params, coef, jac = p6, coef6, jac6
        a_used = basis.matrix(nc_params)
    else:
        a_used = basis.matrix(None)
        coef, _ = nc_search.solve(a_used * w[:, None], y_w * w)
    residual = y_w - a_used @ coef
    window = max(3, int(round(MISFIT_WINDOW_NM / float(np.median(np.diff(basis.lam))))))
    sigma_eff = sigma_w * spectral_noise.local_misfit_factor(residual, sigma_w, window)
    msc = msc_detect.detect(basis, a_used, coef, residual, sigma_eff,
                           None if nc_params is None else nc_params[:2])
    chi2_with = float(np.sum((residual * w) ** 2))
    for fam, band in msc.items():
        if band.detected:
            msc[fam] = _likelihood_ratio(basis, fam, band, y_w, w, nc_params, chi2_with)
    msc = {fam: _with_concentration(band, path) for fam, band in msc.items()}

    nc = None
    if nc_params is not None:
        chi2_red = max(1.0, float(np.sum((residual / sigma_w) ** 2)) / max(
            residual.size - a_used.shape[1], 1))
        nc = _nc_peak(nc_params, _nc_height(basis, nc_params, y_w, coef), path,
                      _nc_sigmas(jac, a_used, coef, basis.n_fixed, sigma_eff, chi2_red))

    model = basis.matrix(nc_params) @ coef
    if factor > 1:
        model = np.interp(lam, basis.lam, model)
    ss_res = float(np.sum((y - model) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    return SpectrumFit(
        msc=msc, nc=nc, extinction_model=sizing.EXTINCTION_MODEL, r_squared=r2, model=model
    )


def _nc_accepted(basis: Basis, params: tuple[float, float], coef: np.ndarray,
                 rnorm0: float, rnorm1: float, a_w: np.ndarray) -> bool:
    """Is the refined NC a real first exciton (in range, broad enough, significant)?"""
    e1, s1 = params[:2]
    e_lo, e_hi = float(basis.energy[-1]), float(basis.energy[0])
    if not e_lo + s1 < e1 < min(e_hi, HC_EV_NM / NC_MIN_PEAK_NM):
        return False
    if s1 <= 1.02 * NC_SIGMA_EV[0]:
        return False
    k = basis.n_fixed
    exciton = a_w[:, k] * coef[k] + a_w[:, k + 1] * coef[k + 1]
    # the exciton's own χ² contribution (its depth in σ) and the gain of the NC block
    depth = float(np.sqrt(np.sum(exciton**2)))
    return depth >= NC_MIN_SIGNIFICANCE and rnorm1**2 < (1.0 - NC_MIN_CHI2_GAIN) * rnorm0**2


def _likelihood_ratio(basis: Basis, fam: int, band: MscBand, y_w: np.ndarray, w: np.ndarray,
                      nc_params, chi2_with: float) -> MscBand:
    """Confirm a detected band by refitting without it (the NC free to move too).

    The scan holds the smooth model's non-linear parameters fixed; here the NC
    transitions are refitted without the family's columns, and the band's significance
    is at most the likelihood-ratio z ``sqrt(χ²_without − χ²_with)`` (over the scan's
    null inflation, ``absorbance_sigma`` kept consistent).
    """
    own = np.flatnonzero(basis.msc_owner == fam)
    cols = basis.msc.copy()
    cols[:, own] = 0.0
    without = basis.with_msc(cols)
    if nc_params is None:
        _, rnorm = nc_search.solve(without.matrix(None) * w[:, None], y_w * w)
    else:
        _, _, rnorm, _ = nc_search.fit_transitions(without, y_w * w, w, nc_params,
                                                   REFIT_ITERATIONS, search=False)
    kappa = band.absorbance_sigma * band.significance / max(band.absorbance, 1e-300)
    z = float(np.sqrt(max(rnorm**2 - chi2_with, 0.0))) / max(kappa, 1.0)
    if z >= band.significance:
        return band
    sigma = band.absorbance / z if z > 0 else band.absorbance_sigma
    return dataclasses.replace(band, detected=bool(z >= DETECTION_SIGMA),
                               absorbance_sigma=float(sigma), significance=z)


def _with_concentration(band: MscBand, path: float) -> MscBand:
    if not np.isfinite(band.absorbance):
        return band
    d = sizing.yu_diameter_nm(FAMILY_CENTRES_NM[band.nominal_nm])
    conc = sizing.particle_concentration_molar(band.absorbance, d, path)
    return dataclasses.replace(band, concentration_molar=float(conc))


def _nc_sigmas(jac: np.ndarray | None, a: np.ndarray, coef: np.ndarray, exciton: int,
               sigma: np.ndarray, chi2_red: float) -> tuple[float, float]:
    """σ of the exciton energy (eV, variable-projection Jacobian on the weighted data)
    and of its amplitude (covariance of the active columns), both scaled by √χ²ᵣ."""
    scale = np.sqrt(chi2_red)
    e_sigma = np.nan
    if jac is not None:
        try:
            e_sigma = float(np.sqrt(max(np.linalg.inv(jac.T @ jac)[0, 0], 0.0))) * scale
        except np.linalg.LinAlgError:
            pass
    use = coef > 0
    use[:4] = (True, False, True, False)
    use[exciton] = True
    x = a[:, use] / sigma[:, None]
    gram = x.T @ x
    gram += 1e-12 * float(np.trace(gram)) * np.eye(gram.shape[0])
    k = int(np.cumsum(use)[exciton] - 1)
    h_sigma = float(np.sqrt(max(np.linalg.inv(gram)[k, k], 0.0))) * scale
    return e_sigma, h_sigma


def _nc_height(basis: Basis, params: tuple[float, float], y: np.ndarray,
               coef: np.ndarray) -> float:
    """NC absorbance at its first-exciton peak: what Yu et al.'s ε refers to.

    The measured absorbance at the peak above the fitted background and MSC bands, so a
    first exciton that is not exactly Gaussian is not under-counted, and the tails of the
    NC's own higher transitions count as NC absorbance, as they do in Yu et al.'s method.
    """
    n_bg_msc = basis.n_fixed
    rest = basis.fixed @ coef[:n_bg_msc]
    order = np.argsort(basis.energy)
    e = basis.energy[order]
    return float(np.interp(params[0], e, y[order]) - np.interp(params[0], e, rest[order]))



def _nc_peak(params: tuple[float, float], height: float, path: float,
             sigmas: tuple[float, float] = (np.nan, np.nan)) -> NcPeak:
    e_nc, s_nc = params[:2]
    half = s_nc / _SIG_PER_FWHM / 2.0
    peak = HC_EV_NM / e_nc
    fwhm = HC_EV_NM / (e_nc - half) - HC_EV_NM / (e_nc + half)
    d = float(sizing.yu_diameter_nm(peak))
    eps = float(sizing.extinction_coefficient(d))
    e_sigma, h_sigma = sigmas
    peak_sigma = HC_EV_NM / e_nc**2 * e_sigma
    slope = abs(float(sizing.yu_diameter_nm(peak + 0.5)) - float(sizing.yu_diameter_nm(peak - 0.5)))
    d_sigma = slope * peak_sigma
    conc = float(height) / (eps * path)
    rel = np.hypot(h_sigma / height if height > 0 else np.inf, 2.65 * d_sigma / d)
    return NcPeak(
        peak_nm_sigma=float(peak_sigma),
        diameter_nm_sigma=float(d_sigma),
        concentration_molar_sigma=float(abs(conc) * rel),
        peak_nm=float(peak),
        fwhm_nm=float(fwhm),
        absorbance=float(height),
        diameter_nm=d,
        units_per_particle=float(sizing.units_per_particle(d)),
        extinction_coefficient=eps,
        concentration_molar=float(height) / (eps * path),
    )
