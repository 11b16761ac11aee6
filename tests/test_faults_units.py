"""Fast checks of the fault-handling pieces: watchdog bounds, interlock, reasons."""

from __future__ import annotations

import numpy as np
import pytest
from bluesky.utils import FailedStatus
from ophyd.status import Status, StatusTimeoutError

from msc_bluesky.iocs.safety import (
    ALARM_NO_FLOW,
    NoFlowInterlock,
    WatchdogError,
    check_watchdog_timeout,
)
from msc_bluesky.iocs.state import SimState
from msc_bluesky.plans.reasons import describe_failure
from msc_bluesky.plans.watch import ReactorFault
from msc_bluesky.sim.reactor import ReactorWorld


@pytest.mark.parametrize("bad", [1e9, -1.0, float("nan"), float("inf"), "soon"])
def test_watchdog_timeout_bounded_with_allowed_range(bad):
    with pytest.raises(WatchdogError, match=r"allowed: > 0 and <= 1000 simulated s"):
        check_watchdog_timeout(bad, 100.0, may_disable=False)


def test_watchdog_zero_only_when_started_without_one():
    with pytest.raises(WatchdogError, match="--no-watchdog"):
        check_watchdog_timeout(0, 100.0, may_disable=False)
    assert check_watchdog_timeout(0, 100.0, may_disable=True) == 0.0
    assert check_watchdog_timeout(1000.0, 100.0, may_disable=False) == 1000.0


def test_ioc_state_defaults_armed_watchdog_and_heaters_off():
    st = SimState(time_scale=100.0)
    try:
        assert st.world.watchdog_timeout == pytest.approx(500.0)
        assert not any(h.enabled for h in st.world.heaters.values())
    finally:
        st.close()


def _hot_world() -> ReactorWorld:
    world = ReactorWorld(rng=np.random.default_rng(0))
    world.heaters["nucleation"].ramp_rate = 100.0
    world.heaters["nucleation"].set_setpoint(200.0)
    return world


def test_interlock_trips_after_grace_without_flow():
    world = _hot_world()
    lock = NoFlowInterlock(grace_s=30.0)
    for t in np.arange(0.5, 40.0, 0.5):
        world.advance(float(t))
        lock.check(world)
    assert lock.tripped and lock.reason == "pumps stopped"
    assert not any(h.enabled for h in world.heaters.values())
    assert lock.status.startswith("INTERLOCK: no flow")


def test_interlock_quiet_while_liquid_flows():
    world = _hot_world()
    world.pumps["cd"].set_setpoint(1.0)
    world.start_pump("cd")
    lock = NoFlowInterlock(grace_s=30.0)
    for t in np.arange(0.5, 100.0, 0.5):
        world.advance(float(t))
        lock.check(world)
    assert not lock.tripped
    assert world.heaters["nucleation"].enabled


def test_sim_state_reports_interlock_alarm():
    st = SimState(time_scale=100.0)
    try:
        st.interlock.tripped, st.interlock.reason = True, "cd+se dry"
        assert st.alarm == ALARM_NO_FLOW
        assert st.status == "INTERLOCK: no flow (cd+se dry)"
        st.switched_on()
        assert st.alarm == 0
    finally:
        st.close()


class _Named:
    name = "reactor_flush"


def test_reasons_unwrap_failed_status():
    status = Status(_Named(), timeout=0.05)
    with pytest.raises(StatusTimeoutError):
        status.wait(5)
    assert describe_failure(FailedStatus(status)) == "reactor_flush did not finish within 0.05 s"
    faulted = Status(_Named())
    faulted.set_exception(ReactorFault("pump_cd ran dry during the flush"))
    assert describe_failure(FailedStatus(faulted)) == "pump_cd ran dry during the flush"
    assert describe_failure(RuntimeError("detector broke")) == "detector broke"


@pytest.mark.parametrize("bad", [True, "soon", -1.0, 601.0, float("nan"), None])
def test_pause_standby_is_a_bounded_number(bad):
    from msc_bluesky.session import SessionConfig

    with pytest.raises(ValueError, match="pause_standby_s must be"):
        SessionConfig(pause_standby_s=bad, devices=False)


def test_halt_records_a_reason_in_the_stop_document():
    import bluesky.plan_stubs as bps
    from bluesky import RunEngine
    from bluesky.utils import RunEngineInterrupted

    from msc_bluesky.devices.engine_states import HALT_REASON, ReactorStateHook

    RE = RunEngine({}, context_managers=[])  # noqa: N806
    RE.state_hook = ReactorStateHook(RE)  # no reactor: only the reason
    stops = []
    RE.subscribe(lambda name, doc: stops.append(doc) if name == "stop" else None)

    def plan():
        yield from bps.open_run()
        yield from bps.checkpoint()
        yield from bps.pause()
        yield from bps.close_run()

    with pytest.raises(RunEngineInterrupted):
        RE(plan())
    RE.halt()
    assert stops[-1]["exit_status"] == "abort" and stops[-1]["reason"] == HALT_REASON
