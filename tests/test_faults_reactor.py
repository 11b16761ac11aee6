"""Fault injection with real IOCs: frozen/killed IOC, dry pumps, abort/stop/halt.

Each test starts its own IOC (time scale 100), runs ``condition_scan`` through the real
devices, injects the fault at a phase and asserts the time to the end of the run
(<= 10 s), the stop document's exit status and reason, and the time to a safe reactor
(heaters off; <= 15 s).
"""

from __future__ import annotations

import threading
import time

import pytest
from bluesky.utils import RunEngineInterrupted
from faults_support import CONDITION, Rig, wait_until

from msc_bluesky.plans import condition_scan

pytestmark = [pytest.mark.integration, pytest.mark.faults]

DETECT_S = 10.0
SAFE_S = 15.0
DELAY_S = {"settle": 0.1, "flush": 0.2, "acquisition": 0.3}


@pytest.fixture
def rig():
    made: list[Rig] = []

    def make(*extra_args: str) -> Rig:
        made.append(Rig(extra_args))
        return made[-1]

    yield make
    for r in made:
        r.close()


def scan(r: Rig, **kwargs):
    return condition_scan([r.uvvis, r.saxs], r.reactor, [CONDITION], progress=False, **kwargs)


def long_exposure(r: Rig) -> None:
    """SAXS exposures of 200 simulated s (2 s of wall time), so a fault lands inside."""
    r.saxs.exposure_time.set(200.0).wait(timeout=10)


@pytest.mark.parametrize("phase", ["settle", "flush", "acquisition"])
def test_frozen_ioc_ends_run_and_is_safe_after_it_resumes(RE, rig, phase):  # noqa: N803
    r = rig()
    if phase == "acquisition":
        long_exposure(r)
    out = r.run(RE, scan(r), at=phase, fault=r.freeze, delay=DELAY_S[phase])
    assert out.detect_s <= DETECT_S, out.detect_s
    stop = out.stop
    assert stop["exit_status"] == "fail"
    assert stop["reason"].startswith(f"reactor IOC not responding ({r.prefix}reactor:)")
    assert f"during the {phase}" in stop["reason"]
    assert "Status(" not in stop["reason"]
    r.thaw()
    # The IOC's own watchdog (and the queued safe-state writes) act once it runs again.
    safe_s = wait_until(r.reactor_safe, SAFE_S, "heaters off after SIGCONT")
    assert safe_s <= SAFE_S


@pytest.mark.parametrize("phase", ["settle", "flush", "acquisition"])
def test_killed_ioc_ends_run_with_reason(RE, rig, phase):  # noqa: N803
    r = rig()
    if phase == "acquisition":
        long_exposure(r)
    out = r.run(RE, scan(r), at=phase, fault=r.kill, delay=DELAY_S[phase])
    assert out.detect_s <= DETECT_S, out.detect_s
    assert out.stop["exit_status"] == "fail"
    assert out.stop["reason"].startswith(f"reactor IOC not responding ({r.prefix}reactor:)")
    assert f"during the {phase}" in out.stop["reason"]


def test_both_pumps_dry_during_flush(RE, rig):  # noqa: N803
    # 0.7 mL each: the ramp and settle use ~0.45 mL, the flush needs 0.5 more.
    r = rig("--reservoir-ml", "0.7")
    out = r.run(RE, scan(r))
    assert out.stop["exit_status"] == "fail"
    assert out.stop["reason"] == "pump_cd and pump_se ran dry during the flush"
    assert out.events == 0
    assert r.reactor_safe()


def test_one_pump_dry_during_flush(RE, rig):  # noqa: N803
    r = rig()
    from caproto.sync.client import write

    from msc_bluesky.iocs.launcher import _loopback_environment

    with _loopback_environment(r.ioc.port):
        write(r.prefix + "reactor:pump_se:capacity", 0.7, notify=True, repeater=False)
        write(r.prefix + "reactor:pump_se:refill", 1, notify=True, repeater=False)
    out = r.run(RE, scan(r))
    assert out.stop["exit_status"] == "fail"
    assert out.stop["reason"] == "pump_se ran dry during the flush"
    assert r.reactor_safe()


