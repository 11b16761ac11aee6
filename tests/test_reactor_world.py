"""The reactor in time (msc_bluesky.sim.reactor): pure numpy, no EPICS."""

from __future__ import annotations

import math

import numpy as np
import pytest

from msc_bluesky.limits import ConditionError
from msc_bluesky.sim.detectors import (
    absorbance_from_counts,
    detector_image,
    measure_counts,
    pixel_q_per_nm,
)
from msc_bluesky.sim.geometry import ReactorGeometry
from msc_bluesky.sim.kinetics import simulate_kinetics
from msc_bluesky.sim.measurement import default_q_per_nm, default_wavelength_nm
from msc_bluesky.sim.optics import absorbance_spectrum
from msc_bluesky.sim.reactor import Heater, Pump, PumpError, ReactorWorld

WL = default_wavelength_nm()


def _run_until(world: ReactorWorld, condition, *, step: float = 0.25, limit: float = 1e4) -> None:
    """Advance the world in steps until ``condition()`` holds (fails after ``limit`` s)."""
    end = world.time + limit
    while not condition():
        assert world.time < end, "condition not reached in simulated time"
        world.advance(world.time + step)


def _start_flow(world: ReactorWorld, total_ml_min: float) -> None:
    for pump in world.pumps.values():
        pump.set_setpoint(total_ml_min / 2)
        world.start_pump(pump.name)


# -- heaters ----------------------------------------------------------------------------
def test_heater_ramps_at_rate_then_settles():
    h = Heater("nucleation", ambient_c=25.0, ramp_rate=2.0, tolerance=0.5, settle_time=5.0)
    h.set_setpoint(100.0)
    h.advance(5.0)
    assert h.readback == pytest.approx(35.0)
    assert not h.at_temperature
    h.advance(32.5)  # 75 °C at 2 °C/s takes 37.5 s in all
    assert h.readback == pytest.approx(100.0)
    # In band since 37.25 s: not yet settled for 5 s.
    h.advance(4.0)
    assert h.in_band() and not h.at_temperature
    h.advance(1.0)
    assert h.at_temperature


def test_setpoint_put_drops_at_temperature_even_to_same_value():
    h = Heater("growth", ambient_c=25.0, ramp_rate=10.0, settle_time=2.0)
    h.set_setpoint(30.0)
    h.advance(10.0)
    assert h.at_temperature
    h.set_setpoint(30.0)
    assert not h.at_temperature
    h.advance(1.0)
    assert not h.at_temperature
    h.advance(1.5)
    assert h.at_temperature


def test_disabled_heater_cools_toward_ambient():
    h = Heater("growth", ambient_c=25.0, ramp_rate=100.0, settle_time=0.0)
    h.set_setpoint(200.0)
    h.advance(5.0)
    assert h.at_temperature
    h.enable(False)
    readings = []
    for _ in range(5):
        h.advance(60.0)
        readings.append(h.readback)
    assert not h.at_temperature
    assert all(a > b for a, b in zip(readings, readings[1:], strict=False))
    assert 25.0 < readings[-1] < 60.0


@pytest.mark.parametrize("bad", [19.9, 360.1, math.nan, math.inf, -math.inf])
def test_heater_setpoint_limits(bad):
    h = Heater("nucleation")
    h.set_setpoint(150.0)
    with pytest.raises(ConditionError, match="20–360"):
        h.set_setpoint(bad)
    assert h.setpoint == 150.0


@pytest.mark.parametrize("attr, bad", [("ramp_rate", 0.0), ("ramp_rate", math.nan),
                                       ("tolerance", -1.0), ("settle_time", math.inf)])
def test_heater_configuration_refused(attr, bad):
    h = Heater("nucleation")
    before = getattr(h, attr)
    with pytest.raises(ValueError, match=attr):
        setattr(h, attr, bad)
    assert getattr(h, attr) == before


