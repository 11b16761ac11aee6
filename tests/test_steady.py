"""Steady state from the signal (msc_bluesky.plans.steady) with the in-process fakes."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from fake_lab import VOLUMES_ML, FakeLab

from msc_bluesky.limits import ConditionError
from msc_bluesky.plans import condition_scan
from msc_bluesky.plans.steady import (
    BIN_POINTS,
    MIN_VOLUMES,
    agrees,
    drift_statistic,
    spectrum_sigma,
    wait_for_signal,
)
from msc_bluesky.plans.validation import check_arguments

ONE_VOLUME = sum(VOLUMES_ML.values())
WAVELENGTH = np.linspace(300, 700, 1000)
NOISE = 2e-3


def band(centre: float, height: float) -> np.ndarray:
    return 0.1 + height * np.exp(-0.5 * ((WAVELENGTH - centre) / 15.0) ** 2)


@pytest.fixture
def lab():
    fake = FakeLab(time_scale=100.0)  # one residence volume in ~0.16 s of wall time
    yield fake
    fake.close()


def pumped(lab) -> float:
    return sum(float(p.dispensed.get()) for p in lab.reactor.pumps)


def at_temperature(lab) -> None:
    for heater in lab.reactor.heaters:
        heater.set(250.0).wait(timeout=5)
    lab.reactor.reaction_time.set(14.0).wait(timeout=5)


def washout(lab, old: np.ndarray, new: np.ndarray, *, start: float, width: float):
    """Spectrometer hook: the cell changes from ``old`` to ``new`` as volumes pass."""
    rng = np.random.default_rng(7)

    def hook(name, count):
        v = (pumped(lab) - start) / ONE_VOLUME
        hook.volumes.append(v)
        fraction_old = math.exp(-max(v, 0.0) / width)
        clean = new + (old - new) * fraction_old
        lab.uvvis.absorbance.sim_put(clean + NOISE * rng.standard_normal(clean.size))

    hook.volumes = []
    return hook


# -- the drift criterion ----------------------------------------------------------------
def test_noise_only_agrees_and_a_change_of_a_few_sigma_does_not():
    rng = np.random.default_rng(1)
    clean = band(450, 0.5)
    first = clean + NOISE * rng.standard_normal(clean.size)
    second = clean + NOISE * rng.standard_normal(clean.size)
    s1, s2 = spectrum_sigma(first), spectrum_sigma(second)
    assert 0.5 * NOISE < float(np.median(s1)) < 2 * NOISE  # the noise model finds the noise
    bins = clean.size // BIN_POINTS
    assert agrees(*drift_statistic(first, second, s1, s2), bins)
    # a peak 2 noise sigmas high (~11 bin sigmas after binning) is drift
    moved = second + 2 * NOISE * np.exp(-0.5 * ((WAVELENGTH - 500) / 15.0) ** 2)
    max_z, _ = drift_statistic(first, moved, s1, spectrum_sigma(moved))
    assert max_z > 4
    assert not agrees(*drift_statistic(first, moved, s1, spectrum_sigma(moved)), bins)


def test_broad_small_offset_fails_the_mean_square_test():
    rng = np.random.default_rng(2)
    clean = band(450, 0.5)
    first = clean + NOISE * rng.standard_normal(clean.size)
    second = clean + NOISE * rng.standard_normal(clean.size) + 0.6 * NOISE
    sigma = np.full(clean.size, NOISE)
    max_z, mean_z2 = drift_statistic(first, second, sigma, sigma)
    assert not agrees(max_z, mean_z2, clean.size // BIN_POINTS)


def test_curves_of_different_shape_never_agree():
    assert drift_statistic(np.ones(10), np.ones(11), np.ones(10), np.ones(11)) == (
        math.inf, math.inf)


# -- the wait -------------------------------------------------------------------------------
def test_signal_wait_ends_when_the_spectra_stop_changing(RE, lab):  # noqa: N803
    at_temperature(lab)
    start = pumped(lab)
    hook = washout(lab, band(420, 0.4), band(480, 0.6), start=start, width=0.25)
    lab.on_acquire.append(hook)
    results = []

    def plan():
        results.append((yield from wait_for_signal(
            lab.reactor, [lab.uvvis], one_volume_ml=ONE_VOLUME, max_volumes=3)))
        results.append((pumped(lab) - start) / ONE_VOLUME)

    RE(plan())
    outcome, volumes_pumped = results
    assert outcome.rule == "signal"
    assert MIN_VOLUMES < outcome.volumes < 3
    assert volumes_pumped >= outcome.volumes - 1e-9
    assert outcome.drift <= 4
    # the change still to come after the last spectrum is below the noise
    assert 0.6 * math.exp(-hook.volumes[-1] / 0.25) < 2 * NOISE
    # the volumes recorded are those pumped when the wait ended, after the last spectrum
    assert hook.volumes[-1] <= outcome.volumes + 1e-9


def test_signal_wait_is_capped_by_the_fixed_count(RE, lab):  # noqa: N803
    at_temperature(lab)
    start = pumped(lab)
    lab.on_acquire.append(washout(lab, band(420, 0.4), band(480, 0.6), start=start,
                                  width=10.0))  # still drifting after three volumes
    results = []

    def plan():
        results.append((yield from wait_for_signal(
            lab.reactor, [lab.uvvis], one_volume_ml=ONE_VOLUME, max_volumes=2)))
        results.append((pumped(lab) - start) / ONE_VOLUME)

    RE(plan())
    outcome, volumes_pumped = results
    assert outcome.rule == "max_volumes"
    assert 2 <= outcome.volumes < 2.3  # the cap, plus what flowed during a measurement
    assert volumes_pumped >= 2 - 1e-9
    assert outcome.checks <= 1 + round((2 - MIN_VOLUMES) / 0.25)


def test_without_a_signal_detector_the_wait_is_the_fixed_one(RE, lab):  # noqa: N803
    at_temperature(lab)
    start = pumped(lab)
    results = []

    def plan():
        results.append((yield from wait_for_signal(
            lab.reactor, [], one_volume_ml=ONE_VOLUME, max_volumes=1.5)))

    RE(plan())
    assert results[0].rule == "max_volumes"
    assert (pumped(lab) - start) / ONE_VOLUME >= 1.5 - 1e-9
    assert lab.acquisitions == 0


def test_condition_scan_records_which_rule_ended_the_wait(RE, lab):  # noqa: N803
    # The fake's spectrum is constant per condition: steady at the first comparison.
    docs = []
    RE(condition_scan([lab.uvvis, lab.saxs], lab.reactor,
                      [{"t_nuc": 260.0, "t_growth": 250.0, "reaction_time": 14.0}],
                      steady="signal", progress=False),
       lambda name, doc: docs.append((name, doc)))
    start = next(d for n, d in docs if n == "start")
    descriptor = next(d for n, d in docs if n == "descriptor")
    event = next(d for n, d in docs if n == "event")
    assert start["plan_args"]["steady"] == "signal"
    assert {"steady_rule", "steady_volumes", "steady_drift"} <= set(descriptor["data_keys"])
    assert event["data"]["steady_rule"] == "signal"
    # the first comparison: spectra at 1 and 1.25 volumes, decided at 1.5 (+ what flowed)
    assert MIN_VOLUMES + 0.5 <= event["data"]["steady_volumes"] < MIN_VOLUMES + 1.0


def test_fixed_wait_events_are_unchanged(RE, lab):  # noqa: N803
    docs = []
    RE(condition_scan([lab.uvvis], lab.reactor,
                      [{"t_nuc": 260.0, "t_growth": 250.0, "reaction_time": 14.0}],
                      progress=False),
       lambda name, doc: docs.append((name, doc)))
    descriptor = next(d for n, d in docs if n == "descriptor")
    assert not any(k.startswith("steady_") for k in descriptor["data_keys"])


# -- validation -------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["sometimes", "", 1, None, True])
def test_bad_steady_is_refused_before_anything_moves(lab, bad):
    plan = condition_scan([lab.uvvis], lab.reactor,
                          [{"t_nuc": 260.0, "t_growth": 250.0, "reaction_time": 14.0}],
                          steady=bad)
    with pytest.raises(ConditionError, match=r"steady = .* must be one of fixed, signal"):
        next(plan)


def test_check_arguments_and_drift_tolerance_conflict(lab):
    with pytest.raises(ConditionError, match="must be one of fixed, signal"):
        check_arguments(condition_scan, {"conditions": [], "steady": "auto"})
    plan = condition_scan([lab.uvvis], lab.reactor,
                          [{"t_nuc": 260.0, "t_growth": 250.0, "reaction_time": 14.0}],
                          steady="signal", drift_tolerance=0.01)
    with pytest.raises(ConditionError, match="give one or the other"):
        next(plan)


def test_queue_annotation_offers_the_two_rules():
    from msc_bluesky.qserver.annotations import annotation_for

    entry = annotation_for(condition_scan)["parameters"]["steady"]
    assert entry["enums"] == {"SteadyRules": ["fixed", "signal"]}
    assert entry["annotation"] == "SteadyRules"


def test_campaign_steps_get_the_rule_unless_they_choose_their_own():
    from msc_bluesky.campaign.definition import (
        CampaignStep,
        check_campaign,
        paper_campaign,
        with_steady,
    )

    steps = with_steady(paper_campaign(quick=True), "signal")
    assert all(step.kwargs["steady"] == "signal" for step in steps)
    check_campaign(steps)  # every plan of a campaign accepts the option
    own = [
        CampaignStep("fixed here", "condition_scan", ("uvvis",),
                     {"conditions": [{"t_nuc": 280.0, "t_growth": 270.0,
                                      "reaction_time": 14.0}], "steady": "fixed"}),
        CampaignStep("drift check", "condition_scan", ("uvvis",),
                     {"conditions": [{"t_nuc": 280.0, "t_growth": 270.0,
                                      "reaction_time": 14.0}], "drift_tolerance": 0.01}),
    ]
    kept = with_steady(own, "signal")
    assert kept[0].kwargs["steady"] == "fixed"
    assert "steady" not in kept[1].kwargs
    with pytest.raises(ConditionError, match="must be one of fixed, signal"):
        with_steady(own, "sometimes")


def test_slow_measurements_make_the_next_condition_take_the_fixed_wait(RE, lab):  # noqa: N803
    # A measurement that costs about a residence volume (here: a slow detector; on the
    # simulated IOC at time scale 100: 1.5 s residence times) leaves no room for two
    # measurements between the minimum and the cap. Two conditions learn it; the next
    # one flushes to the cap without measuring, and its volumes are those pumped.
    from msc_bluesky.plans.steady import SteadyPace

    at_temperature(lab)

    def slow(name, count):  # the detector returns once 1.2 volumes have flowed
        start, flowed = pumped(lab), threading.Event()

        def check(**kwargs):
            if pumped(lab) >= start + 1.2 * ONE_VOLUME:
                flowed.set()

        cid = lab.reactor.pump_cd.dispensed.subscribe(check, run=False)
        try:
            assert flowed.wait(timeout=10)
        finally:
            lab.reactor.pump_cd.dispensed.unsubscribe(cid)

    lab.on_acquire.append(slow)
    pace = SteadyPace()
    results = []

    def plan():
        for _ in range(3):
            before = lab.acquisitions
            start = pumped(lab)
            outcome = yield from wait_for_signal(lab.reactor, [lab.uvvis],
                                                 one_volume_ml=ONE_VOLUME, max_volumes=3,
                                                 pace=pace)
            results.append((outcome, lab.acquisitions - before,
                            (pumped(lab) - start) / ONE_VOLUME))

    RE(plan())
    (_, measured_first, _), (_, measured_second, _), (third, measured_third, pumped_third) = (
        results)
    assert measured_first >= 1 and measured_second >= 1  # one slow step is not trusted
    assert 1.0 < pace.predict(float(sum(p.readback.get() for p in lab.reactor.pumps))) < 3
    assert measured_third == 0
    assert third.rule == "max_volumes" and third.checks == 0
    assert 3 <= third.volumes <= pumped_third + 1e-9


# -- the event after a signal-ended wait ----------------------------------------------------
def _noisy_constant(lab, *, level: float = 0.5):
    """Spectrometer hook: a steady cell, each acquisition with its own noise (kept)."""
    rng = np.random.default_rng(11)

    def hook(name, count):
        if name == "uvvis":
            spectrum = level + NOISE * rng.standard_normal(WAVELENGTH.size)
            lab.uvvis.absorbance.sim_put(spectrum)
            hook.spectra.append(spectrum)

    hook.spectra = []
    return hook


def _collect(RE, plan):  # noqa: N803
    docs, messages = [], []
    RE.msg_hook = messages.append
    try:
        RE(plan, lambda name, doc: docs.append((name, doc)))
    finally:
        RE.msg_hook = None
    return docs, messages


def test_a_signal_ended_wait_gives_its_last_measurement_as_the_event(RE, lab):  # noqa: N803
    hook = _noisy_constant(lab)
    lab.on_acquire.append(hook)
    docs, messages = _collect(RE, condition_scan(
        [lab.uvvis], lab.reactor, [{"t_nuc": 260.0, "t_growth": 250.0, "reaction_time": 14.0}],
        steady="signal", progress=False))
    event = next(d for n, d in docs if n == "event")
    assert event["data"]["steady_rule"] == "signal"
    # only the wait's measurements were taken: none after it for the event
    compared = [m for m in messages if m.command == "read" and m.obj is lab.uvvis.absorbance]
    assert lab.acquisitions == len(compared) == len(hook.spectra) >= 2
    last_read = max(i for i, m in enumerate(messages) if m is compared[-1])
    after_wait = messages[last_read:]
    assert not [m for m in after_wait if m.command == "trigger" and m.obj is lab.uvvis]
    # and the event holds the spectrum that ended the wait, not an earlier one
    np.testing.assert_array_equal(event["data"]["uvvis_absorbance"], hook.spectra[-1])
    assert not np.array_equal(hook.spectra[-1], hook.spectra[-2])


def test_a_capped_wait_acquires_anew_for_the_event(RE, lab):  # noqa: N803
    at_temperature(lab)
    # a washout too slow to agree before the cap of 1.5 volumes
    lab.on_acquire.append(washout(lab, band(420, 0.4), band(480, 0.6), start=pumped(lab),
                                  width=50.0))
    docs, messages = _collect(RE, condition_scan(
        [lab.uvvis], lab.reactor, [{"t_nuc": 250.0, "t_growth": 250.0, "reaction_time": 14.0}],
        steady="signal", residence_volumes=1.5, progress=False))
    event = next(d for n, d in docs if n == "event")
    assert event["data"]["steady_rule"] == "max_volumes"
    compared = [m for m in messages if m.command == "read" and m.obj is lab.uvvis.absorbance]
    assert lab.acquisitions == len(compared) + 1  # the event's own acquisition


def test_steady_record_uses_the_last_measurement_once():
    from msc_bluesky.plans.steady import SteadyOutcome, SteadyRecord

    class Detector:
        triggers = 0

        def trigger(self):
            from ophyd.status import StatusBase

            Detector.triggers += 1
            status = StatusBase()
            status.set_finished()
            return status

    record = SteadyRecord(name="steady", detectors=[Detector(), Detector()])
    record.record(SteadyOutcome("signal", 1.5, 1.0, checks=2))
    assert record.trigger().done and Detector.triggers == 0
    # a replayed trigger (resume after a pause) acquires anew
    record.trigger().wait(timeout=5)
    assert Detector.triggers == 2
    # the cap, or a signal outcome without a measurement, acquires too
    record.record(SteadyOutcome("max_volumes", 3.0, math.nan, checks=3))
    record.trigger().wait(timeout=5)
    record.record(SteadyOutcome("signal", 1.5))
    record.trigger().wait(timeout=5)
    assert Detector.triggers == 6
    assert (record.reused, record.acquired) == (1, 3)


def test_a_point_retaken_after_a_suspension_is_a_reading_after_the_recovery(RE, lab):  # noqa: N803
    # T_nuc leaves its band while the event is read; the point is re-taken after the
    # recovery's wait, and the event holds a spectrum measured after the excursion.
    hook = _noisy_constant(lab)
    lab.on_acquire.append(hook)
    excursion = {}

    def on_msg(msg):
        messages.append(msg)
        if msg.command == "create" and not excursion:
            heater = lab.reactor.t_nuc
            good = heater.readback.get()
            excursion["acquisitions"] = lab.acquisitions
            heater.readback.sim_put(good - 40.0)
            threading.Timer(0.3, heater.readback.sim_put, args=(good,)).start()

    messages, docs = [], []
    RE.msg_hook = on_msg
    try:
        RE(condition_scan([lab.uvvis], lab.reactor,
                          [{"t_nuc": 260.0, "t_growth": 250.0, "reaction_time": 14.0}],
                          steady="signal", progress=False),
           lambda name, doc: docs.append((name, doc)))
    finally:
        RE.msg_hook = None
    events = [d for n, d in docs if n == "event"]
    assert len(events) == 1 and docs[-1][1]["exit_status"] == "success"
    flushes = [m for m in messages if m.command == "set" and m.obj is lab.reactor.flush]
    assert flushes[-1] is not flushes[0]  # the recovery flushed again
    assert lab.acquisitions > excursion["acquisitions"]  # measured again after it
    np.testing.assert_array_equal(events[0]["data"]["uvvis_absorbance"], hook.spectra[-1])
    assert abs(events[0]["data"]["reactor_t_nuc"] - 260.0) < 5


def test_a_detector_the_wait_does_not_compare_is_triggered_for_the_event(RE, lab):  # noqa: N803
    from ophyd import Component, Device, Signal
    from ophyd.status import StatusBase

    class Thermocouple(Device):
        value = Component(Signal, value=0.0, kind="hinted")
        triggers = 0

        def trigger(self):
            Thermocouple.triggers += 1
            self.value.put(float(Thermocouple.triggers))
            status = StatusBase()
            status.set_finished()
            return status

    extra = Thermocouple(name="thermocouple")
    lab.on_acquire.append(_noisy_constant(lab))
    docs, _ = _collect(RE, condition_scan(
        [lab.uvvis, extra], lab.reactor,
        [{"t_nuc": 260.0, "t_growth": 250.0, "reaction_time": 14.0}],
        steady="signal", progress=False))
    event = next(d for n, d in docs if n == "event")
    assert event["data"]["steady_rule"] == "signal"
    assert Thermocouple.triggers == 1
    assert event["data"]["thermocouple_value"] == 1.0
