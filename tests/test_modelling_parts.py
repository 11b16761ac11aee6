"""Pieces of the modelling layer on plain numbers: observables, window, identifiability."""

from __future__ import annotations

import math

import numpy as np
import pytest

from msc_bluesky.modelling.identifiability import assess, covariance_from_jacobian
from msc_bluesky.modelling.observables import (
    DETECTION_ABSORBANCE,
    NC_CONCENTRATION_FLOOR_FRACTION,
    OBSERVABLE_NAMES,
    measured_observables,
    model_observables,
    observable,
    path_length_of,
    uncertainty,
)
from msc_bluesky.modelling.window import (
    main_window,
    measured_msc437_window_c,
    persistence_segments,
    window_sensitivity,
)
from msc_bluesky.physics.sizing import extinction_coefficient, yu_diameter_nm
from msc_bluesky.sim import simulate_kinetics


def test_model_observables_follow_beer_lambert_and_the_sizing_curve():
    comp = simulate_kinetics(280.0, 280.0, 14.0)
    obs = model_observables(comp, path_length_cm=0.1)
    assert set(obs) == set(OBSERVABLE_NAMES)
    eps = extinction_coefficient(yu_diameter_nm(437.0))
    assert obs["msc437_absorbance"] == pytest.approx(eps * comp.msc_particles_mM(437) * 1e-4)
    assert obs["nc_peak_nm"] == pytest.approx(comp.nc_exciton_nm)
    assert obs["nc_concentration_molar"] == pytest.approx(comp.nc_number_mM * 1e-3)
    twice = model_observables(comp, path_length_cm=0.2)
    assert twice["msc437_absorbance"] == pytest.approx(2 * obs["msc437_absorbance"])


def test_measured_observables_derive_saxs_and_skip_what_does_not_measure_the_model():
    row = {
        "saxs_total_volume_fraction": 3e-4,
        "saxs_pop1_radius_nm": 1.6, "saxs_pop1_volume_fraction": 2e-4,
        "saxs_pop2_radius_nm": 0.94, "saxs_pop2_volume_fraction": 1e-4,
        "saxs_pop3_radius_nm": float("nan"), "saxs_pop3_volume_fraction": float("nan"),
    }
    got = measured_observables(row)
    assert got["saxs_msc_volume_fraction"] == pytest.approx(1e-4)
    assert got["saxs_nc_radius_nm"] == 1.6
    with_spectrum = measured_observables({**row, "msc437_absorbance": 0.1})
    assert math.isnan(with_spectrum["saxs_msc_volume_fraction"])  # UV-Vis counts clusters
    mesophase = measured_observables({**row, "mesophase_detected": True})
    assert math.isnan(mesophase["saxs_total_volume_fraction"])


def test_uncertainty_adds_the_discrepancy_to_the_reported_noise():
    assert uncertainty("nc_peak_nm", {"nc_peak_nm_sigma": 0.7}, 520.0) == pytest.approx(
        math.hypot(0.7, 2.0))
    assert uncertainty("nc_peak_nm", {"nc_peak_nm_sigma": float("nan")}, 520.0) == 2.0
    assert uncertainty("msc437_absorbance", {}, 0.2) == pytest.approx(math.hypot(0.003, 0.01))
    # The NC exciton readouts drift from the model as the exciton broadens.
    narrow = uncertainty("nc_peak_nm", {"nc_fwhm_nm": 30.0}, 520.0)
    broad = uncertainty("nc_peak_nm", {"nc_fwhm_nm": 80.0}, 560.0)
    assert narrow < 2.0 < broad
    conc = [uncertainty("nc_concentration_molar", {"nc_fwhm_nm": w}, 1e-5) for w in (30, 80)]
    assert conc[0] < 1e-6 < conc[1]
    # A narrow exciton's NC concentration is still uncertain by 5 % of the value.
    narrow_conc = uncertainty("nc_concentration_molar", {"nc_fwhm_nm": 20.0}, 1e-5)
    assert narrow_conc == pytest.approx(NC_CONCENTRATION_FLOOR_FRACTION * 1e-5)


