"""The paper's facts besides the Fig. 1 grid, read off simulated spectra and SAXS curves.

Every fact is measured on the noisy signals of ``simulate`` (several seeds) with the
simple estimators of ``sim_signal_facts``, as docs/science.md states them.
"""

import numpy as np
import pytest
from sim_signal_facts import (
    band_depth,
    best_sphere_radius,
    bragg_peak_height,
    judged_families,
    nc_peak_nm,
    size_distribution_mode,
    sphere_fractions,
)

from msc_bluesky.sim import (
    Composition,
    absorbance_spectrum,
    add_spectrum_noise,
    default_q_per_nm,
    default_wavelength_nm,
    saxs_counting_noise,
    saxs_curve,
    simulate,
    simulate_kinetics,
)

WL = default_wavelength_nm()
Q = default_q_per_nm()
SEEDS = (11, 12, 13)
FAMILIES = (350, 403, 437, 467)
#: A clear MSC band (absorbance over the local baseline, 0.1 cm path).
PRESENT = 0.02
#: No band (estimator bias on smooth NC features plus noise stays below this).
ABSENT = 0.015


def bands(m) -> dict[int, float]:
    return {f: band_depth(m.wavelength_nm, m.absorbance, f) for f in FAMILIES}


@pytest.mark.parametrize("seed", SEEDS)
def test_msc_bands_at_4_5_s_at_every_temperature(seed):
    """Fig. S2: MSC bands at 4.5 s at 260, 280 and 350 °C, gone by 14 s at 260 and 350 °C."""
    found = {t: bands(simulate(t, t, 4.5, seed=seed)) for t in (260, 280, 350)}
    for t, b in found.items():
        assert max(b.values()) > PRESENT, (t, b)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("t", [240, 250, 330, 350])
def test_only_ncs_at_14_s_far_outside_the_window(t, seed):
    m = simulate(t, t, 14.0, seed=seed)
    nc_peak = nc_peak_nm(m.wavelength_nm, m.absorbance)
    assert nc_peak > 470.0
    judged = judged_families(bands(m), nc_peak)
    assert max(judged.values()) < ABSENT, (nc_peak, judged)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    "t_nuc, t, expected", [(280, 4.5, 490.0), (280, 14.0, 527.0), (350, 7.6, 572.0)]
)
def test_nc_peak_position(t_nuc, t, expected, seed):
    m = simulate(t_nuc, t_nuc, t, seed=seed)
    assert nc_peak_nm(m.wavelength_nm, m.absorbance) == pytest.approx(expected, abs=6.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_optical_density_rises_with_time(seed):
    totals = [
        np.trapezoid(simulate(280, 280, t, seed=seed + i).absorbance, WL)
        for i, t in enumerate((1.5, 4.5, 7.6, 14.0))
    ]
    assert np.all(np.diff(totals) > 0), totals


def saxs_1_5_s(t_nuc, seed):
    m = simulate(t_nuc, 230, 1.5, seed=seed)
    return m.q_per_nm, m.intensity, m.intensity_sigma


def closest(radius: float, candidates=(0.87, 0.94, 1.02)) -> float:
    return min(candidates, key=lambda c: abs(c - radius))


@pytest.mark.parametrize("seed", SEEDS)
def test_saxs_series_is_quantized_then_continuous(seed):
    """Fig. 2, 1.5 s, T_growth 230 °C: radius 0.87 nm at 190 °C, 0.94 nm at 200–230 °C,
    a 1.02 nm shoulder at 230 °C that dominates at 240 °C, continuous growth from 250 °C."""
    mode = {t: size_distribution_mode(*saxs_1_5_s(t, seed)) for t in range(190, 250, 10)}
    # 190 °C: the 403 family (0.87 nm) dominates, with some 437 grown on by 1.5 s.
    assert mode[190] < 0.92 and mode[190] < mode[200] - 0.03, mode
    for t in (200, 210, 220):
        assert closest(mode[t]) == 0.94, mode
    assert closest(mode[240]) == 1.02, mode
    radius = {t: best_sphere_radius(*saxs_1_5_s(t, seed)) for t in range(250, 290, 10)}
    # The shoulder: at 230 °C a 1.02 nm population beside the 0.94 nm one.
    basis = (0.87, 0.94, 1.02, *np.arange(1.1, 3.0, 0.1))
    shoulder = sphere_fractions(*saxs_1_5_s(230, seed), basis)
    assert shoulder[1] > 0 and shoulder[2] > 0.1 * shoulder[1], shoulder[:3]
    assert mode[220] <= mode[230] < mode[240], mode
    growing = [radius[t] for t in (250, 260, 270, 280)]
    assert growing[0] > 1.02 and all(np.diff(growing) > 0), growing


@pytest.mark.parametrize("seed", SEEDS)
def test_precursor_mesophase_fades_with_temperature(seed):
    """Fig. 3: Bragg peaks at 1.84 and 3.69 nm^-1 at 25 °C, weaker at 50 °C, gone at 100 °C."""
    def peaks(t):
        m = simulate(t, t, 14.0, seed=seed)
        sigma = [m.intensity_sigma[np.argmin(np.abs(Q - q0))] for q0 in (1.84, 3.69)]
        return [bragg_peak_height(Q, m.intensity, q0) for q0 in (1.84, 3.69)], sigma

    (cold, sigma), (warm, _), (hot, hot_sigma) = peaks(25.0), peaks(50.0), peaks(100.0)
    assert all(h > 10 * s for h, s in zip(cold, sigma, strict=True)), (cold, sigma)
    assert cold[0] > warm[0] > 3 * sigma[0]
    assert all(abs(h) < 3 * s for h, s in zip(hot, hot_sigma, strict=True)), hot


def test_signals_are_linear_and_noise_is_separate_and_seeded():
    a = simulate_kinetics(280, 280, 4.5)
    half = Composition.mix([a], [0.5])
    assert np.allclose(absorbance_spectrum(half, WL), 0.5 * absorbance_spectrum(a, WL))
    empty = Composition.precursor_only(0.0)
    bg = saxs_curve(empty, Q, temperature_c=25.0)[0]
    i_half = saxs_curve(half, Q, temperature_c=25.0)[0]
    i_full = saxs_curve(a, Q, temperature_c=25.0)[0]
    assert np.allclose(i_half - bg, 0.5 * (i_full - bg))
    clean = absorbance_spectrum(a, WL)
    noisy1 = add_spectrum_noise(clean, np.random.default_rng(3))
    noisy2 = add_spectrum_noise(clean, np.random.default_rng(3))
    assert np.array_equal(noisy1, noisy2) and not np.array_equal(noisy1, clean)
    i, s = saxs_curve(a, Q, temperature_c=230.0)
    ni, ns = saxs_counting_noise(i, Q, 1.0, np.random.default_rng(5))
    assert np.abs((ni - i) / s).mean() == pytest.approx(0.8, abs=0.2)
    m1, m2 = simulate(280, 280, 14, seed=7), simulate(280, 280, 14, seed=7)
    assert np.array_equal(m1.absorbance, m2.absorbance)
    assert np.array_equal(m1.intensity, m2.intensity)
