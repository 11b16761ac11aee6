"""SAXS size distribution and mesophase peaks on analytic curves (independent of sim)."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_synthetic import bragg_curve, saxs_curve
from independent_saxs import Population as TruePopulation

from msc_bluesky.analysis import saxs

Q = np.geomspace(0.05, 8.0, 300)


def _by_radius(fit):
    return sorted(fit.populations, key=lambda p: p.radius_nm)


@pytest.mark.parametrize("phi_small, phi_large", [(1e-3, 1e-3), (2e-3, 5e-4), (5e-4, 2e-3)])
def test_two_populations_volume_fractions_and_background(phi_small, phi_large):
    # A magic-size cluster (narrow, 3 %) beside regular NCs (10 %).
    truth = [TruePopulation(0.94, 0.03, phi_small), TruePopulation(2.0, 0.10, phi_large)]
    intensity = 0.012 + sum(p.intensity(Q) for p in truth)
    fit = saxs.fit_size_distribution(Q, intensity, 0.01 * intensity)
    small, large = _by_radius(fit)
    assert small.volume_fraction == pytest.approx(phi_small, rel=0.10)
    assert large.volume_fraction == pytest.approx(phi_large, rel=0.10)
    # Volume-weighted mean radii: a little above the number means for 10 % width.
    assert small.radius_nm == pytest.approx(0.94, rel=0.08)
    assert large.radius_nm == pytest.approx(2.0, rel=0.08)
    assert fit.background == pytest.approx(0.012, rel=0.05)
    assert fit.total_volume_fraction == pytest.approx(phi_small + phi_large, rel=0.05)
    assert fit.radius_nm[0] == pytest.approx(np.pi / Q[-1])


def test_noisy_curve_and_uncertainties():
    truth = [TruePopulation(0.94, 0.03, 1e-3), TruePopulation(2.0, 0.10, 1e-3)]
    clean = 0.01 + sum(p.intensity(Q) for p in truth)
    sigma = 0.01 * clean
    noisy = clean + np.random.default_rng(4).normal(0.0, sigma)
    fit = saxs.fit_size_distribution(Q, noisy, sigma)
    assert [p.volume_fraction for p in _by_radius(fit)] == pytest.approx([1e-3, 1e-3], rel=0.15)
    assert fit.chi2_reduced == pytest.approx(1.0, abs=0.3)
    assert fit.volume_fraction_sigma.shape == fit.volume_fraction.shape
    assert np.all(fit.volume_fraction_sigma >= 0)
    assert np.any(fit.volume_fraction_sigma > 0)


def test_background_only_has_no_population():
    intensity = np.full(Q.size, 0.02)
    sigma = 0.01 * intensity
    noisy = intensity + np.random.default_rng(2).normal(0.0, sigma)
    fit = saxs.fit_size_distribution(Q, noisy, sigma)
    assert fit.populations == []
    assert fit.background == pytest.approx(0.02, rel=0.02)


def test_single_nc_population_width():
    intensity = saxs_curve(Q, [(1.8, 0.15, 1e-3)], background=0.01)
    fit = saxs.fit_size_distribution(Q, intensity, 0.01 * intensity)
    assert len(fit.populations) == 1
    pop = fit.populations[0]
    assert pop.volume_fraction == pytest.approx(1e-3, rel=0.1)
    assert pop.width_nm == pytest.approx(0.15 * 1.8, rel=0.5)


@pytest.mark.parametrize(
    "q, y, sigma, match",
    [
        (Q, np.ones(299), 1.0, "lengths must match"),
        (Q[:5], np.ones(5), 1.0, "at least 20"),
        (Q, np.where(Q > 1, np.inf, 1.0), 1.0, "non-finite"),
        (Q[::-1], np.ones(300), 1.0, "strictly increasing"),
        (Q, np.ones(300), 0.0, "sigma"),
        (Q, np.ones(300), np.ones(10), "sigma"),
        (Q - 1.0, np.ones(300), 1.0, "positive"),
    ],
)
def test_bad_input_is_refused(q, y, sigma, match):
    with pytest.raises(ValueError, match=match):
        saxs.fit_size_distribution(q, y, sigma)


@pytest.mark.parametrize("noise", [0.0, 0.01])
def test_precursor_mesophase_is_lamellar(noise):
    intensity = bragg_curve(Q, [(1.84, 0.3), (3.69, 0.08)])
    intensity = intensity * (1.0 + np.random.default_rng(5).normal(0.0, noise, Q.size))
    meso = saxs.find_mesophase(Q, intensity)
    assert meso.peaks_q_per_nm == pytest.approx([1.84, 3.69], abs=0.03)
    assert meso.lamellar
    assert meso.d_spacing_nm == pytest.approx(2 * np.pi / 1.84, rel=0.02)
    assert meso.d_spacing_nm == pytest.approx(3.4, abs=0.05)


def test_non_lamellar_peaks():
    meso = saxs.find_mesophase(Q, bragg_curve(Q, [(1.84, 0.3), (3.0, 0.2)]))
    assert meso.peaks_q_per_nm == pytest.approx([1.84, 3.0], abs=0.03)
    assert not meso.lamellar
    assert meso.to_dict()["mesophase_q2_per_nm"] == pytest.approx(3.0, abs=0.03)


@pytest.mark.parametrize("noise", [0.0, 0.01])
def test_flat_curve_has_no_peaks(noise):
    flat = 0.05 * (1.0 + np.random.default_rng(6).normal(0.0, noise, Q.size))
    meso = saxs.find_mesophase(Q, flat)
    assert meso.peaks_q_per_nm.size == 0
    assert meso.d_spacing_nm is None
    assert not meso.lamellar


@pytest.mark.parametrize("radius", [0.94, 2.0, 3.0, 5.0])
def test_polydisperse_sphere_oscillations_are_not_bragg_peaks(radius):
    intensity = saxs_curve(Q, [(radius, 0.10, 1e-3)], background=0.01)
    assert saxs.find_mesophase(Q, intensity).peaks_q_per_nm.size == 0


def test_mesophase_bad_input():
    with pytest.raises(ValueError, match="lengths must match"):
        saxs.find_mesophase(Q, np.ones(10))
