"""The client heartbeat keeps the reactor IOC's watchdog quiet; without it, heaters stop."""

from __future__ import annotations

import threading
import time

import pytest

from msc_bluesky.devices.heartbeat import Heartbeat

pytestmark = pytest.mark.integration

WATCHDOG_SIM_S = 150.0  # 1.5 s of wall time at time scale 100


def wait_until(condition, timeout: float, what: str) -> None:
    pause = threading.Event()
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        pause.wait(0.05)


def test_heartbeat_keeps_watchdog_quiet_and_silence_trips_it():
    from msc_bluesky.instrument import reactor
    from msc_bluesky.iocs.launcher import SimulatedIOC

    with SimulatedIOC(time_scale=100.0, extra_args=("--watchdog", f"{WATCHDOG_SIM_S:g}")) as ioc:
        r = reactor(prefix=ioc.prefix)
        r.wait_for_connection(timeout=30)
        beat = Heartbeat(r.heartbeat, period_s=0.2).start()
        try:
            r.t_nuc.set(60.0).wait(timeout=60)
            start = r.sim_time.get()
            wait_until(lambda: r.sim_time.get() > start + 3 * WATCHDOG_SIM_S, 30,
                       "three watchdog periods of simulated time")
            assert r.alarm.get() == 0
            assert r.t_nuc.enable.get() == 1
            assert beat.beats >= 3
        finally:
            beat.stop()
        assert not beat.running
        wait_until(lambda: r.alarm.get() == 1, 30, "the watchdog to trip")
        wait_until(lambda: r.t_nuc.enable.get() == 0, 10, "heaters to standby")


def test_heartbeat_period_must_be_positive():
    with pytest.raises(ValueError, match="> 0 s"):
        Heartbeat(object(), period_s=0)


def test_session_config_heartbeat_from_env_and_validation():
    from msc_bluesky.session import SessionConfig

    assert SessionConfig().heartbeat_s == 1.0  # on by default; 0 switches it off
    assert SessionConfig.from_env({"MSC_HEARTBEAT_S": "0"}).heartbeat_s == 0.0
    assert SessionConfig.from_env({"MSC_HEARTBEAT_S": "0.5"}).heartbeat_s == 0.5
    with pytest.raises(ValueError, match="heartbeat_s must be >= 0 s"):
        SessionConfig(heartbeat_s=-1)
    with pytest.raises(ValueError, match="number of seconds"):
        SessionConfig(heartbeat_s="often")