# -- pumps ------------------------------------------------------------------------------
def test_pump_dispenses_and_runs_dry():
    p = Pump("cd", capacity_ml=1.0)
    p.set_setpoint(6.0)  # 0.1 mL/s
    assert p.flow == 0.0
    p.start()
    assert p.advance(4.0) == pytest.approx(0.4)
    assert p.volume_left == pytest.approx(0.6)
    assert p.time_to_empty() == pytest.approx(6.0)
    p.advance(100.0)
    assert p.dry and not p.running and p.flow == 0.0
    assert p.volume_left == 0.0 and p.dispensed == pytest.approx(1.0)
    with pytest.raises(PumpError, match="refill"):
        p.start()
    p.refill()
    assert not p.dry and p.volume_left == pytest.approx(1.0)
    p.start()
    assert p.flow == 6.0


@pytest.mark.parametrize("bad", [-0.1, 10.5, math.nan, math.inf])
def test_pump_setpoint_limits(bad):
    p = Pump("se")
    p.set_setpoint(3.0)
    with pytest.raises(ValueError, match="0 and <= 10"):
        p.set_setpoint(bad)
    assert p.setpoint == 3.0


# -- the world --------------------------------------------------------------------------
def test_reaction_time_follows_flow_readbacks():
    world = ReactorWorld()
    assert world.reaction_time == math.inf
    _start_flow(world, 12.0)
    assert world.reaction_time == pytest.approx(1.5)
    world.pumps["se"].stop()
    assert world.reaction_time == pytest.approx(3.0)


def test_dry_pump_stops_exactly_and_raises_alarm():
    world = ReactorWorld(reservoir_ml=0.5)
    _start_flow(world, 12.0)  # 0.1 mL/s per pump: empty after 5 s
    world.advance(60.0)
    assert world.pumps["cd"].dry and world.pumps["se"].dry
    assert world.volume_pumped == pytest.approx(1.0)
    assert world.alarm == 2 and "PUMP DRY" in world.status
    assert world.reaction_time == math.inf
    world.pumps["cd"].refill()
    world.pumps["se"].refill()
    assert world.alarm == 0


def test_advance_does_not_depend_on_step_size():
    def scenario(steps: int) -> ReactorWorld:
        world = ReactorWorld(reservoir_ml=2.0)
        world.heaters["nucleation"].set_setpoint(150.0)
        world.heaters["growth"].set_setpoint(120.0)
        _start_flow(world, 5.0)
        for t in np.linspace(0.0, 80.0, steps + 1)[1:]:
            world.advance(t)
        return world

    coarse, fine = scenario(1), scenario(400)
    for zone in ("nucleation", "growth"):
        assert coarse.heaters[zone].readback == pytest.approx(fine.heaters[zone].readback)
        assert coarse.heaters[zone].at_temperature == fine.heaters[zone].at_temperature
    assert coarse.volume_pumped == pytest.approx(fine.volume_pumped)
    assert coarse.pumps["cd"].dry == fine.pumps["cd"].dry


def test_time_cannot_go_backwards():
    world = ReactorWorld()
    world.advance(10.0)
    with pytest.raises(ValueError, match="before the current time"):
        world.advance(5.0)


def test_watchdog_trips_at_timeout_and_heartbeat_prevents_it():
    world = ReactorWorld()
    world.watchdog_timeout = 30.0
    world.heaters["nucleation"].set_setpoint(200.0)
    _start_flow(world, 4.0)
    world.advance(20.0)
    world.heartbeat()
    world.advance(45.0)
    assert world.alarm == 0 and world.heaters["nucleation"].enabled
    world.advance(50.1)
    assert world.watchdog_tripped and world.alarm == 1
    assert not world.heaters["nucleation"].enabled and not world.heaters["growth"].enabled
    assert all(not p.running for p in world.pumps.values())
    assert "WATCHDOG" in world.status
    world.enable_heater("nucleation")
    assert world.alarm == 0


