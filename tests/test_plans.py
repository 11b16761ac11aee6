"""Plan messages, validation, safety and suspenders without hardware (fake devices)."""

from __future__ import annotations

import json
import math
import re
import threading

import numpy as np
import pytest
from bluesky.utils import RunEngineInterrupted
from fake_lab import FakeLab
from ophyd.sim import SynSignal

from msc_bluesky.limits import ConditionError
from msc_bluesky.plans import (
    ReactorNotRecovered,
    condition_scan,
    equilibrate,
    nucleation_series,
    precursor_blank,
    reaction_time_series,
    take_dark_and_reference,
    temperature_grid,
)

MOVING = {"set", "open_run", "trigger", "stage", "install_suspender"}
EXPECTED_KEYS = {
    "reactor_t_nuc", "reactor_t_nuc_setpoint", "reactor_t_growth",
    "reactor_t_growth_setpoint", "reactor_reaction_time", "reactor_reaction_time_setpoint",
    "reactor_pump_cd_flow", "reactor_pump_se_flow",
    "uvvis_absorbance", "uvvis_counts",
    "saxs_intensity", "saxs_intensity_sigma", "saxs_transmission",
}


@pytest.fixture
def lab():
    fake = FakeLab()
    yield fake
    fake.close()


def run_collect(RE, plan):  # noqa: N803
    docs: list[tuple[str, dict]] = []
    messages = []
    RE.msg_hook = messages.append
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    error = None
    try:
        RE(plan)
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        error = exc
    return docs, messages, error


def drive_until_error(plan):
    """Step a plan without a RunEngine: answer reads from the (fake) devices."""
    messages = []
    response = None
    try:
        while True:
            msg = plan.send(response)
            messages.append(msg)
            response = msg.obj.read() if msg.command == "read" else None
    except StopIteration:
        return messages, None
    except Exception as exc:  # noqa: BLE001
        return messages, exc


def cond(t_nuc=260.0, t_growth=250.0, reaction_time=14.0):
    return {"t_nuc": t_nuc, "t_growth": t_growth, "reaction_time": reaction_time}


# -- validation before anything moves ---------------------------------------------------
@pytest.mark.parametrize(
    ("conditions", "pattern"),
    [
        ([], "empty"),
        ([cond(t_nuc=400.0)], r"t_nuc = 400.0 °C is outside the allowed range 20–360 °C"),
        ([cond(), cond(t_growth=5.0)], r"conditions\[1\]\.t_growth .*20–360"),
        ([cond(reaction_time=math.nan)], r"reaction_time = nan s .*finite time > 0"),
        ([cond(reaction_time=-2)], r"finite time > 0"),
        ([cond(reaction_time=0.5)], r"allowed reaction times are >= 0\.9 s"),
        ([{"t_nuc": 260, "t_growth": 250}], r"missing keys \['reaction_time'\]"),
        ([dict(cond(), pressure=2)], r"unknown keys \['pressure'\]"),
        (cond(), "list of mappings"),
    ],
)
def test_condition_scan_refuses_before_any_movement(lab, conditions, pattern):
    messages, error = drive_until_error(
        condition_scan([lab.uvvis, lab.saxs], lab.reactor, conditions)
    )
    assert isinstance(error, ConditionError)
    assert re.search(pattern, str(error)), str(error)
    assert not [m for m in messages if m.command in MOVING]


def test_temperature_grid_refuses_growth_below_limit(lab):
    messages, error = drive_until_error(
        temperature_grid([lab.uvvis], lab.reactor, [40.0], 14.0, growth_steps=4)
    )
    assert isinstance(error, ConditionError)
    assert "10 °C" in str(error) and "20–360" in str(error)
    assert messages == []  # refused before even reading the reactor


def test_other_plans_refuse_bad_arguments(lab):
    bad = [
        reaction_time_series([lab.uvvis], lab.reactor, 280, 280, []),
        reaction_time_series([lab.uvvis], lab.reactor, 280, 280, [4.5, math.inf]),
        nucleation_series([lab.saxs], lab.reactor, [190, 400], 230, 1.5),
        precursor_blank([lab.saxs], lab.reactor, [25, 50], reaction_time=0.1),
        condition_scan([lab.saxs], lab.reactor, [cond()], residence_volumes=-1),
    ]
    for plan in bad:
        messages, error = drive_until_error(plan)
        assert isinstance(error, ConditionError), error
        assert not [m for m in messages if m.command in MOVING]


