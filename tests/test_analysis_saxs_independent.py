"""SAXS inversion on curves from an independent generator (tests/independent_saxs.py).

The generator shares no code with the package: its own sphere form factor, Schulz and
log-normal distributions, flat + solvent background, q smearing, counting noise and
precursor Bragg peaks. Rates are asserted with some margin below what
benchmarks/validate_saxs.py measures on the full set.
"""

from __future__ import annotations

import statistics

import independent_saxs as gen
import numpy as np
import pytest

from msc_bluesky.analysis import saxs


@pytest.fixture(scope="module")
def scores() -> gen.Scores:
    return gen.evaluate(saxs.fit_size_distribution, gen.cases(seed=21, n_each=20))


def test_magic_size_pairs_are_resolved(scores):
    # 0.87/0.94 and 0.94/1.02 nm, shares 0.3-0.7, 1 % noise, q 0.05-8 nm^-1 (300 points)
    assert len(scores.pair_resolved) == 40
    assert sum(scores.pair_resolved) >= 0.85 * len(scores.pair_resolved)
    assert statistics.median(scores.pair_share_error) <= 0.08


def test_single_magic_size_is_not_split(scores):
    assert len(scores.single_not_split) == 20
    assert sum(scores.single_not_split) >= 19


def test_regular_nanocrystals_are_sized(scores):
    assert statistics.median(scores.nc_radius_error) <= 0.03
    assert statistics.median(scores.nc_fraction_error) <= 0.05
    assert statistics.median(scores.msc_fraction_error) <= 0.2


def test_fit_ok_false_on_bragg_peaks_true_on_particles(scores):
    assert len(scores.fit_ok_bragg) == 10 and not any(scores.fit_ok_bragg)
    assert sum(scores.fit_ok_good) >= 0.98 * len(scores.fit_ok_good)


@pytest.mark.parametrize("truth", gen.COVERAGE_TRUTHS, ids=lambda t: "+".join(
    f"{p.radius_nm:g}" for p in t))
def test_population_sigma_matches_scatter_over_repeated_noise(truth):
    ratios = gen.coverage(saxs.fit_size_distribution, truth, n=30, seed=11)  # robust scatter
    assert all(0.5 <= r <= 2.0 for r in ratios), ratios


def test_regularisation_grows_with_noise():
    truth = (gen.Population(2.5, 0.12, 1e-3),)
    chosen = []
    for noise in (0.003, 0.03):
        case = gen.particle_case(truth, np.random.default_rng(3), rel_noise=noise,
                                 flat=0.01, solvent=0.0, dq_rel=0.01)
        fit = saxs.fit_size_distribution(case.q, case.intensity, case.sigma)
        assert fit.chi2_reduced == pytest.approx(1.0, abs=0.3)
        chosen.append(fit.regularisation)
    assert chosen[1] > 10 * chosen[0]
    assert all(r < 10.0 ** saxs.LOG_ALPHA_RANGE[1] for r in chosen)


def test_free_form_merges_magic_pairs_and_short_q_range_uses_it():
    rng = np.random.default_rng(4)
    case = gen.magic_pair((0.87, 0.94), 0.5, rng)
    free = saxs.fit_size_distribution(case.q, case.intensity, case.sigma, magic_sizes=False)
    assert len([p for p in free.populations if p.radius_nm < 1.1]) == 1
    short = case.q <= 5.0  # the magic sizes cannot be told apart: templates are not used
    auto = saxs.fit_size_distribution(case.q[short], case.intensity[short], case.sigma[short])
    assert all(p.radius_nm not in saxs.MAGIC_RADII_NM for p in auto.populations)
    # only the total is reliable then (small spheres trade off against the background)
    assert auto.total_volume_fraction == pytest.approx(
        sum(p.volume_fraction for p in case.populations), rel=0.25
    )