def test_watchdog_off_by_default_and_standby():
    world = ReactorWorld()
    world.heaters["growth"].set_setpoint(100.0)
    _start_flow(world, 4.0)
    world.advance(3600.0)
    assert world.alarm == 0 and world.heaters["growth"].enabled
    world.standby()
    assert not any(h.enabled for h in world.heaters.values())
    assert not any(p.running for p in world.pumps.values())
    assert world.status.startswith("standby")


def test_cell_starts_with_precursor_only():
    world = ReactorWorld()
    contents = world.cell_composition()
    assert contents.is_steady
    assert contents.dominant.unreacted_fraction > 0.99
    assert contents.temperature_c == pytest.approx(25.0)


def test_flow_cell_mixes_after_a_change_and_flushes_in_three_volumes():
    world = ReactorWorld()
    for h in world.heaters.values():
        h.ramp_rate = 100.0
        h.set_setpoint(280.0)
    _start_flow(world, 4.0)  # 4.5 s reaction time
    _run_until(world, lambda: world.volume_pumped > 4 * world.residence_volume_ml)
    old = world.cell_spectrum(WL)
    expected_old = absorbance_spectrum(simulate_kinetics(280.0, 280.0, 4.5), WL)
    np.testing.assert_allclose(old, expected_old, rtol=1e-9, atol=1e-12)

    for h in world.heaters.values():
        h.set_setpoint(300.0)
    _run_until(world, lambda: all(h.at_temperature for h in world.heaters.values()))
    mixed = world.cell_spectrum(WL)
    expected_new = absorbance_spectrum(simulate_kinetics(300.0, 300.0, 4.5), WL)
    scale = np.abs(expected_new - expected_old).max()
    assert scale > 0.01
    assert np.abs(mixed - expected_old).max() > 0.05 * scale
    assert np.abs(mixed - expected_new).max() > 0.05 * scale
    assert len(world.cell_composition().conditions) > 1

    v_settled = world.volume_pumped
    _run_until(world, lambda: world.volume_pumped >= v_settled + 3 * world.residence_volume_ml)
    np.testing.assert_allclose(world.cell_spectrum(WL), expected_new, rtol=1e-9, atol=1e-12)
    assert world.cell_composition().is_steady


def test_flow_change_changes_cell_after_flush_and_freezes_without_flow():
    world = ReactorWorld()
    for h in world.heaters.values():
        h.ramp_rate = 100.0
        h.set_setpoint(260.0)
    _start_flow(world, 12.0)
    _run_until(world, lambda: world.volume_pumped > 4 * world.residence_volume_ml)
    assert world.cell_conditions()[1][0].reaction_time == pytest.approx(1.5)
    _start_flow(world, 4.0)
    v0 = world.volume_pumped
    _run_until(world, lambda: world.volume_pumped >= v0 + 3.2 * world.residence_volume_ml)
    assert world.cell_conditions()[1][0].reaction_time == pytest.approx(4.5)
    before = world.cell_spectrum(WL)
    for p in world.pumps.values():
        p.stop()
    world.heaters["growth"].set_setpoint(200.0)
    world.advance(world.time + 300.0)
    np.testing.assert_array_equal(world.cell_spectrum(WL), before)