def test_nc_concentration_gain_per_reaction_time_absorbs_a_series_bias(monkeypatch):
    """NC concentrations read 5 % high in the 4.5 s series only: the profiled gain of that
    series takes it up (the 14 s series' stays near 0), and the series' residuals shrink
    against a fit without per-series gains."""
    from msc_bluesky.modelling import fit as fit_module
    from msc_bluesky.modelling.data import measured_conditions, unique_conditions

    truth = {(t, rt): 1e-5 * (1 + (t - 250) / 100) for t in (260.0, 280.0, 300.0)
             for rt in (4.5, 14.0)}
    rows = [{"t_nuc": t, "t_growth": t, "reaction_time": rt, "nc_fwhm_nm": 25.0,
             "nc_concentration_molar": c * (1.05 if rt == 4.5 else 1.0)}
            for (t, rt), c in truth.items()]
    conditions = measured_conditions(rows)
    keys, _ = unique_conditions(conditions)
    table = np.full((len(keys), len(OBSERVABLE_NAMES)), np.nan)
    col = OBSERVABLE_NAMES.index("nc_concentration_molar")
    for k, (t, _, rt) in enumerate(keys):
        table[k, col] = truth[(t, rt)]

    def series_chi2() -> tuple[dict[str, float], float]:
        problem = fit_module._Problem(conditions, runner=None, space=None)
        z = problem.residual_of(table)
        gains = dict(zip(problem.offset_names, z[problem.n_obs:], strict=True))
        short = problem.reaction_time == 4.5
        return gains, float(np.sum(z[:problem.n_obs][short] ** 2))

    gains, chi2 = series_chi2()
    relative = observable("nc_concentration_molar").relative_sigma
    # Total relative gain of each series: the common gain plus the series' own.
    total = {t: relative * gains["nc_concentration_molar:gain"]
             + fit_module.NC_CONCENTRATION_SERIES_GAIN * gains[f"nc_concentration_molar:gain@{t}s"]
             for t in ("4.5", "14")}
    assert 0.025 < total["4.5"] < 0.06, total
    assert abs(total["14"]) < total["4.5"] / 2, total
    monkeypatch.setattr(fit_module, "NC_CONCENTRATION_SERIES_GAIN", 0.0)
    _, chi2_without = series_chi2()
    assert chi2 < 0.7 * chi2_without


def test_saxs_nc_radius_is_the_volume_weighted_mean():
    from msc_bluesky.modelling.observables import volume_weighted_radius_nm

    rng = np.random.default_rng(0)
    r = rng.normal(1.5, 0.15, 400_000)
    assert volume_weighted_radius_nm(1.5, 0.15) == pytest.approx(
        np.sum(r**4) / np.sum(r**3), rel=1e-3)
    assert volume_weighted_radius_nm(1.5, 0.0) == 1.5


def test_path_length_comes_from_the_analysis_conversion():
    eps = extinction_coefficient(yu_diameter_nm(437.0))
    row = {"msc437_absorbance": 0.05, "msc437_concentration_molar": 0.05 / (eps * 0.2)}
    assert path_length_of([row]) == pytest.approx(0.2)
    assert path_length_of([{}]) == 0.1


def test_persistence_segments_find_each_interval_and_its_edges():
    def band(t: float) -> float:  # above the level on 200–230 and, stronger, on 270–300 °C
        return 0.02 * (200 <= t <= 230) + 0.2 * max(0.0, 1 - abs(t - 285) / 15) ** 0.5

    segments = persistence_segments(band, t_range=(150.0, 360.0))
    assert len(segments) == 2
    (lo1, hi1, _), (lo2, hi2, peak2) = segments
    assert lo1 == pytest.approx(200, abs=1.0) and hi1 == pytest.approx(230, abs=1.0)
    edge = 15 * (1 - (DETECTION_ABSORBANCE / 0.2) ** 2)
    assert lo2 == pytest.approx(285 - edge, abs=0.2) and hi2 == pytest.approx(285 + edge, abs=0.2)
    assert main_window(segments) == [lo2, hi2] and peak2 > 0.1
    assert persistence_segments(lambda t: 0.0) == [] and main_window([]) is None