def test_flow_limit_uses_pump_maximum_read_from_reactor(lab):
    for pump in lab.reactor.pumps:
        pump.max_flow.sim_put(2.0)  # 4 mL/min total -> shortest 4.5 s for 0.3 mL
    messages, error = drive_until_error(
        reaction_time_series([lab.uvvis], lab.reactor, 280, 280, [14.0, 4.0])
    )
    assert isinstance(error, ConditionError)
    assert ">= 4.5 s" in str(error)
    # only a connection wait and configuration reads happen before the refusal
    assert [m.command for m in messages] == ["wait_for"] + ["read"] * 6


# -- a complete run on the fake lab -----------------------------------------------------
def test_temperature_grid_run_events_metadata_and_safe_end(RE, lab):
    docs, messages, error = run_collect(
        RE, temperature_grid([lab.uvvis, lab.saxs], lab.reactor, [260, 280], 14.0,
                             growth_steps=3, growth_step=10.0)
    )
    assert error is None
    names = [n for n, _ in docs]
    assert names[0] == "start" and names[-1] == "stop"
    start, stop = docs[0][1], docs[-1][1]
    events = [d for n, d in docs if n == "event"]
    assert len(events) == 6 == start["num_points"]
    assert start["plan_name"] == "temperature_grid"
    assert start["reactor_geometry"] == {
        "nucleation_volume_ml": 0.02, "growth_volume_ml": 0.28, "transfer_volume_ml": 0.05
    }
    expected = [(tn, tn - 10.0 * k) for tn in (260.0, 280.0) for k in range(3)]
    assert [(c["t_nuc"], c["t_growth"]) for c in start["conditions"]] == expected
    json.dumps(start)  # JSON-serialisable for the queue server and tiled
    for event, (tn, tg) in zip(events, expected, strict=True):
        assert set(event["data"]) == EXPECTED_KEYS
        assert event["data"]["reactor_t_nuc_setpoint"] == tn
        assert event["data"]["reactor_t_growth"] == tg
        assert event["data"]["reactor_reaction_time"] == pytest.approx(14.0)
        assert len(event["data"]["uvvis_absorbance"]) == 1000
    descriptor = next(d for n, d in docs if n == "descriptor")
    assert "reactor_volume_transfer" in descriptor["configuration"]["reactor"]["data"]
    assert stop["exit_status"] == "success"
    # finalize: heaters in standby, pumps stopped, through messages after the last event
    assert [h.enable.get() for h in lab.reactor.heaters] == [0, 0]
    assert [p.run.get() for p in lab.reactor.pumps] == [0, 0]
    safe = [m for m in messages if m.command == "set" and m.args == (0,)]
    assert {m.obj.name for m in safe} >= {
        "reactor_t_nuc_enable", "reactor_t_growth_enable", "reactor_pump_cd_run",
        "reactor_pump_se_run",
    }


def test_each_condition_sets_all_together_then_equilibrates_then_reads(RE, lab):
    _, messages, error = run_collect(
        RE, condition_scan([lab.uvvis], lab.reactor, [cond(), cond(t_growth=240.0)],
                           residence_volumes=2)
    )
    assert error is None
    commands = [(m.command, getattr(m.obj, "name", None)) for m in messages]
    first_set = commands.index(("set", "reactor_t_nuc"))
    assert commands[first_set:first_set + 4] == [
        ("set", "reactor_t_nuc"), ("set", "reactor_t_growth"),
        ("set", "reactor_reaction_time"), ("wait", None),
    ]
    group = {m.kwargs["group"] for m in messages[first_set:first_set + 3]}
    assert len(group) == 1  # set together, one wait
    flush = [m for m in messages if m.command == "set" and m.obj is lab.reactor.flush]
    assert [m.args[0] for m in flush] == [pytest.approx(2 * 0.35)] * 2
    trigger = commands.index(("trigger", "uvvis"))
    assert commands.index(("set", "reactor_flush")) < trigger
    assert ("install_suspender", None) in commands[:trigger]
    # rewinds re-take the point: checkpoint, then the reactor watch starts, then trigger
    assert commands[trigger - 2:trigger] == [("checkpoint", None), ("set", "reactor_watch")]


def test_reaction_time_series_sets_flows(RE, lab):
    docs, _, error = run_collect(
        RE, reaction_time_series([lab.uvvis, lab.saxs], lab.reactor, 280, 280, [4.5, 7.6, 14])
    )
    assert error is None
    events = [d["data"] for n, d in docs if n == "event"]
    assert [e["reactor_reaction_time"] for e in events] == pytest.approx([4.5, 7.6, 14])
    for e in events:
        total = e["reactor_pump_cd_flow"] + e["reactor_pump_se_flow"]
        assert 0.3 / total * 60 == pytest.approx(e["reactor_reaction_time_setpoint"])
    dimensions = json.loads(json.dumps(docs[0][1]["hints"]["dimensions"]))
    assert dimensions == [[["reactor_reaction_time"], "primary"]]


