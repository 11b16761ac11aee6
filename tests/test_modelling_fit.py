"""Fitting the kinetic model to a campaign table made by the model itself (no IOC).

The truth is the twin's own parameter set (``KineticParameters()``); the table comes from
the model plus Gaussian noise of the stated uncertainties
(:func:`msc_bluesky.modelling.synthetic_campaign_table`). Nothing here names a rate of
the current model: the parameters come from ``dataclasses.fields(KineticParameters)``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from msc_bluesky.modelling import (
    OBSERVABLE_NAMES,
    default_free_parameters,
    fit_kinetics,
    measured_msc437_window_c,
    parameter_names,
    synthetic_campaign_table,
)
from msc_bluesky.modelling.parameters import (
    is_energy,
    is_rate,
    is_switch,
    is_temperature,
    is_width,
)
from msc_bluesky.sim import KineticParameters

TRUTH = KineticParameters()

#: A compact campaign: the Fig. 1/S2 diagonals at 4.5 and 14 s, three off-diagonal
#: growth temperatures at 14 s, and the 1.5 s SAXS nucleation series.
DESIGN = (
    [{"t_nuc": t, "t_growth": t, "reaction_time": rt}
     for rt in (4.5, 14.0) for t in range(250, 331, 10)]
    + [{"t_nuc": t, "t_growth": t - 30, "reaction_time": 14.0} for t in (270, 290, 310)]
    + [{"t_nuc": t, "t_growth": 230.0, "reaction_time": 1.5, "detectors": ("saxs",)}
       for t in range(190, 281, 30)]
)


def _start(seed: int = 2, spread: float = 0.05) -> dict[str, float]:
    """Every default free parameter moved off the truth (rates by ~5 %, Ea and fractions
    by ~3 %, switch temperatures by ~2 °C).

    Small, to keep the test quick; ``benchmarks/bench_fit.py`` starts 20 % / 10 % / 4 °C
    away.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name in default_free_parameters():
        v = getattr(TRUTH, name)
        if is_rate(name):
            out[name] = v * float(np.exp(rng.normal(0.0, spread)))
        elif is_temperature(name):
            out[name] = v + rng.normal(0.0, 40 * spread)
        else:
            out[name] = v * (1.0 + rng.normal(0.0, 2 * spread / 3)) if v else rng.normal(0, 5.0)
    return out


@pytest.fixture(scope="module")
def table():
    return synthetic_campaign_table(DESIGN, rng=np.random.default_rng(1))


@pytest.fixture(scope="module")
def recovered(table):
    return fit_kinetics(table, parameters=_start())


# -- parameters ------------------------------------------------------------------------


def test_default_free_parameters_are_the_models_rates_energies_and_closed_shell_switch():
    names = parameter_names()
    assert names == tuple(f.name for f in dataclasses.fields(KineticParameters))
    free = default_free_parameters()
    rates_and_energies = {n for n in names if n.startswith(("k_", "ea_"))}
    switch = {n for n in names if n.startswith("closed_shell_") and not n.endswith("_width_c")}
    assert set(free) == rates_and_energies | switch
    # The switch's onset, limit and largest fraction are free, its widths held.
    assert {"closed_shell_onset_c", "closed_shell_limit_c", "closed_shell_max"} <= switch
    assert not any(is_width(n) for n in free)
    assert all(is_switch(n) for n in switch)


def test_bad_parameter_names_and_tables_are_refused_with_what_is_allowed(table):
    with pytest.raises(ValueError, match="unknown parameter.*the kinetic model's parameters are"):
        fit_kinetics(table, parameters=["k_no_such_rate"])
    first = default_free_parameters()[0]
    with pytest.raises(ValueError, match="both fitted and fixed"):
        fit_kinetics(table, parameters=[first], fixed=[first])
    with pytest.raises(ValueError, match="no usable measurement"):
        fit_kinetics([{"t_nuc": 280.0, "t_growth": 280.0, "reaction_time": 14.0}])
    with pytest.raises(ValueError, match="list of row dicts"):
        fit_kinetics({"t_nuc": 280.0})


# -- recovery --------------------------------------------------------------------------


def test_identified_parameters_recover_the_twins_values(recovered):
    fit = recovered
    assert fit.success, fit.message
    assert 0.5 < fit.reduced_chi2 < 2.0  # noise drawn from the stated uncertainties
    identified = fit.identified
    assert len(identified) >= 4, fit.warnings
    assert any(is_energy(n) for n in identified)
    for name in identified:
        truth, value, err = getattr(TRUTH, name), fit.values[name], fit.stderr[name]
        assert abs(value - truth) <= 2 * err, f"{name}: {value} ± {err}, truth {truth}"
        assert abs(value - truth) <= 0.25 * abs(truth), f"{name}: {value}, truth {truth}"
    # Held parameters stay at the truth; every fitted one has a stated reason.
    for name in fit.held:
        assert fit.values[name] == getattr(TRUTH, name)
    assert set(fit.identified) | set(fit.not_identified) == set(default_free_parameters())
    assert all(p.reason for p in fit.parameters.values())


