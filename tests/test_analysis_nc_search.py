"""The NC search: exact small NNLS against scipy's general one, the small solves, and
the refinement of further candidates when the first fit is stuck."""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.optimize import nnls

from msc_bluesky.analysis import nc_search, uvvis
from msc_bluesky.analysis.nc_search import small_nnls, solve_small


@pytest.mark.parametrize("seed", range(5))
def test_small_nnls_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    for _ in range(200):
        a = rng.normal(size=(60, 4))
        a[:, 1] += a[:, 0] * rng.uniform(0, 3)  # correlated columns, as exciton G and L
        y = rng.normal(size=60)
        ref, rnorm = nnls(a, y)
        for support in (None, rng.random(4) < 0.5, ref > 0, np.zeros(4, dtype=bool)):
            x = small_nnls(a, y, support)
            assert np.all(x >= 0)
            assert np.linalg.norm(y - a @ x) == pytest.approx(rnorm, rel=1e-9, abs=1e-12)


def test_small_nnls_all_negative_is_zero():
    a = np.eye(3)
    assert np.array_equal(small_nnls(a, -np.ones(3)), np.zeros(3))


def test_solve_small_matches_numpy_and_raises_on_singular():
    rng = np.random.default_rng(7)
    for k in (1, 2, 4, 6):
        a = rng.normal(size=(k, k)) + k * np.eye(k)
        b = rng.normal(size=k)
        np.testing.assert_allclose(solve_small(a, b), np.linalg.solve(a, b), rtol=1e-12)
        bm = rng.normal(size=(k, 3))
        np.testing.assert_allclose(solve_small(a, bm), np.linalg.solve(a, bm), rtol=1e-12)
    with pytest.raises(np.linalg.LinAlgError):
        solve_small(np.zeros((3, 3)), np.ones(3))


def test_smooth_block_limit_follows_the_reported_limit():
    assert uvvis.NC_MIN_PEAK_NM == nc_search.NC_MIN_PEAK_NM - 10.0


def _fake_refinements(monkeypatch, chi2_by_guess, screen_chi2=(100.0, 140.0, 200.0),
                      accept=None):
    """best_nc with a fake screen (the given χ² for guesses 0, 1, 2) and fake
    refinements of the given χ²; returns the guesses refined and the winner's."""
    refined = []
    screen = iter(np.sqrt(screen_chi2))
    monkeypatch.setattr(nc_search, "solve", lambda a, y: (np.zeros(1), next(screen)))
    monkeypatch.setattr(nc_search, "_start", lambda basis, y, w, g, coef: g)

    def fit(basis, y, w, start):
        refined.append(start[0])
        return (start, None, np.sqrt(chi2_by_guess[start[0]]), None)

    monkeypatch.setattr(nc_search, "fit_transitions", fit)
    basis = SimpleNamespace(matrix=lambda g: np.ones((3, 1)))
    best = nc_search.best_nc(basis, np.ones(3), np.ones(3), [(0, 0.05), (1, 0.05), (2, 0.05)],
                             accept=accept)
    return refined, best[0][0]


def test_adequate_first_refinement_is_not_repeated(monkeypatch):
    refined, best = _fake_refinements(monkeypatch, {0: 30.0, 1: 5.0, 2: 1.0})
    assert refined == [0]  # 30 < 0.9 × 100: not stuck, nothing else is refined
    assert best == 0


def test_stuck_refinement_refines_an_indistinct_runner_up(monkeypatch):
    refined, best = _fake_refinements(monkeypatch, {0: 95.0, 1: 40.0, 2: 1.0})
    assert refined == [0, 1]  # 95 ≥ 0.9 × 100: stuck; runner-up 140 ≤ 1.5 × 100
    assert best == 1  # the lower χ² wins


def test_stuck_refinement_ignores_a_clearly_worse_runner_up(monkeypatch):
    refined, best = _fake_refinements(monkeypatch, {0: 95.0, 1: 40.0, 2: 1.0},
                                      screen_chi2=(100.0, 400.0, 500.0))
    assert refined == [0]
    assert best == 0


def test_rejected_fit_refines_the_next_candidate(monkeypatch):
    accept = lambda fit: fit[0][0] != 0  # noqa: E731  (the best-screened one is no NC)
    refined, best = _fake_refinements(monkeypatch, {0: 10.0, 1: 40.0, 2: 1.0},
                                      screen_chi2=(100.0, 400.0, 500.0), accept=accept)
    assert refined == [0, 1]
    assert best == 1  # the accepted fit wins over the lower-χ² rejected one


def test_stuck_search_case_of_the_independent_generator():
    """Case 986 of seed 2026 (weak broad exciton at 475 nm, photometric noise): the
    best-screened candidate's fit sticks in a local minimum 3.9 nm blue; the stuck
    test refines the runner-up, which finds the exciton."""
    from independent_spectra import make_cases

    case = make_cases(987, seed=2026)[986]
    fit = uvvis.fit_spectrum(case.wavelength_nm, case.absorbance)
    assert fit.nc is not None
    err = fit.nc.peak_nm - case.nc_peak_nm
    assert abs(err) < 1.5
    assert abs(err) < 3.0 * fit.nc.peak_nm_sigma


def test_rejected_best_candidate_case_of_the_independent_generator():
    """Case 46 of seed 2026 (exciton at 572 nm): the best-screened candidate's fit is no
    acceptable NC; the next candidate is refined and finds the exciton (missed before)."""
    from independent_spectra import make_cases

    case = make_cases(47, seed=2026)[46]
    fit = uvvis.fit_spectrum(case.wavelength_nm, case.absorbance)
    assert fit.nc is not None
    assert abs(fit.nc.peak_nm - case.nc_peak_nm) < 1.0


def test_solve_3x3_matches_numpy():
    rng = np.random.default_rng(11)
    m = rng.normal(size=(50, 3, 3))
    a = m @ m.transpose(0, 2, 1) + 0.1 * np.eye(3)  # symmetric positive definite
    b = rng.normal(size=(50, 3))
    got = nc_search.solve_3x3(a[:, 0, 0], a[:, 0, 1], a[:, 0, 2], a[:, 1, 1], a[:, 1, 2],
                              a[:, 2, 2], b)
    np.testing.assert_allclose(got, np.linalg.solve(a, b[..., None])[..., 0], rtol=1e-8,
                               atol=1e-10)
