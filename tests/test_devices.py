"""Device classes and factories, without hardware (fake signals from ophyd.sim)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from bluesky.protocols import Configurable, Movable, Readable, Triggerable
from fake_lab import FakeLab
from ophyd.signal import EpicsSignal, EpicsSignalBase

from msc_bluesky import instrument
from msc_bluesky.devices import (
    FlowReactor,
    SAXSDetector,
    UVVisSpectrometer,
    flows_for_reaction_time,
    reaction_time_range,
)
from msc_bluesky.limits import ConditionError

REACTOR_DATA_KEYS = {
    "reactor_t_nuc", "reactor_t_nuc_setpoint", "reactor_t_growth",
    "reactor_t_growth_setpoint", "reactor_reaction_time", "reactor_reaction_time_setpoint",
    "reactor_pump_cd_flow", "reactor_pump_se_flow",
}


@pytest.fixture
def lab():
    fake = FakeLab()
    yield fake
    fake.close()


@pytest.mark.parametrize(
    ("factory", "cls", "suffix"),
    [(instrument.reactor, FlowReactor, "reactor:"),
     (instrument.uvvis, UVVisSpectrometer, "uvvis:"),
     (instrument.saxs, SAXSDetector, "saxs:")],
)
def test_factories_name_prefix_and_protocols(monkeypatch, factory, cls, suffix):
    monkeypatch.setenv("MSC_PREFIX", "ZZTEST:")
    device = factory()
    assert isinstance(device, cls)
    assert device.name == factory.__name__
    assert device.prefix == f"ZZTEST:{suffix}"
    assert factory(prefix="OTHER:").prefix == f"OTHER:{suffix}"
    assert isinstance(device, Readable) and isinstance(device, Configurable)
    if cls is not FlowReactor:
        assert isinstance(device, Triggerable)
    assert not device.connected  # built without waiting for any PV


def test_default_prefix_without_environment(monkeypatch):
    monkeypatch.delenv("MSC_PREFIX", raising=False)
    assert instrument.reactor().prefix == "MSC:reactor:"


def test_every_epics_signal_has_finite_timeouts():
    for device in (instrument.reactor("T:"), instrument.uvvis("T:"), instrument.saxs("T:")):
        for walk in device.walk_signals():
            sig = walk.item
            if not isinstance(sig, EpicsSignalBase):
                continue
            assert math.isfinite(sig.connection_timeout), sig.name
            assert math.isfinite(sig.timeout), sig.name
            if isinstance(sig, EpicsSignal):
                assert sig.write_timeout is not None and math.isfinite(sig.write_timeout)


def test_positioners_are_movable_with_finite_timeouts():
    r = instrument.reactor("T:")
    for positioner in (r.t_nuc, r.t_growth, r.pump_cd, r.pump_se, r.reaction_time, r.flush):
        assert isinstance(positioner, Movable)
    for positioner in (r.t_nuc, r.t_growth, r.pump_cd, r.pump_se):
        assert positioner.timeout is not None and math.isfinite(positioner.timeout)
    assert math.isfinite(r.flush.timeout)


def test_reactor_event_keys_match_contract(lab):
    assert set(lab.reactor.describe()) == REACTOR_DATA_KEYS
    assert set(lab.reactor.read()) == REACTOR_DATA_KEYS
    config = set(lab.reactor.describe_configuration())
    assert {"reactor_volume_nuc", "reactor_volume_growth", "reactor_volume_transfer"} <= config
    assert lab.reactor.hints["fields"] == [
        "reactor_t_nuc", "reactor_t_growth", "reactor_reaction_time"
    ]


def test_detector_keys_kinds_and_waveform_descriptions(lab):
    uv = lab.uvvis.describe()
    assert set(uv) == {"uvvis_absorbance", "uvvis_counts"}
    assert set(lab.uvvis.describe_configuration()) == {
        "uvvis_wavelength", "uvvis_integration_time", "uvvis_averages",
        "uvvis_path_length", "uvvis_dark", "uvvis_reference",
    }
    sx = lab.saxs.describe()
    assert set(sx) == {"saxs_intensity", "saxs_intensity_sigma", "saxs_transmission"}
    assert set(lab.saxs.describe_configuration()) == {"saxs_q", "saxs_exposure_time"}
    for key, n in (("uvvis_absorbance", 1000), ("uvvis_counts", 1000)):
        assert uv[key]["dtype"] == "array" and uv[key]["shape"] == [n]
        assert np.dtype(uv[key]["dtype_numpy"]) == np.float64
    assert sx["saxs_intensity"]["shape"] == [300]
    assert lab.saxs.describe_configuration()["saxs_q"]["shape"] == [300]


def test_saxs_image_omitted_by_default_and_2d_when_enabled(lab):
    assert "saxs_image" not in lab.saxs.describe()
    lab.saxs.image.kind = "normal"
    description = lab.saxs.describe()["saxs_image"]
    assert description["shape"] == [3, 4]
    assert lab.saxs.read()["saxs_image"]["value"].shape == (3, 4)


def test_flows_for_reaction_time_matches_geometry():
    q_cd, q_se = flows_for_reaction_time(1.5, 0.3, 1.0)
    assert q_cd + q_se == pytest.approx(12.0)  # docs/architecture.md: 1.5 s needs 12 mL/min
    q_cd, q_se = flows_for_reaction_time(14.0, 0.3, 2.0)
    assert q_cd / q_se == pytest.approx(2.0)
    assert 0.3 / (q_cd + q_se) * 60 == pytest.approx(14.0)
    assert reaction_time_range(0.3, 10.0, 10.0, 1.0) == pytest.approx(0.9)
    # a 3:1 ratio is limited by the Cd pump: 10 mL/min Cd + 3.33 Se
    assert reaction_time_range(0.3, 10.0, 10.0, 3.0) == pytest.approx(0.3 / (40 / 3) * 60)
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ConditionError, match="reaction_time"):
            flows_for_reaction_time(bad, 0.3)


def test_reaction_time_set_moves_both_pumps_at_fixed_ratio(lab):
    r = lab.reactor
    r.flow_ratio.put(2.0)
    status = r.reaction_time.set(6.0)
    status.wait(timeout=5)
    q_cd, q_se = r.pump_cd.readback.get(), r.pump_se.readback.get()
    assert q_cd / q_se == pytest.approx(2.0)
    assert r.reaction_time.readback.get() == pytest.approx(6.0)
    assert r.reaction_time.setpoint.get() == 6.0
    assert r.pump_cd.run.get() == 1 and r.pump_se.run.get() == 1


def test_reaction_time_too_short_is_refused_with_range(lab):
    with pytest.raises(ConditionError, match=r">= 0\.9"):
        lab.reactor.reaction_time.set(0.5)
    assert lab.reactor.pump_cd.setpoint.get() == 0.0


def test_heater_set_enables_and_finishes_at_temperature(lab):
    heater = lab.reactor.t_nuc
    heater.set(250.0).wait(timeout=5)
    assert heater.readback.get() == 250.0 and heater.enable.get() == 1


def test_flush_waits_for_volume_after_settling(lab):
    r = lab.reactor
    for heater in r.heaters:
        heater.set(200.0).wait(timeout=5)
    r.reaction_time.set(14.0).wait(timeout=5)
    before = r.pump_cd.dispensed.get() + r.pump_se.dispensed.get()
    r.flush.set(0.7).wait(timeout=20)
    after = r.pump_cd.dispensed.get() + r.pump_se.dispensed.get()
    assert after - before >= 0.7


def test_flush_does_not_finish_while_heater_unsettled(lab):
    r = lab.reactor
    r.reaction_time.set(1.0).wait(timeout=5)
    r.t_nuc.done.sim_put(0)
    status = r.flush.set(0.01, timeout=0.3)
    with pytest.raises(Exception):  # noqa: B017 - ophyd raises its own timeout type
        status.wait(timeout=5)
    assert not status.success


def test_detector_trigger_finishes_on_new_array(lab):
    counter = lab.uvvis.array_counter.get()
    lab.uvvis.trigger().wait(timeout=5)
    assert lab.uvvis.array_counter.get() == counter + 1


def test_pump_limit_comes_from_ioc_max_flow(lab):
    pump = lab.reactor.pump_cd
    pump.max_flow.sim_put(20.0)
    pump.set(15.0).wait(timeout=5)
    assert pump.readback.get() == 15.0
    with pytest.raises(ConditionError, match="0–20 mL/min"):
        pump.set(25.0)