#: A parameter "sets" the window when a 10 % (10 °C) change moves an edge this far (°C).
SETS_WINDOW_C = 1.0


def test_the_parameters_that_set_the_cdse437_window_are_identified(recovered):
    """In the twin the closed-shell switch sets the 437 window; the fit identifies it.

    ``window_sensitivity`` ranks every fitted parameter by how far a 10 % change (10 °C
    for a temperature) moves an edge of the 14 s window; each that moves it by 1 °C or
    more must be identified, the onset and limit of the closed-shell switch among them.
    Activation energies count when they move an edge that far.
    """
    fit = recovered
    shifts = fit.window_sensitivity(14.0)
    assert set(shifts) == set(fit.free)
    setting = {n for n, s in shifts.items() if s >= SETS_WINDOW_C}
    switch_temperatures = {n for n in fit.free if is_switch(n) and is_temperature(n)}
    assert switch_temperatures and switch_temperatures <= setting, shifts
    assert setting <= set(fit.identified), (shifts, fit.identified)
    for name in switch_temperatures:
        err = fit.stderr[name]
        assert abs(fit.values[name] - getattr(TRUTH, name)) <= 2 * err, (name, err)
        # The error includes the spread over the bracket of the 10 °C T_nuc grid.
        assert err >= fit.sampling_errors[name] > 0


def test_predicted_14s_window_matches_the_data_and_the_truth(recovered, table):
    fit = recovered
    measured = measured_msc437_window_c(table, 14.0)
    diagonal = [r["t_nuc"] for r in table
                if r["reaction_time"] == 14.0 and r["t_nuc"] == r["t_growth"]]
    # Read on the campaign's grid, as the measurement is.
    on_grid = fit.msc437_window_at_c(14.0, diagonal)
    assert on_grid is not None and measured is not None
    assert abs(on_grid[0] - measured[0]) <= 5.0 and abs(on_grid[1] - measured[1]) <= 5.0
    # The continuous window lies within the bracket the grid allows (one 10 °C step
    # outside the measured edges) and within 5 °C of the twin's own.
    predicted = fit.msc437_window_c(14.0)
    assert measured[0] - 10.0 < predicted[0] <= measured[0]
    assert measured[1] <= predicted[1] < measured[1] + 10.0
    twin = dataclasses.replace(fit, params=TRUTH)  # the same fit object, the twin's set
    true_window = twin.msc437_window_c(14.0)
    assert abs(predicted[0] - true_window[0]) <= 5.0
    assert abs(predicted[1] - true_window[1]) <= 5.0


def test_predict_and_residuals_are_consistent(recovered, table):
    fit = recovered
    assert len(fit.residuals) == len(table)
    r = fit.residuals[0]
    again = fit.predict(r.t_nuc, r.t_growth, r.reaction_time)
    # The fit runs every condition in one stacked ODE system, predict() one condition
    # alone: the same model, equal to the integration tolerance (rtol 1e-6).
    for name, value in r.model.items():
        assert again[name] == pytest.approx(value, rel=1e-5, abs=1e-12, nan_ok=True)
    assert set(again) >= set(OBSERVABLE_NAMES) | {"msc437_detected"}
    assert sum(c.chi2 for c in fit.residuals) == pytest.approx(fit.chi2, rel=1e-9)
    corr = fit.correlation
    assert corr.shape == (len(fit.free),) * 2
    ok = np.isfinite(np.diag(corr))
    assert np.allclose(np.diag(corr)[ok], 1.0)
    assert np.all(np.abs(corr[np.isfinite(corr)]) <= 1.0 + 1e-9)


def test_to_dict_has_the_json_fields(recovered):
    d = recovered.to_dict()
    assert set(d["parameters"]) == set(parameter_names())
    for entry in d["parameters"].values():
        assert {"value", "stderr", "identifiable"} <= set(entry)
    assert set(d["msc437_window_c"]) == {"4.5", "7.6", "14.0"}
    assert d["reduced_chi2"] == pytest.approx(recovered.reduced_chi2)


# -- perturbations -------------------------------------------------------------------


def _refit(rows, recovered):
    """Fit the parameters ``recovered`` identified, the others held at its values.

    Starting at its optimum keeps the perturbation tests quick; the reference for the
    errors is the same fit on the unperturbed table.
    """
    return fit_kinetics(
        rows,
        parameters={n: recovered.values[n] for n in recovered.identified},
        fixed={n: recovered.values[n] for n in recovered.not_identified},
    )


@pytest.fixture(scope="module")
def reference(recovered, table):
    return _refit(table, recovered)