def _dry_during_acquisition(r: Rig):
    """A fault: pump_cd's reservoir is (almost) empty in the middle of an exposure."""
    from caproto.sync.client import write

    from msc_bluesky.iocs.launcher import _loopback_environment

    def fault() -> None:
        with _loopback_environment(r.ioc.port):
            write(r.prefix + "reactor:pump_cd:capacity", 0.001, notify=True, repeater=False)
            write(r.prefix + "reactor:pump_cd:refill", 1, notify=True, repeater=False)

    return fault


def test_dry_pump_during_acquisition_suspends_in_standby_until_refilled(RE, rig):  # noqa: N803
    r = rig()
    long_exposure(r)
    seen: dict[str, float] = {}
    fault = _dry_during_acquisition(r)

    def then_act() -> None:
        seen["safe_s"] = wait_until(r.reactor_safe, SAFE_S, "standby while suspended")
        from caproto.sync.client import write

        from msc_bluesky.iocs.launcher import _loopback_environment

        with _loopback_environment(r.ioc.port):
            write(r.prefix + "reactor:pump_cd:capacity", 1000, notify=True, repeater=False)
            write(r.prefix + "reactor:pump_cd:refill", 1, notify=True, repeater=False)

    def fault_then_act() -> None:
        fault()
        threading.Thread(target=then_act, daemon=True).start()

    out = r.run(RE, scan(r), at="acquisition", fault=fault_then_act)
    # While it waited for recovery the heaters were in standby.
    assert seen["safe_s"] <= SAFE_S
    # Refilled: the condition is set again, settled, flushed and the point re-taken.
    assert out.error is None
    assert out.stop["exit_status"] == "success" and out.events == 1
    assert r.reactor_safe()


@pytest.mark.parametrize("action", ["abort", "stop"])
def test_abort_or_stop_while_running_keeps_reason_and_is_safe(RE, rig, action):  # noqa: N803
    r = rig()
    out = r.run(RE, scan(r), at="flush", fault=RE.request_pause, delay=0.1)
    assert isinstance(out.error, RunEngineInterrupted)
    start = time.monotonic()
    if action == "abort":
        RE.abort("sample clogged the line")
        assert out.docs[-1][1]["reason"] == "sample clogged the line"
        assert out.docs[-1][1]["exit_status"] == "abort"
    else:
        RE.stop()
        assert out.docs[-1][1]["exit_status"] == "success"
    wait_until(r.reactor_safe, SAFE_S, "safe state")
    assert time.monotonic() - start <= SAFE_S


def test_halt_in_a_session_leaves_reactor_safe(rig, tmp_path):
    from msc_bluesky.session import SessionConfig, build_session

    r = rig()
    session = build_session(SessionConfig(prefix=r.prefix, data_dir=tmp_path, progress=False,
                                          live_analysis=False))
    try:
        s = session
        session.reactor.wait_for_connection(timeout=30)
        plan = condition_scan([s.uvvis, s.saxs], s.reactor, [CONDITION], progress=False)
        flushing = threading.Event()

        def hook(msg) -> None:
            if msg.command == "set" and msg.obj is s.reactor.flush and not flushing.is_set():
                flushing.set()
                threading.Thread(target=s.RE.request_pause, daemon=True).start()

        s.RE.msg_hook = hook
        stops: list[dict] = []
        s.RE.subscribe(lambda name, doc: stops.append(doc) if name == "stop" else None)
        with pytest.raises(RunEngineInterrupted):
            s.RE(plan)
        assert not r.heaters_off()  # paused mid-flush: still heating
        start = time.monotonic()
        s.RE.halt()  # no cleanup by the plan ...
        safe_s = wait_until(r.reactor_safe, SAFE_S, "standby after RE.halt()")
        assert time.monotonic() - start <= SAFE_S and safe_s <= SAFE_S
        assert session.heartbeat.paused  # ... and the watchdog backs the standby put up
        assert stops[-1]["exit_status"] == "abort"
        assert stops[-1]["reason"] == "halted by user (RE.halt())"  # bluesky gives none
    finally:
        session.close()


def test_no_flow_interlock_trips_when_heating_without_flow(rig):
    r = rig()
    reactor = r.reactor
    reactor.t_nuc.set(100.0).wait(timeout=30)  # heats with both pumps stopped
    # 120 simulated s after passing 60 °C (1.2 s of wall time), heaters go to standby.
    wait_until(lambda: int(r.pv("reactor:alarm")) == 4, 10, "the no-flow interlock")
    assert r.heaters_off()
    assert r.pv("reactor:status").decode().startswith("INTERLOCK: no flow")