def test_noise_is_deterministic_for_a_seed_and_added_once():
    def noisy(seed: int) -> tuple[np.ndarray, np.ndarray]:
        world = ReactorWorld(rng=np.random.default_rng(seed))
        for h in world.heaters.values():
            h.set_setpoint(250.0)
        _start_flow(world, 6.0)
        world.advance(80.0)
        spectrum = world.cell_spectrum(WL, world.rng)
        intensity, _ = world.cell_saxs(default_q_per_nm(), 2.0, world.rng)
        return spectrum, intensity

    a, b, c = noisy(3), noisy(3), noisy(4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_custom_geometry_sets_residence_volume():
    world = ReactorWorld(ReactorGeometry(0.01, 0.1, 0.02))
    assert world.residence_volume_ml == pytest.approx(0.13)
    _start_flow(world, 6.6)
    assert world.reaction_time == pytest.approx(1.0)


# -- instrument models ------------------------------------------------------------------
def test_spectrometer_counts_round_trip_to_absorbance():
    truth = np.linspace(0.0, 1.5, WL.size)
    rng = np.random.default_rng(0)
    dark = measure_counts(0 * truth, 0.2, 10, WL, None, dark_only=True)
    reference = measure_counts(0 * truth, 0.05, 10, WL, None)
    sample = measure_counts(truth, 0.1, 10, WL, rng)
    a = absorbance_from_counts(sample, 0.1, dark, 0.2, reference, 0.05)
    assert np.abs(a - truth).mean() < 0.01
    quiet = absorbance_from_counts(measure_counts(truth, 0.1, 1, WL, None), 0.1,
                                   dark, 0.2, reference, 0.05)
    np.testing.assert_allclose(quiet, truth, atol=1e-9)


def test_detector_image_azimuthal_average_matches_curve():
    q = default_q_per_nm()
    intensity = 0.02 + 1.0 / (1.0 + (q / 0.5) ** 2)
    image = detector_image(q, intensity).reshape(128, 128)
    qp = pixel_q_per_nm()
    ring = (qp > 1.0) & (qp < 1.05)
    expected = np.interp(qp[ring].mean(), q, intensity)
    assert image[ring].mean() == pytest.approx(expected, rel=0.01)
    assert image[qp > q[-1]].sum() == 0.0


def _washout_after_a_ramp(world: ReactorWorld) -> float:
    """Steady at 280 °C and 14 s, then a 10 °C step of the growth oven (2 °C/s ramp);
    returns the pumped volume (mL) when both heaters have settled."""
    for h in world.heaters.values():
        h.set_setpoint(280.0)
    _start_flow(world, 60.0 * world.reaction_volume_ml / 14.0)
    _run_until(world, lambda: world.volume_pumped > 4 * world.residence_volume_ml)
    world.heaters["growth"].set_setpoint(270.0)
    _run_until(world, lambda: all(h.at_temperature for h in world.heaters.values()))
    return world.volume_pumped


def test_successive_measurements_of_a_washout_share_their_labels():
    # Each new rounded condition in the cell is a kinetics run in the simulated IOC's
    # worker (5-20 ms): measurements that sampled new points of the heater ramp every
    # time took tens to hundreds of ms, i.e. whole residence volumes at time scale 100,
    # and the signal wait ran into its cap. The labels are fixed in the liquid, so after
    # the heaters settle the cell only ever holds conditions it already held (the new
    # steady one included), whatever the volumes at which it is measured.
    world = ReactorWorld()
    settled = _washout_after_a_ramp(world)
    one = world.residence_volume_ml
    _, first = world.cell_conditions()
    assert len(first) > 3  # a mixed cell: old, ramp and new liquid
    seen = set(first)
    for volumes in (0.37, 0.81, 1.13, 1.52, 1.94, 2.41, 3.07):  # off any grid
        _run_until(world, lambda v=volumes: world.volume_pumped >= settled + v * one,
                   step=0.37)
        weights, conditions = world.cell_conditions()
        assert set(conditions) <= seen, volumes
        assert weights.sum() == pytest.approx(1.0)
    assert len(conditions) == 1  # steady after three volumes


def test_idle_ioc_simulates_the_cell_kinetics_before_the_next_acquisition():
    from msc_bluesky.iocs.state import SimState

    state = SimState(time_scale=1.0, no_watchdog=True)  # the test moves the world itself
    try:
        world = state.world
        for zone in world.heaters:
            world.enable_heater(zone)
        world.heaters["growth"].set_setpoint(150.0)
        assert not state.warm_signals()  # nothing flows, a heater ramps: nothing to do
        settled = _washout_after_a_ramp(world)
        assert settled > 0
        assert state.warm_signals()
        state._warming.result(timeout=30)
        cached = len(world._signals._compositions)
        _, conditions = world.cell_conditions()
        for condition in conditions:
            world.composition_for(condition)
        assert len(world._signals._compositions) == cached  # nothing left to simulate
    finally:
        state.close()