def test_more_noise_than_stated_grows_the_errors_and_warns(recovered, reference):
    # Three times the noise the default uncertainties (which the rows rely on) state.
    noisy = synthetic_campaign_table(DESIGN, rng=np.random.default_rng(1), noise=3.0)
    fit = _refit(noisy, recovered)
    # The first fit sees χ² ~9 per dof against the stated σ; the discrepancy amplitudes
    # estimated from the residuals then widen σ (~3x), and the fit says so.
    assert fit.stated_reduced_chi2 > 3.0
    assert max(fit.discrepancy_scales.values()) > 2.0
    assert any("reduced chi2" in w and "widens" in w for w in fit.warnings)
    for name in reference.free:
        if name in reference.sampling_errors:
            # A switch only bracketed by the T_nuc grid: its error is mostly the bracket's
            # spread, which more noise does not change; it must not shrink.
            assert fit.stderr[name] >= reference.stderr[name], name
        else:
            assert fit.stderr[name] > 1.5 * reference.stderr[name], name


def test_a_missing_step_grows_the_errors(recovered, reference, table):
    without = [r for r in table if r["reaction_time"] != 4.5]
    fit = _refit(without, recovered)
    grown = [
        n for n in reference.free
        if not fit.parameters[n].identifiable or fit.stderr[n] > 1.2 * reference.stderr[n]
    ]
    assert grown, "dropping the 4.5 s step changed no error"
    for name in fit.not_identified:  # held at the reference, and says why
        assert "held at its reference value" in fit.parameters[name].reason
    # Holding a parameter removes its correlations, so what stays identified is compared
    # with the full table under the same held set: less data never narrows an error.
    same_held = fit_kinetics(
        table,
        parameters={n: recovered.values[n] for n in fit.identified},
        fixed=[n for n in recovered.free if n not in fit.identified],
    )
    for name in fit.identified:
        assert fit.stderr[name] >= 0.9 * same_held.stderr[name], name


def test_too_little_data_says_which_parameters_are_not_identified():
    rows = synthetic_campaign_table(
        [{"t_nuc": 280.0, "t_growth": 280.0, "reaction_time": 14.0}],
        rng=np.random.default_rng(3),
    )
    fit = fit_kinetics(rows, max_evaluations=5)
    assert fit.not_identified
    assert fit.n_observations < len(fit.free)
    text = " ".join(fit.warnings)
    assert "not identified by these data" in text
    assert "cannot determine them all" in text
    for name in fit.not_identified:
        assert name in text
        assert fit.parameters[name].reason
        assert not fit.to_dict()["parameters"][name]["identifiable"]


def test_fixed_parameters_are_held_at_the_given_value(table):
    names = default_free_parameters()
    held = {names[0]: getattr(TRUTH, names[0]) * 2}
    fit = fit_kinetics(table[:6], parameters=list(names[1:3]), fixed=held, max_evaluations=3)
    assert fit.free == tuple(names[1:3])
    assert fit.values[names[0]] == held[names[0]]
    assert fit.parameters[names[0]].held and math.isnan(fit.parameters[names[0]].stderr)


# -- figures and the fit as a run ------------------------------------------------------


def test_figures_draw_parity_arrhenius_and_phase_maps(recovered, table):
    from msc_bluesky.modelling.figures import (
        arrhenius_figure,
        identified_rates,
        parity_figure,
        phase_map_figure,
    )

    gids = {ax.get_gid() for ax in parity_figure(recovered).axes}
    measured = {n for r in recovered.residuals for n in r.measured}
    assert {f"parity-{n}" for n in measured} <= gids
    rates = identified_rates(recovered)
    assert rates
    lines = {ln.get_gid() for ax in arrhenius_figure(recovered).axes for ln in ax.lines}
    assert {f"arrhenius-{r}" for r in rates} <= lines
    fig = phase_map_figure(recovered, table, reaction_time=14.0, step_c=10.0)
    assert {"phase-measured", "phase-predicted"} <= {ax.get_gid() for ax in fig.axes}


def test_fit_run_documents_name_the_campaign_and_the_runs(recovered):
    from msc_bluesky.modelling.fit_run import FIT_PLAN_NAME, fit_run_documents

    docs = fit_run_documents(recovered, campaign_id="abc123")
    names = [n for n, _ in docs]
    assert names[0] == "start" and names[-1] == "stop"
    start = docs[0][1]
    assert start["plan_name"] == FIT_PLAN_NAME and start["campaign_id"] == "abc123"
    assert set(start["kinetic_parameters"]) == set(parameter_names())
    streams = {d["name"] for n, d in docs if n == "descriptor"}
    assert streams == {"parameters", "residuals", "windows"}  # never "primary"
    events = [d for n, d in docs if n == "event"]
    assert len(events) == len(parameter_names()) + len(recovered.residuals) + 3