def test_window_sensitivity_is_the_linear_edge_shift():
    def absorbance_with(change, t):
        centre = change.get("centre", 285.0)
        return 0.2 - 0.01 * abs(t - centre)

    shifts = window_sensitivity(absorbance_with, [266.0, 304.0], {"centre": 290.0})
    assert shifts["centre"] == pytest.approx(5.0, abs=0.05)


def test_window_sensitivity_follows_a_step_like_switch():
    """A 1 °C-wide logistic onset moved by 10 °C moves the edge by 10 °C, not by ~1 width."""
    def absorbance_with(change, t):
        onset = change.get("onset", 265.0)
        return 0.1 / (1.0 + math.exp(-(t - onset) / 1.0))

    edge = 265.0 - math.log(0.1 / 0.005 - 1.0)  # where the band reaches 0.005
    shifts = window_sensitivity(absorbance_with, [edge], {"onset": 275.0}, level=0.005)
    assert shifts["onset"] == pytest.approx(10.0, abs=0.1)


def test_measured_window_reads_the_diagonal_at_that_time():
    rows = [
        {"t_nuc": t, "t_growth": t, "reaction_time": 14.0, "msc437_detected": 270 <= t <= 300}
        for t in range(260, 321, 10)
    ] + [{"t_nuc": 250.0, "t_growth": 200.0, "reaction_time": 14.0, "msc437_detected": True}]
    assert measured_msc437_window_c(rows, 14.0) == [270.0, 300.0]
    assert measured_msc437_window_c(rows, 4.5) is None
    by_absorbance = [{"t_nuc": 280, "t_growth": 280, "reaction_time": 4.5,
                      "msc437_absorbance": 2 * DETECTION_ABSORBANCE}]
    assert measured_msc437_window_c(by_absorbance, 4.5) == [280.0, 280.0]


def test_covariance_marks_unconstrained_directions_infinite():
    jac = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    cov = covariance_from_jacobian(jac)
    assert cov[0, 0] == pytest.approx(1.0) and cov[1, 1] == pytest.approx(0.25)
    assert math.isinf(cov[2, 2])
    u = np.zeros(3)
    ident = assess(jac * 10, u, u - 5, u + 5, np.array([1.0, 1.0, 1.0]),
                   np.array([True, True, True]), reduced_chi2=4.0)
    assert ident.scale == 4.0  # a poor fit widens the errors
    assert ident.stderr_internal[0] == pytest.approx(0.2)
    assert list(ident.identified) == [False, True, False]
    assert "not constrain" in ident.reasons[2]


def test_greedy_selection_holds_one_of_a_degenerate_pair():
    """Two parameters that only enter as their sum: one is held, the other identified."""
    from msc_bluesky.modelling.identifiability import select_identifiable

    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 1))
    jac = np.hstack([x, x * (1 + 1e-4), rng.normal(size=(50, 1))]) * 20
    u = np.zeros(3)
    keep, dropped = select_identifiable(
        jac, u, u - 5, u + 5, np.ones(3), np.array([True, True, True]), 1.0
    )
    assert keep.sum() == 2 and keep[2] and len(dropped) == 1
    assert set(dropped) <= {0, 1}


def test_profile_widens_the_error_where_chi2_is_not_a_bowl():
    """a + b is fixed by the data; b alone by a residual that flattens for b > 1: the
    profile of ``a`` is flat on one side, so its error is much wider than linearised."""
    from msc_bluesky.modelling.profile import profile_errors

    def residuals(us):
        return [np.array([(u[0] + u[1] - 2.0) / 0.01,
                          ((u[1] - 1.0) - 1.5 * (u[1] - 1.0) ** 2) / 0.3]) for u in us]

    u = np.array([1.0, 1.0])
    jac = np.array([[100.0, 100.0], [0.0, 1 / 0.3]])
    cov = np.linalg.inv(jac.T @ jac)
    sd = np.sqrt(np.diag(cov))
    sigma, rise = profile_errors(residuals, u, np.array([0, 1]), jac, cov, sd,
                                 np.full(2, -10.0), np.full(2, 10.0), 1.0)
    assert sigma[0] > 2.0 * sd[0]
    assert rise[0].min() < 1.0 < rise[0].max()  # flat on one side, steep on the other