def test_precursor_blank_and_nucleation_series_conditions(RE, lab):
    docs, _, error = run_collect(RE, precursor_blank([lab.saxs], lab.reactor, [25, 50, 100]))
    assert error is None
    start = docs[0][1]
    assert [(c["t_nuc"], c["t_growth"]) for c in start["conditions"]] == [
        (25, 25), (50, 50), (100, 100)
    ]
    assert {c["reaction_time"] for c in start["conditions"]} == {1.5}
    docs, _, error = run_collect(
        RE, nucleation_series([lab.saxs], lab.reactor, [190, 200], 230, 1.5, md={"user": "x"})
    )
    assert error is None
    start = docs[0][1]
    assert start["plan_name"] == "nucleation_series" and start["user"] == "x"
    assert [c["t_growth"] for c in start["conditions"]] == [230, 230]


class FailingDetector(SynSignal):
    """Reads a number; its trigger raises from the ``fail_at``-th call on."""

    def __init__(self, fail_at: int, **kwargs):
        super().__init__(func=lambda: 1.0, **kwargs)
        self.fail_at = fail_at
        self.calls = 0

    def trigger(self):
        self.calls += 1
        if self.calls >= self.fail_at:
            raise RuntimeError("detector broke")
        return super().trigger()


def test_exception_mid_scan_keeps_events_and_leaves_reactor_safe(RE, lab):
    broken = FailingDetector(3, name="broken")
    docs, _, error = run_collect(
        RE, temperature_grid([lab.uvvis, broken], lab.reactor, [260, 280], 14.0,
                             growth_steps=3)
    )
    assert isinstance(error, RuntimeError) and "detector broke" in str(error)
    events = [d for n, d in docs if n == "event"]
    assert len(events) == 2
    stop = docs[-1][1]
    assert stop["exit_status"] == "fail" and "detector broke" in stop["reason"]
    assert [h.enable.get() for h in lab.reactor.heaters] == [0, 0]
    assert [p.run.get() for p in lab.reactor.pumps] == [0, 0]


# -- suspenders ---------------------------------------------------------------------------
def _excursion(lab, *, at: int, recover_after: float | None):
    """On the ``at``-th acquisition push T_nuc out of band, optionally restore it later."""

    def hook(name, count):
        if count != at:
            return
        heater = lab.reactor.t_nuc
        good = heater.readback.get()
        heater.readback.sim_put(good - 40.0)
        if recover_after is not None:
            threading.Timer(recover_after, heater.readback.sim_put, args=(good,)).start()

    lab.on_acquire.append(hook)


def test_temperature_excursion_suspends_then_retakes_point(RE, lab):
    _excursion(lab, at=2, recover_after=0.3)
    docs, messages, error = run_collect(
        RE, condition_scan([lab.uvvis], lab.reactor,
                           [cond(), cond(t_growth=240.0), cond(t_growth=230.0)])
    )
    assert error is None
    events = [d["data"] for n, d in docs if n == "event"]
    assert len(events) == 3
    # the re-taken point was measured back in band
    assert all(abs(e["reactor_t_nuc"] - e["reactor_t_nuc_setpoint"]) < 5 for e in events)
    flushes = [m for m in messages if m.command == "set" and m.obj is lab.reactor.flush]
    assert len(flushes) == 4  # one per condition plus the post-plan after recovery
    assert lab.acquisitions == 4  # the interrupted point was acquired twice
    assert docs[-1][1]["exit_status"] == "success"


def test_no_recovery_ends_run_safely(RE, lab):
    _excursion(lab, at=1, recover_after=None)
    docs, _, error = run_collect(
        RE, condition_scan([lab.uvvis], lab.reactor, [cond(), cond(t_growth=240.0)],
                           recovery_timeout=0.3)
    )
    assert isinstance(error, ReactorNotRecovered)
    assert "reactor_t_nuc left 260 ± 5 °C" in str(error)
    assert [n for n, _ in docs].count("event") == 0
    assert docs[-1][1]["exit_status"] == "fail"
    assert [h.enable.get() for h in lab.reactor.heaters] == [0, 0]
    assert [p.run.get() for p in lab.reactor.pumps] == [0, 0]
    assert RE._suspenders == set()


