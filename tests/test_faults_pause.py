"""Pauses with a real IOC: abort/stop/halt while suspended, and a long pause.

- A run suspended by a dry pump waits for recovery with the heaters in standby; a
  person pauses it and aborts, stops or halts: the reason is kept, ``exit_status`` is
  right and the reactor is safe within 15 s.
- A RunEngine paused for longer than ``pause_standby_s`` puts the heaters in standby
  (:class:`~msc_bluesky.devices.engine_states.ReactorStateHook`); the resumed plan
  refuses to re-take the point on the cooling reactor (the run fails with that reason).
"""

from __future__ import annotations

import time

import pytest
from bluesky.utils import RunEngineInterrupted
from faults_support import CONDITION, Rig, wait_until

from msc_bluesky.devices.engine_states import HALT_REASON, ReactorStateHook
from msc_bluesky.plans import condition_scan
from msc_bluesky.plans.reasons import STOP_REASON

pytestmark = [pytest.mark.integration, pytest.mark.faults]

SAFE_S = 15.0


@pytest.fixture
def rig():
    r = Rig()
    r.saxs.exposure_time.set(200.0).wait(timeout=10)  # 2 s exposures: a fault lands inside
    yield r
    r.close()


def scan(r: Rig):
    return condition_scan([r.uvvis, r.saxs], r.reactor, [CONDITION], progress=False)


def _write(r: Rig, pv: str, value) -> None:
    from caproto.sync.client import write

    from msc_bluesky.iocs.launcher import _loopback_environment

    with _loopback_environment(r.ioc.port):
        write(r.prefix + pv, value, notify=True, repeater=False)


EXPECTED = {
    "abort": ("abort", "pump_cd clogged, line cleaned"),
    "stop": ("success", STOP_REASON),
    "halt": ("abort", HALT_REASON),
}


@pytest.mark.parametrize("action", ["abort", "stop", "halt"])
def test_abort_stop_halt_while_suspended(RE, rig, action):  # noqa: N803
    r = rig
    RE.state_hook = ReactorStateHook(RE, r.reactor)  # what every session installs
    seen: dict[str, float] = {}

    def dry_then_pause() -> None:  # pump_cd runs dry mid-exposure: the run suspends
        _write(r, "reactor:pump_cd:capacity", 0.001)
        _write(r, "reactor:pump_cd:refill", 1)
        seen["standby_s"] = wait_until(r.reactor_safe, SAFE_S, "standby while suspended")
        # the suspension's standby is done and the run waits for the pump to recover
        wait_until(lambda: "wait_for" in r.commands, SAFE_S, "the wait for recovery")
        RE.request_pause()  # Ctrl-C / re_pause while the run waits for recovery

    out = r.run(RE, scan(r), at="acquisition", fault=dry_then_pause)
    assert isinstance(out.error, RunEngineInterrupted) and RE.state == "paused"
    assert seen["standby_s"] <= SAFE_S
    start = time.monotonic()
    if action == "abort":
        RE.abort(EXPECTED["abort"][1])
    else:
        getattr(RE, action)()
    exit_status, reason = EXPECTED[action]
    assert (out.stop["exit_status"], out.stop["reason"]) == (exit_status, reason)
    assert out.events == 0
    wait_until(r.reactor_safe, SAFE_S, f"safe after RE.{action}()")
    assert time.monotonic() - start <= SAFE_S


def test_long_pause_puts_heaters_in_standby_and_resume_refuses_to_measure(RE, rig):  # noqa: N803
    r = rig
    hook = ReactorStateHook(RE, r.reactor, pause_standby_s=1.0)
    RE.state_hook = hook
    out = r.run(RE, scan(r), at="acquisition", fault=RE.request_pause)
    assert isinstance(out.error, RunEngineInterrupted) and RE.state == "paused"
    paused_at = time.monotonic()
    safe_s = wait_until(r.reactor_safe, 1.0 + SAFE_S, "standby after a long pause")
    assert time.monotonic() - paused_at >= 0.9  # the grace time first
    assert hook.standby_on_pause == 1 and safe_s <= 1.0 + SAFE_S

    start = time.monotonic()
    with pytest.raises(Exception, match="heater is in standby at the start of the acquisition"):
        RE.resume()  # the point would be re-taken on a cooling reactor: refused
    assert time.monotonic() - start <= 10.0
    assert out.stop["exit_status"] == "fail" and out.events == 0
    assert out.stop["reason"].startswith("reactor_t_nuc heater is in standby at the start")
    assert "run the plan again" in out.stop["reason"]
    assert r.reactor_safe()