def _composition_vector(comp) -> np.ndarray:
    return np.array([
        comp.precursor_mM, comp.monomer_mM, *comp.msc_units_mM.values(), *comp.nc_moments,
    ])


def test_stacked_model_run_agrees_with_one_condition_at_a_time():
    import dataclasses

    from msc_bluesky.modelling.batch import batch_compositions
    from msc_bluesky.sim import KineticParameters

    params = dataclasses.replace(KineticParameters(), k_437=0.5, ea_nc=60.0)
    conditions = [
        (25.0, 25.0, 1.5), (200.0, 230.0, 1.5), (260.0, 260.0, 4.5), (280.0, 230.0, 14.0),
        (300.0, 270.0, 14.0), (330.0, 330.0, 14.0), (500.0, 260.0, 14.0),  # last: no
    ]
    got = batch_compositions(conditions, params)
    assert got[-1] is None  # outside the reactor's limits
    for cond, comp in zip(conditions[:-1], got[:-1], strict=True):
        alone = _composition_vector(simulate_kinetics(*cond, params=params))
        stacked = _composition_vector(comp)
        scale = np.maximum(np.abs(alone), 1e-9)
        # Agreement to the integration tolerance (rtol 1e-6), not bit for bit.
        assert np.all(np.abs(stacked - alone) <= 1e-4 * scale + 1e-9), cond


def test_stacked_model_run_falls_back_to_one_condition_at_a_time(monkeypatch):
    from msc_bluesky.modelling import batch

    def fail(*_args, **_kwargs):
        raise ArithmeticError("stacked kinetics failed")

    monkeypatch.setattr(batch, "_integrate", fail)
    (comp,) = batch.batch_compositions([(270.0, 270.0, 14.0)], batch.KineticParameters())
    expected = _composition_vector(simulate_kinetics(270.0, 270.0, 14.0))
    np.testing.assert_array_equal(_composition_vector(comp), expected)


def test_discrepancy_amplitudes_come_from_the_residuals():
    """A group scattering 3x its default discrepancy gets amplitude ~3 (leverage-corrected);
    one scattering less keeps the default (amplitudes never narrow below 1); a width law
    and a flat floor are told apart by how the scatter grows with the law."""
    from msc_bluesky.modelling.discrepancy import estimate_scales, leverages

    rng = np.random.default_rng(3)
    n = 400
    groups = np.repeat([0, 1, 2], n)
    noise = np.full(3 * n, 0.1)
    flat = np.ones(3 * n)
    law = np.zeros(3 * n)
    law[2 * n:] = np.linspace(0.0, 4.0, n)  # group 2: a width law beside its floor
    truth_sd = np.concatenate([
        np.hypot(0.1, 3.0 * flat[:n]), np.hypot(0.1, 0.3 * flat[n:2 * n]),
        np.hypot(0.1, np.hypot(2.5 * law[2 * n:], 1.0 * flat[2 * n:])),
    ])
    residual = rng.normal(0.0, truth_sd)
    sigma = np.hypot(noise, np.hypot(law, flat))
    jac = rng.normal(size=(3 * n, 3))
    h = leverages(jac, 3 * n)
    assert h.sum() == pytest.approx(3.0)
    scales = estimate_scales(residual / sigma, sigma, noise, law, flat, groups,
                             np.ones(3 * n, dtype=bool), h)
    assert scales[0][1] == pytest.approx(3.0, rel=0.1)
    assert scales[1] == (1.0, 1.0)
    assert scales[2][0] == pytest.approx(2.5, rel=0.2)
    assert scales[2][1] < 1.6
