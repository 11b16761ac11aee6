"""UV-Vis and SAXS signals: the paper's facts, seen through the public functions."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.signal import find_peaks

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
#: A narrow band counts as present above this height (absorbance, 0.1 cm path).
BAND_THRESHOLD = 0.02


def band_height(absorbance, center, inner=8.0, outer=22.0):
    """Height of a narrow band above a quadratic baseline fitted to its flanks."""
    flank = (np.abs(WL - center) > inner) & (np.abs(WL - center) < outer)
    coef = np.polyfit(WL[flank] - center, absorbance[flank], 2)
    return absorbance[np.argmin(np.abs(WL - center))] - coef[-1]


def spectrum(t_nuc, t_growth, t):
    return absorbance_spectrum(simulate_kinetics(t_nuc, t_growth, t), WL)


def nc_peak_nm(absorbance, above=470.0):
    peaks, _ = find_peaks(absorbance)
    peaks = [p for p in peaks if WL[p] > above]
    return WL[max(peaks, key=lambda p: absorbance[p])]


def band_absorbance(composition, family):
    """Absorbance one MSC family adds at its own wavelength in the noiseless spectrum."""
    at = [float(family)]
    without = replace(composition, msc_units_mM={**composition.msc_units_mM, family: 0.0})
    full = absorbance_spectrum(composition, at)[0]
    return float(full - absorbance_spectrum(without, at)[0])


#: Largest band absorbance (0.1 cm) that still counts as "no MSC of that family".
ABSENT_MAX = 0.004
FAMILIES = (350, 380, 403, 437, 467)
WINDOW = (270, 280, 290, 300)


def band_437_at_14_s(t):
    return band_absorbance(simulate(t, t, 14.0).composition, 437)


def test_cdse437_window_at_14_s():
    """Fig. 1: CdSe-437 only for 270 <= T <= 300 °C, sharply, stronger with hotter growth."""
    present = {t: band_437_at_14_s(t) for t in WINDOW}
    absent = {t: band_437_at_14_s(t) for t in (250, 260, 310, 320, 330)}
    assert min(present.values()) >= BAND_THRESHOLD, present
    limit = min(ABSENT_MAX, 0.2 * min(present[270], present[300]))
    assert max(absent.values()) <= limit, (absent, limit)
    by_growth = [band_absorbance(simulate_kinetics(290, tg, 14.0), 437) for tg in (290, 260, 230)]
    assert by_growth[0] > by_growth[1] > by_growth[2]


def test_cdse437_window_is_found_by_a_baseline_fit():
    """The window survives a spectrum analysis: band height over a fitted baseline."""
    present = [band_height(spectrum(t, t, 14.0), 437) for t in WINDOW]
    absent = [band_height(spectrum(t, t, 14.0), 437) for t in (250, 260, 310, 320)]
    assert min(present) > BAND_THRESHOLD
    assert max(absent) < 0.25 * min(present)


@pytest.mark.parametrize("t", [240, 250, 260, 310, 320, 330, 350])
def test_only_ncs_at_14_s_outside_the_window(t):
    """Below 270 °C and above 300 °C no MSC family is left at 14 s, but NCs are."""
    comp = simulate(t, t, 14.0).composition
    bands = {f: band_absorbance(comp, f) for f in FAMILIES}
    assert max(bands.values()) <= ABSENT_MAX, bands
    assert comp.nc_units_mM > 1.0 and comp.nc_number_mM > 0.0


def test_several_msc_families_at_4_5_s():
    """Fig. S2: MSC bands at 4.5 s at 260, 280 and 350 °C; several families at 280 °C."""
    bands = {
        t: {f: band_absorbance(simulate(t, t, 4.5).composition, f) for f in FAMILIES}
        for t in (260, 280, 350)
    }
    for t, b in bands.items():
        assert max(b.values()) >= 0.01, (t, b)
    assert sum(v >= 0.005 for v in bands[280].values()) >= 2, bands[280]


@pytest.mark.parametrize(
    "t_nuc, t, expected", [(280, 4.5, 490.0), (280, 14.0, 527.0), (350, 7.6, 572.0)]
)
def test_nc_peak_position(t_nuc, t, expected):
    assert nc_peak_nm(spectrum(t_nuc, t_nuc, t)) == pytest.approx(expected, abs=4.0)


def test_optical_density_rises_with_time():
    totals = [np.trapezoid(spectrum(280, 280, t), WL) for t in (1.5, 4.5, 7.6, 14.0)]
    assert np.all(np.diff(totals) > 0)


def guinier_radius(intensity, q, background):
    i = intensity - background
    sel = q < 0.6
    slope = np.polyfit(q[sel] ** 2, np.log(i[sel]), 1)[0]
    return np.sqrt(-3.0 * slope) * np.sqrt(5.0 / 3.0)  # sphere radius from Rg


def test_saxs_curve_follows_the_populations():
    radii = []
    for t_nuc in (190, 210, 240, 270):
        comp = simulate_kinetics(t_nuc, 230, 1.5)
        intensity, sigma = saxs_curve(comp, Q, temperature_c=230.0)
        assert np.all(sigma > 0)
        empty, _ = saxs_curve(Composition.precursor_only(0.0), Q, temperature_c=230.0)
        radii.append(guinier_radius(intensity, Q, empty))
    assert radii == sorted(radii)
    assert radii[0] == pytest.approx(0.87, abs=0.1)
    assert radii[-1] > 1.1


def test_precursor_mesophase_fades_with_temperature():
    def bragg(t):
        m = simulate(t, t, 14.0)
        out = []
        for q0 in (1.84, 3.69):
            at = np.argmin(np.abs(Q - q0))
            side = (np.abs(Q - q0) > 0.3) & (np.abs(Q - q0) < 0.6)
            out.append(m.intensity[at] - np.median(m.intensity[side]))
        return out

    cold, warm, hot = bragg(25.0), bragg(50.0), bragg(100.0)
    sigma = simulate(25.0, 25.0, 14.0).intensity_sigma
    peaks_sigma = [sigma[np.argmin(np.abs(Q - q0))] for q0 in (1.84, 3.69)]
    assert all(h > 10 * s for h, s in zip(cold, peaks_sigma, strict=True))
    assert cold[0] > warm[0] > 0.0
    assert all(abs(h) < 1e-6 for h in hot)


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
