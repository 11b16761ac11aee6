"""Recovery on a campaign *measured* on the simulated reactor (issue 14).

A reduced but informative campaign (26 conditions: the 1.5 s SAXS nucleation series, the
4.5 s diagonal, the 14 s diagonal and one colder oven per T_nuc) runs once per module
through ``msc-bluesky campaign`` — the simulated IOC over Channel Access on loopback,
the RunEngine, the live analysis and an embedded tiled store in a temporary directory.
The fit then reads the stored analysis back, as ``msc-bluesky fit-kinetics`` does. The
truth is the twin's own parameter set (``KineticParameters()``), which the IOC runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from msc_bluesky.modelling import (
    default_free_parameters,
    fit_kinetics,
    measured_msc437_window_c,
)
from msc_bluesky.modelling.parameters import is_rate, is_switch, is_temperature
from msc_bluesky.sim import KineticParameters

pytestmark = pytest.mark.integration

TRUTH = KineticParameters()
GRID_T_NUC = [float(t) for t in range(250, 331, 10)]
STEPS = [
    {"title": "SAXS nucleation series", "plan": "nucleation_series", "detectors": ["saxs"],
     "kwargs": {"nucleation_temperatures": [190.0, 220.0, 250.0, 280.0],
                "t_growth": 230.0, "reaction_time": 1.5}},
    {"title": "4.5 s diagonal", "plan": "condition_scan", "detectors": ["uvvis", "saxs"],
     "kwargs": {"conditions": [{"t_nuc": t, "t_growth": t, "reaction_time": 4.5}
                               for t in (260.0, 280.0, 300.0, 320.0)]}},
    {"title": "14 s grid", "plan": "temperature_grid", "detectors": ["uvvis", "saxs"],
     "kwargs": {"nucleation_temperatures": GRID_T_NUC, "reaction_time": 14.0,
                "growth_steps": 2, "growth_step": 30.0}},
]


def _start(seed: int = 5) -> dict[str, float]:
    """Every default free parameter moved off the truth: rates ~10 %, energies and
    fractions ~5 %, switch temperatures ~2 °C."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in default_free_parameters():
        v = getattr(TRUTH, name)
        if is_rate(name):
            out[name] = v * float(np.exp(rng.normal(0.0, 0.10)))
        elif is_temperature(name):
            out[name] = v + float(rng.normal(0.0, 2.0))
        else:
            out[name] = v * (1.0 + float(rng.normal(0.0, 0.05))) if v else float(rng.normal(0, 5))
    return out


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """The campaign's analysis table, read back from the store it was written to."""
    tmp = tmp_path_factory.mktemp("measured")
    plan, summary = tmp / "campaign.yaml", tmp / "summary.json"
    plan.write_text(yaml.safe_dump({"steps": STEPS}))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, "-m", "msc_bluesky.cli", "campaign", "--file", str(plan),
         "--data-dir", str(tmp / "data"), "--no-report", "--summary-json", str(summary),
         "--time-scale", "300"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    campaign = json.loads(summary.read_text())["campaign_id"]

    from msc_bluesky.storage.browse import campaign_table
    from msc_bluesky.storage.catalog import close_client, open_catalog

    client = open_catalog(tmp / "data")
    try:
        table = campaign_table(client, md={"campaign_id": campaign})
        return [dict(r) for r in table.to_dict("records")]
    finally:
        close_client(client)


@pytest.fixture(scope="module")
def fit(measured):
    result = fit_kinetics(measured, parameters=_start(), workers=2)
    for name in result.free:  # the recovery table (pytest -s), and in any failure report
        p = result.parameters[name]
        truth = getattr(TRUTH, name)
        print(f"{name:<22} truth {truth:<9.4g} fit {p.value:<9.4g} ± {p.stderr:<9.3g} "
              f"{'identified' if p.identifiable else p.reason}")
    print(f"{result.evaluations} model runs, {result.seconds:.1f} s, reduced chi2 "
          f"{result.reduced_chi2:.3f}")
    return result


