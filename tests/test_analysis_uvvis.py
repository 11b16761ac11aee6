"""UV-Vis fit on synthetic spectra with known truth (independent of msc_bluesky.sim)."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_synthetic import spectrum

from msc_bluesky.analysis import phase, uvvis
from msc_bluesky.physics import sizing

LAM = np.linspace(300.0, 700.0, 1000)
FAMILIES = (350, 380, 403, 437, 467)
MSC_SETS = [
    {},
    {437.0: 0.15},
    {403.0: 0.10, 437.0: 0.20, 467.0: 0.06},
    {350.0: 0.10, 382.0: 0.08},
]


def _family(centre: float) -> int:
    return min(FAMILIES, key=lambda f: abs(f - centre))


def _detected(fit) -> set[int]:
    return {f for f, band in fit.msc.items() if band.detected}


@pytest.mark.parametrize("noise", [0.0, 0.003])
@pytest.mark.parametrize("msc", MSC_SETS, ids=["none", "437", "403-437-467", "350-382"])
@pytest.mark.parametrize("nc_peak", [480.0, 500.0, 527.0, 550.0, 572.0, 600.0])
def test_nc_peak_and_msc_families(nc_peak, msc, noise):
    # NC higher transitions sit 0.2 and 0.45 eV above the exciton: for 480–527 nm they fall
    # on 403–445 nm, right on MSC wavelengths.
    y = spectrum(LAM, msc=msc, nc_peak_nm=nc_peak, noise=noise, rng=np.random.default_rng(7))
    fit = uvvis.fit_spectrum(LAM, y)
    assert fit.nc is not None
    assert fit.nc.peak_nm == pytest.approx(nc_peak, abs=2.0)
    assert _detected(fit) == {_family(c) for c in msc}
    assert fit.r_squared > 0.99


@pytest.mark.parametrize("shape", ["gaussian", "lorentzian"])
@pytest.mark.parametrize("noise", [0.0, 0.003])
@pytest.mark.parametrize("msc", MSC_SETS[1:], ids=["437", "403-437-467", "350-382"])
def test_msc_only_spectrum_reports_no_nc(msc, noise, shape):
    y = spectrum(LAM, msc=msc, msc_shape=shape, noise=noise, rng=np.random.default_rng(3))
    fit = uvvis.fit_spectrum(LAM, y)
    assert fit.nc is None
    assert _detected(fit) == {_family(c) for c in msc}
    assert phase.classify(fit) == "MSC"


def test_band_absorbance_and_concentration_of_gaussian_msc():
    y = spectrum(LAM, msc={437.0: 0.12}, nc_peak_nm=560.0, noise=0.001)
    fit = uvvis.fit_spectrum(LAM, y, path_length_cm=0.2)
    band = fit.msc[437]
    assert band.absorbance == pytest.approx(0.12, rel=0.1)
    eps = sizing.extinction_coefficient(sizing.yu_diameter_nm(437.0))
    assert band.concentration_molar == pytest.approx(band.absorbance / (eps * 0.2))
    assert fit.extinction_model == sizing.EXTINCTION_MODEL
    assert phase.classify(fit) == "MSC+NC"


def test_nc_size_and_concentration_follow_sizing_curve():
    y = spectrum(LAM, nc_peak_nm=572.0, nc_height=0.4, nc_fwhm_nm=36.0)
    fit = uvvis.fit_spectrum(LAM, y, path_length_cm=0.1)
    nc = fit.nc
    assert nc is not None
    assert nc.fwhm_nm == pytest.approx(36.0, rel=0.15)
    assert nc.diameter_nm == pytest.approx(sizing.yu_diameter_nm(nc.peak_nm))
    # docs/science.md: 572 nm -> 3.57 nm; ±2 nm in peak position is ±0.04 nm in diameter.
    assert nc.diameter_nm == pytest.approx(3.57, abs=0.05)
    assert nc.units_per_particle == pytest.approx(sizing.units_per_particle(nc.diameter_nm))
    assert nc.extinction_coefficient == pytest.approx(
        sizing.extinction_coefficient(nc.diameter_nm)
    )
    assert nc.absorbance == pytest.approx(0.4, rel=0.1)
    assert nc.concentration_molar == pytest.approx(
        nc.absorbance / (nc.extinction_coefficient * 0.1)
    )
    assert phase.classify(fit) == "NC"


def test_background_only_is_none():
    y = spectrum(LAM, noise=0.002, rng=np.random.default_rng(1))
    fit = uvvis.fit_spectrum(LAM, y)
    assert fit.nc is None
    assert not _detected(fit)
    assert phase.classify(fit) == "none"


def test_other_instrument_grid_and_descending_refused():
    lam = np.arange(250.0, 800.0, 0.5)
    y = spectrum(lam, msc={437.0: 0.1}, nc_peak_nm=527.0, noise=0.002)
    fit = uvvis.fit_spectrum(lam, y)
    assert fit.nc is not None and fit.nc.peak_nm == pytest.approx(527.0, abs=2.0)
    assert _detected(fit) == {437}
    with pytest.raises(ValueError, match="strictly increasing"):
        uvvis.fit_spectrum(lam[::-1], y[::-1])


def test_families_outside_the_measured_range_are_nan():
    lam = np.linspace(420.0, 700.0, 500)
    fit = uvvis.fit_spectrum(lam, spectrum(lam, nc_peak_nm=550.0))
    assert not fit.msc[350].detected and np.isnan(fit.msc[350].absorbance)
    assert fit.nc is not None


@pytest.mark.parametrize(
    "lam, y, match",
    [
        (LAM, np.zeros(999), "lengths must match"),
        (LAM[:10], np.zeros(10), "at least 50"),
        (LAM, np.where(LAM > 500, np.nan, 0.1), "non-finite"),
        (np.r_[LAM[:500], LAM[499:998]], np.zeros(999 + 0), "strictly increasing"),
    ],
)
def test_bad_input_is_refused(lam, y, match):
    with pytest.raises(ValueError, match=match):
        uvvis.fit_spectrum(lam, y)


def test_bad_path_length_is_refused():
    with pytest.raises(ValueError, match="path_length_cm"):
        uvvis.fit_spectrum(LAM, spectrum(LAM), path_length_cm=0.0)


def _resolved_transition(lam: np.ndarray, centre_nm: float, fwhm_ev: float) -> np.ndarray:
    """A Gaussian in energy: how a resolved NC higher transition looks."""
    e = 1239.841984 / lam
    e0 = 1239.841984 / centre_nm
    return np.exp(-0.5 * ((e - e0) / (fwhm_ev / 2.3548)) ** 2)


@pytest.mark.parametrize("band", [0.0, 0.03])
@pytest.mark.parametrize("noise", [0.0, 0.002])
def test_resolved_higher_transition_on_437_is_not_an_msc_band(band, noise):
    # An NC at 572 nm whose resolved higher transition (FWHM 0.19 eV, ~30 nm) sits
    # exactly on the CdSe-437 position, with and without a weak real 437 band on top.
    y = spectrum(LAM, nc_peak_nm=572.0, nc_height=0.5, noise=noise,
                 rng=np.random.default_rng(11))
    y = y + 0.15 * _resolved_transition(LAM, 437.0, 0.19)
    if band:
        y = y + band * np.exp(-0.5 * ((LAM - 437.0) / (8.0 / 2.3548)) ** 2)
    fit = uvvis.fit_spectrum(LAM, y)
    assert fit.nc is not None and fit.nc.peak_nm == pytest.approx(572.0, abs=2.0)
    assert fit.msc[437].detected is bool(band)
    if band:
        # sharing the peak of a resolved transition, the amount is only good to ±50 %
        assert fit.msc[437].absorbance == pytest.approx(band, rel=0.5)


@pytest.mark.parametrize("peak", [505.0, 515.0, 530.0])
def test_narrow_nc_ensemble_is_still_an_nc(peak):
    # FWHM 21 nm at 515 nm is ~0.1 eV: as narrow as real CdSe ensembles get, still
    # three times an MSC band's width.
    y = spectrum(LAM, nc_peak_nm=peak, nc_height=0.3, nc_fwhm_nm=21.0, noise=0.002,
                 rng=np.random.default_rng(5))
    fit = uvvis.fit_spectrum(LAM, y)
    assert fit.nc is not None
    assert fit.nc.peak_nm == pytest.approx(peak, abs=2.0)
    assert not any(b.detected for b in fit.msc.values())


def _resolved_nc(lam: np.ndarray, peak_nm: float, rng: np.random.Generator) -> np.ndarray:
    """An NC whose higher transitions are stronger than its first exciton (in energy)."""
    e = 1239.841984 / lam
    e1 = 1239.841984 / peak_nm
    s1 = 0.09 / 2.3548
    y = 0.02 + 0.03 * (350.0 / lam) ** 4
    for offset, height, sigma in ((0.0, 0.20, s1), (0.22, 0.36, 1.5 * s1), (0.55, 0.55, 0.09)):
        y = y + height * np.exp(-0.5 * ((e - e1 - offset) / sigma) ** 2)
    y = y + 0.5 / (1.0 + np.exp(-(e - e1 - 0.75) / 0.08))
    return y + rng.normal(0.0, 0.001, lam.size)


@pytest.mark.parametrize("peak", [480.0, 560.0, 640.0])
def test_first_exciton_under_stronger_higher_transitions(peak):
    # second transition 1.8x, third 2.75x the exciton's height: the exciton is the
    # lowest-energy transition, not the strongest.
    y = _resolved_nc(LAM, peak, np.random.default_rng(1))
    fit = uvvis.fit_spectrum(LAM, y)
    assert fit.nc is not None
    assert fit.nc.peak_nm == pytest.approx(peak, abs=1.0)
    assert 0 < fit.nc.peak_nm_sigma < 2.0


def test_nc_model_option():
    y = spectrum(LAM, msc={437.0: 0.15}, nc_peak_nm=527.0, noise=0.002,
                 rng=np.random.default_rng(2))
    transitions = uvvis.fit_spectrum(LAM, y)
    smooth = uvvis.fit_spectrum(LAM, y, nc_model="smooth")
    assert transitions.nc is not None and smooth.nc is not None
    assert _detected(transitions) == _detected(smooth) == {437}
    with pytest.raises(ValueError, match="nc_model must be one of transitions, smooth"):
        uvvis.fit_spectrum(LAM, y, nc_model="lmfit")


@pytest.mark.parametrize("shape", ["gaussian", "lorentzian"])
def test_band_sigma_covers_the_unknown_line_shape(shape):
    # Beside an NC a band's height depends on its line shape, which the fit does not
    # know: at low noise that bias is many statistical σ (pulls +4 and −14 with σ from
    # the detection z alone); the line-shape term must cover it at 3σ, while the
    # significance stays the detection z (smaller σ).
    y = spectrum(LAM, msc={437.0: 0.05}, msc_shape=shape, nc_peak_nm=560.0, noise=0.0005,
                 rng=np.random.default_rng(4))
    band = uvvis.fit_spectrum(LAM, y).msc[437]
    assert band.detected
    assert band.absorbance_sigma > 1.5 * band.absorbance / band.significance
    assert abs(band.absorbance - 0.05) <= 3.0 * band.absorbance_sigma
