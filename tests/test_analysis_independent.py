"""The spectrum fit on spectra made by independent code (tests/independent_spectra.py).

The generator shares no code with msc_bluesky; the analysis was never tuned on it. The
rates of the issue's goals that the fit does not reach yet are recorded as expected
failures (they turn into failures the day they pass, so the guard is then tightened);
the other tests guard what it does reach.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from independent_spectra import (
    FAMILY_POSITIONS_NM,
    HC_EV_NM,
    make_case,
    make_cases,
    nc_absorbance,
    yu_diameter,
)
from spectra_validation import robust_scatter, score

N_CASES = 300


@pytest.fixture(scope="module")
def scores():
    return score(make_cases(N_CASES, seed=2026))


def test_generator_shares_no_code_with_the_package():
    source = Path(__file__).with_name("independent_spectra.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"__future__", "dataclasses", "numpy"}


def test_generator_looks_like_real_cdse_spectra():
    # docs/science.md checks of its own sizing curve, and the shape of what it makes.
    assert yu_diameter(437.0) == pytest.approx(1.85, abs=0.01)
    assert yu_diameter(572.0) == pytest.approx(3.57, abs=0.01)
    rng = np.random.default_rng(5)
    lam = np.linspace(300.0, 700.0, 1000)
    for peak in (480.0, 560.0, 640.0):
        a = nc_absorbance(HC_EV_NM / lam, rng, peak, 0.1, 0.2)
        assert 3.0 * 0.2 <= np.interp(350.0, lam, a) <= 6.0 * 0.2 + 1e-9
        assert a[lam < peak - 15.0].max() > 1.2 * 0.2  # higher transitions are stronger
    seen_photometric = False
    for _ in range(40):
        case = make_case(rng, nc_probability=1.0, band_probability=0.0)
        assert 470.0 <= case.nc_peak_nm <= 660.0
        if case.noise_model == "photometric":
            seen_photometric = True
            high, low = case.sigma[np.argmax(case.clean)], case.sigma[np.argmin(case.clean)]
            assert high > low  # noise grows with absorbance
    assert seen_photometric
    bands = [b for c in make_cases(100, seed=9) for b in c.bands.values()]
    assert all(abs(b.centre_nm - FAMILY_POSITIONS_NM[b.family]) <= 2.0 for b in bands)
    assert all(0.04 <= b.fwhm_ev <= 0.08 and 0.01 <= b.height <= 0.1 for b in bands)
    assert {b.lorentzian for b in bands} == {True, False}
    assert HC_EV_NM == pytest.approx(1239.84, abs=0.01)


def test_reported_sigmas_and_centres(scores):
    # Every band carries its σ, significance and a centre within ±3 nm.
    case = next(c for c in make_cases(40, seed=3) if c.bands and c.nc_peak_nm)
    from msc_bluesky.analysis import uvvis

    fit = uvvis.fit_spectrum(case.wavelength_nm, case.absorbance)
    for fam, band in fit.msc.items():
        assert band.absorbance_sigma > 0
        if band.absorbance > 0:
            assert abs(band.centre_nm - uvvis.FAMILY_CENTRES_NM[fam]) <= 3.0 + 1e-9
            # σ adds the line-shape systematic to the statistical σ the z is made of
            assert band.significance >= band.absorbance / band.absorbance_sigma * (1 - 1e-12)
    assert fit.nc is not None
    assert 0 < fit.nc.peak_nm_sigma < 20
    assert 0 < fit.nc.diameter_nm_sigma < 1
    assert 0 < fit.nc.concentration_molar_sigma < fit.nc.concentration_molar
    keys = fit.to_dict()
    assert keys["nc_peak_nm_sigma"] == fit.nc.peak_nm_sigma
    assert keys["msc437_significance"] == fit.msc[437].significance


def test_guarded_rates(scores):
    # What the fit reaches today (see benchmarks/validate_analysis.py), with margin.
    assert scores.n_spectra == N_CASES
    assert scores.false_per_spectrum * 200 <= 8.0
    assert np.median(scores.nc_errors_nm) <= 0.5
    assert np.percentile(scores.nc_errors_nm, 95) <= 2.0
    assert scores.nc_missed <= 0.05 * (scores.nc_missed + len(scores.nc_errors_nm))
    assert scores.nc_false <= 0.02 * N_CASES
    assert 0.5 <= robust_scatter(scores.band_pulls) <= 3.0
    # every reported NC carries a finite, positive peak σ
    assert len(scores.nc_pulls) == len(scores.nc_errors_nm)


@pytest.mark.xfail(reason="issue 12 goal not reached yet: <= 2 % of bands >= 10 σ missed "
                   "(measured 27.4 % on these 300, 27.5 % on 1000)", strict=True)
def test_goal_deep_bands_found(scores):
    assert scores.deep_missed_rate <= 0.02


def test_goal_false_families(scores):
    assert scores.false_per_spectrum * 200 <= 1.0


def test_goal_nc_peak_median(scores):
    assert np.median(scores.nc_errors_nm) <= 1.0


def test_goal_nc_peak_max(scores):
    assert max(scores.nc_errors_nm) <= 3.0


def test_ncs_at_the_blue_limit_are_not_split_into_a_cdse467_band():
    # A first exciton at 470-482 nm overlaps the CdSe-467 position: before the band had
    # to beat an exciton moved onto it, it was split into a "band" at 466 nm and an
    # exciton 5-7 nm too red. The generator puts no band within 20 nm of the NC.
    from msc_bluesky.analysis import uvvis

    rng = np.random.default_rng(470)
    cases = [make_case(rng, nc_probability=1.0, nc_range_nm=(470.0, 482.0))
             for _ in range(60)]
    fits = [uvvis.fit_spectrum(c.wavelength_nm, c.absorbance) for c in cases]
    assert sum(f.msc[467].detected for f in fits) == 0
    errors = [abs(f.nc.peak_nm - c.nc_peak_nm) for f, c in zip(fits, cases, strict=True)
              if f.nc is not None]
    assert len(errors) >= 0.9 * len(cases)
    assert np.median(errors) <= 1.0


def test_goal_nc_sigma_coverage(scores):
    assert 0.5 <= robust_scatter(scores.nc_pulls) <= 2.0


def test_goal_band_sigma_coverage(scores):
    assert 0.5 <= robust_scatter(scores.band_pulls) <= 2.0