def test_the_measured_campaign_is_complete(measured):
    assert len(measured) == sum(
        len(s["kwargs"].get("nucleation_temperatures", s["kwargs"].get("conditions", [])))
        * (2 if s["plan"] == "temperature_grid" else 1)
        for s in STEPS
    )
    assert all(r.get("fit_ok") for r in measured if "msc437_absorbance" in r)


def _misses(fit, name) -> list[str]:
    truth, value, err = getattr(TRUTH, name), fit.values[name], fit.stderr[name]
    misses = []
    if abs(value - truth) > 2 * err:
        misses.append(f"{name}: {value:.4g} ± {err:.2g}, truth {truth:.4g} (> 2σ)")
    if is_temperature(name):  # °C has no natural zero: 25 % of 265 °C means nothing
        if abs(value - truth) > 10.0:
            misses.append(f"{name}: {value:.4g}, truth {truth:.4g} (> 10 °C)")
    elif abs(value - truth) > 0.25 * abs(truth):
        misses.append(f"{name}: {value:.4g}, truth {truth:.4g} (> 25 %)")
    return misses


def test_every_identified_parameter_lands_within_two_errors_and_25_percent(fit):
    """Issue 14's goal: at least four identified, every one within 2σ and 25 % of the twin
    (a temperature within 10 °C)."""
    assert fit.success, fit.message
    identified = fit.identified
    assert len(identified) >= 4, fit.warnings
    misses = [m for name in identified for m in _misses(fit, name)]
    assert not misses, misses
    # What the data do not identify is held at its reference value, with the reason.
    for name in fit.not_identified:
        assert fit.values[name] == getattr(TRUTH, name)
        assert "held at its reference value" in fit.parameters[name].reason


def test_nc_concentration_has_a_gain_per_reaction_time(fit, measured):
    """The analysis' NC-concentration error follows the exciton width, hence the
    reaction time: one gain nuisance per measured reaction time, profiled out."""
    times = {round(float(r["reaction_time"]), 1) for r in measured
             if np.isfinite(float(r.get("nc_concentration_molar", np.nan) or np.nan))}
    gains = {k for k in fit.readout_offsets if k.startswith("nc_concentration_molar:gain@")}
    assert gains == {f"nc_concentration_molar:gain@{t:.3g}s" for t in times}, gains
    assert all(np.isfinite(fit.readout_offsets[k]) for k in gains)


#: A parameter "sets" the window when a 10 % (10 °C) change moves an edge this far (°C).
SETS_WINDOW_C = 1.0


def test_what_sets_the_cdse437_window_is_identified(fit):
    """Every fitted parameter that moves an edge of the 14 s window by >= 1 °C per 10 %
    (10 °C) change is identified: in the twin the closed-shell onset and limit; an
    activation energy counts when it moves an edge that far."""
    shifts = fit.window_sensitivity(14.0)
    setting = {n for n, s in shifts.items() if s >= SETS_WINDOW_C}
    switch = {n for n in fit.free if is_switch(n) and is_temperature(n)}
    assert switch and switch <= setting, shifts
    assert setting <= set(fit.identified), (shifts, fit.identified)


def test_predicted_14s_window_is_within_5_c_of_the_measured_one(fit, measured):
    window = measured_msc437_window_c(measured, 14.0)
    assert window is not None
    on_grid = fit.msc437_window_at_c(14.0, GRID_T_NUC)
    assert on_grid is not None
    assert abs(on_grid[0] - window[0]) <= 5.0 and abs(on_grid[1] - window[1]) <= 5.0
    predicted = fit.msc437_window_c(14.0)
    twin = dataclasses.replace(fit, params=TRUTH).msc437_window_c(14.0)
    assert abs(predicted[0] - twin[0]) <= 5.0 and abs(predicted[1] - twin[1]) <= 5.0
