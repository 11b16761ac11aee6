"""Plans against the simulated IOC subprocess (caproto), through the real devices."""

from __future__ import annotations

import numpy as np
import pytest
from ophyd.sim import SynSignal

from msc_bluesky.instrument import reactor as make_reactor
from msc_bluesky.instrument import saxs as make_saxs
from msc_bluesky.instrument import uvvis as make_uvvis
from msc_bluesky.plans import reaction_time_series, temperature_grid

launcher = pytest.importorskip(
    "msc_bluesky.iocs.launcher", reason="the simulated IOC (issue 3) is not in the tree"
)

pytestmark = pytest.mark.integration

TIME_SCALE = 500.0
CONNECT_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def ioc():
    with launcher.SimulatedIOC(time_scale=TIME_SCALE) as server:
        yield server


@pytest.fixture(scope="module")
def devices(ioc):
    built = make_reactor(ioc.prefix), make_uvvis(ioc.prefix), make_saxs(ioc.prefix)
    for device in built:
        device.wait_for_connection(timeout=CONNECT_TIMEOUT_S)
    return built


def collect(RE, plan):  # noqa: N803
    docs: list[tuple[str, dict]] = []
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    error = None
    try:
        RE(plan)
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        error = exc
    return docs, error


def assert_reactor_safe(reactor):
    assert [int(h.enable.get(use_monitor=False)) for h in reactor.heaters] == [0, 0]
    assert [int(p.run.get(use_monitor=False)) for p in reactor.pumps] == [0, 0]


def assert_complete_event(data):
    for key in ("reactor_t_nuc", "reactor_t_growth", "reactor_t_nuc_setpoint",
                "reactor_t_growth_setpoint", "reactor_reaction_time",
                "reactor_reaction_time_setpoint", "reactor_pump_cd_flow",
                "reactor_pump_se_flow", "saxs_transmission"):
        assert np.isfinite(data[key]), key
    assert np.asarray(data["uvvis_absorbance"]).shape == (1000,)
    assert np.asarray(data["saxs_intensity"]).shape == (300,)
    assert np.asarray(data["saxs_intensity_sigma"]).shape == (300,)
    assert np.all(np.isfinite(data["uvvis_absorbance"]))
    assert np.all(np.asarray(data["saxs_intensity"]) > 0)
    # the measurement was taken at the requested condition
    assert abs(data["reactor_t_nuc"] - data["reactor_t_nuc_setpoint"]) < 1.0
    assert abs(data["reactor_t_growth"] - data["reactor_t_growth_setpoint"]) < 1.0
    assert data["reactor_reaction_time"] == pytest.approx(
        data["reactor_reaction_time_setpoint"], rel=1e-3
    )


def test_temperature_grid_completes_and_leaves_heaters_in_standby(RE, devices):
    reactor, uvvis, saxs = devices
    docs, error = collect(
        RE, temperature_grid([uvvis, saxs], reactor, [260, 280], 14.0, growth_steps=3)
    )
    assert error is None
    start, stop = docs[0][1], docs[-1][1]
    events = [d["data"] for n, d in docs if n == "event"]
    assert len(events) == 6 == start["num_points"]
    assert stop["exit_status"] == "success"
    for data in events:
        assert_complete_event(data)
    got = [(e["reactor_t_nuc_setpoint"], e["reactor_t_growth_setpoint"]) for e in events]
    assert got == [(tn, tn - 10.0 * k) for tn in (260.0, 280.0) for k in range(3)]
    geometry = start["reactor_geometry"]
    assert geometry["nucleation_volume_ml"] + geometry["growth_volume_ml"] > 0
    descriptor = next(d for n, d in docs if n == "descriptor")
    wavelength = descriptor["configuration"]["uvvis"]["data"]["uvvis_wavelength"]
    assert len(wavelength) == 1000
    assert descriptor["data_keys"]["uvvis_absorbance"]["shape"] == [1000]
    assert_reactor_safe(reactor)


def test_reaction_time_series_sets_flows(RE, devices):
    reactor, uvvis, saxs = devices
    docs, error = collect(
        RE, reaction_time_series([uvvis, saxs], reactor, 280, 280, [4.5, 7.6, 14.0])
    )
    assert error is None
    events = [d["data"] for n, d in docs if n == "event"]
    assert [e["reactor_reaction_time"] for e in events] == pytest.approx(
        [4.5, 7.6, 14.0], rel=1e-3
    )
    for data in events:
        assert_complete_event(data)
        assert data["reactor_pump_cd_flow"] == pytest.approx(data["reactor_pump_se_flow"])
    # longer reaction time -> more material formed (docs/science.md); UV-Vis integrates it
    totals = [float(np.sum(e["uvvis_absorbance"])) for e in events]
    assert totals[-1] > totals[0]
    assert_reactor_safe(reactor)


class BrokenDetector(SynSignal):
    """A readable whose trigger raises from the ``fail_at``-th call on."""

    def __init__(self, fail_at: int, **kwargs):
        super().__init__(func=lambda: 0.0, **kwargs)
        self.fail_at, self.calls = fail_at, 0

    def trigger(self):
        self.calls += 1
        if self.calls >= self.fail_at:
            raise RuntimeError("detector broke mid-scan")
        return super().trigger()


def test_exception_mid_scan_keeps_events_and_leaves_reactor_safe(RE, devices):
    reactor, uvvis, saxs = devices
    broken = BrokenDetector(3, name="broken")
    docs, error = collect(
        RE, temperature_grid([uvvis, saxs, broken], reactor, [250, 270], 4.5, growth_steps=2)
    )
    assert isinstance(error, RuntimeError)
    events = [d["data"] for n, d in docs if n == "event"]
    assert len(events) == 2
    for data in events:
        assert_complete_event(data)
    stop = docs[-1][1]
    assert stop["exit_status"] == "fail" and "detector broke" in stop["reason"]
    assert_reactor_safe(reactor)


def test_monitored_detector_data_are_those_of_the_acquisition_just_finished(devices):
    # The detectors' data waveforms are monitored (a read needs no round trip). A
    # finished trigger must always find the new data in the monitor cache: compare
    # with a fresh Channel Access get after each of several acquisitions (each carries
    # its own noise, so stale data would differ).
    _reactor, uvvis, saxs = devices
    monitored = (uvvis.absorbance, uvvis.counts, saxs.intensity, saxs.intensity_sigma)
    assert all(s._auto_monitor for s in monitored)
    checked = {"uvvis": [], "saxs": []}
    for _ in range(6):
        for det, signals in ((uvvis, (uvvis.absorbance, uvvis.counts)),
                             (saxs, (saxs.intensity, saxs.intensity_sigma))):
            det.trigger().wait(timeout=30)
            cached = [np.asarray(s.get()) for s in signals]
            fresh = [np.asarray(s.get(use_monitor=False)) for s in signals]
            for c, f in zip(cached, fresh, strict=True):
                np.testing.assert_array_equal(c, f)
            checked[det.name].append(cached[0])
    for curves in checked.values():  # the acquisitions did give new data each time
        assert not np.array_equal(curves[-1], curves[-2])