def test_pump_alarm_suspends_until_cleared(RE, lab):
    def hook(name, count):
        if count == 1:
            lab.reactor.pump_se.alarm.sim_put(1)
            threading.Timer(0.2, lab.reactor.pump_se.alarm.sim_put, args=(0,)).start()

    lab.on_acquire.append(hook)
    docs, _, error = run_collect(RE, condition_scan([lab.uvvis], lab.reactor, [cond()]))
    assert error is None
    assert [n for n, _ in docs].count("event") == 1
    assert lab.acquisitions == 2


def test_suspenders_can_be_switched_off(RE, lab):
    _, messages, error = run_collect(
        RE, condition_scan([lab.uvvis], lab.reactor, [cond()], suspend=False)
    )
    assert error is None
    assert not [m for m in messages if m.command == "install_suspender"]


# -- equilibrate, dark/reference -----------------------------------------------------------
def test_equilibrate_measures_residence_volumes(RE, lab):
    def plan():
        for heater in lab.reactor.heaters:
            heater.set(250.0).wait(timeout=5)
        lab.reactor.reaction_time.set(14.0).wait(timeout=5)
        before = sum(p.dispensed.get() for p in lab.reactor.pumps)
        ok = yield from equilibrate(lab.reactor, residence_volumes=2)
        after = sum(p.dispensed.get() for p in lab.reactor.pumps)
        results.append((ok, after - before))

    results = []
    RE(plan())
    ok, pumped = results[0]
    assert ok and pumped >= 2 * 0.35


def test_equilibrate_drift_check_takes_spectra_until_stable(RE, lab):
    for heater in lab.reactor.heaters:
        heater.set(250.0).wait(timeout=5)
    lab.reactor.reaction_time.set(14.0).wait(timeout=5)
    levels = iter([0.5, 0.3, 0.2, 0.2, 0.2])

    def hook(name, count):
        lab.uvvis.absorbance.sim_put(np.full(1000, next(levels)))

    lab.on_acquire.append(hook)
    results = []

    def plan():
        results.append((yield from equilibrate(lab.reactor, residence_volumes=0,
                                               spectrometer=lab.uvvis,
                                               drift_tolerance=0.01)))

    RE(plan())
    assert results == [True]
    assert lab.acquisitions == 4  # 0.5, 0.3, 0.2, 0.2 -> stable at the fourth


def test_dark_and_reference_streams(RE, lab):
    docs, _, error = run_collect(
        RE, condition_scan([lab.uvvis], lab.reactor, [cond()], take_references=True)
    )
    assert error is None
    streams = [d["name"] for n, d in docs if n == "descriptor"]
    assert streams == ["dark", "reference", "primary"]
    assert lab.uvvis.mode.get() == "sample"


def test_take_dark_and_reference_stub_restores_sample_mode(RE, lab):
    from bluesky import preprocessors as bpp

    modes = []
    lab.uvvis.mode.subscribe(lambda value, **kw: modes.append(value), run=False)
    RE(bpp.run_wrapper(take_dark_and_reference(lab.uvvis)))
    assert modes == ["dark", "reference", "sample"]


def test_abort_after_pause_leaves_reactor_safe(RE, lab):
    def hook(name, count):
        if count == 2:
            threading.Thread(target=RE.request_pause, daemon=True).start()

    lab.on_acquire.append(hook)
    docs: list[tuple[str, dict]] = []
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    with pytest.raises(RunEngineInterrupted):
        RE(condition_scan([lab.uvvis], lab.reactor,
                          [cond(), cond(t_growth=240.0), cond(t_growth=230.0)]))
    assert RE.state == "paused"
    RE.abort(reason="operator stopped the campaign")
    stop = docs[-1][1]
    assert docs[-1][0] == "stop"
    assert stop["exit_status"] == "abort"
    assert 1 <= [n for n, _ in docs].count("event") <= 2
    assert [h.enable.get() for h in lab.reactor.heaters] == [0, 0]
    assert [p.run.get() for p in lab.reactor.pumps] == [0, 0]


def test_plans_wait_for_device_connection_before_reading(lab):
    plan = condition_scan([lab.uvvis], lab.reactor, [cond()])
    first = next(plan)
    assert first.command == "wait_for"
    plan.close()


def test_connection_timeout_names_the_device():
    from msc_bluesky.plans.connection import _connect

    class Unreachable:
        name = "reactor"
        prefix = "NOWHERE:"

        def wait_for_connection(self, timeout):
            raise TimeoutError("reactor_t_nuc_setpoint not connected")

    with pytest.raises(TimeoutError, match="reactor .*NOWHERE:.*did not connect"):
        _connect(Unreachable(), 0.1)
