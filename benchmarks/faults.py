"""Fault injection: how fast a fault is noticed, how fast the reactor is safe, data kept.

    python benchmarks/faults.py

Each case starts its own simulated IOC (time scale 100, loopback, random prefix), runs
``condition_scan`` through the real devices and injects one fault. Columns:

- detect: wall seconds from the fault to the end of the run (its stop document);
- safe: wall seconds from the fault until the IOC reports heaters off and pumps stopped
  (for a frozen IOC: from SIGCONT; for a killed IOC the reactor is gone with it);
- docs kept / acquired: documents a subscriber received vs. those the RunEngine emitted.

Goals: detect <= 10 s, safe <= 15 s, 0 documents lost. Rows from
``benchmarks/faults_storage.py`` (its ``cases()``) are appended when that file exists.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


os.environ.update({"EPICS_CA_ADDR_LIST": "127.0.0.1", "EPICS_CA_AUTO_ADDR_LIST": "NO",
                   "EPICS_CAS_INTERFACES": "127.0.0.1", "OPHYD_CONTROL_LAYER": "caproto",
                   "EPICS_CAS_BEACON_ADDR_LIST": "127.0.0.1",
                   "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO"})
os.environ.setdefault("EPICS_CA_SERVER_PORT", str(_free_port()))
os.environ.setdefault("EPICS_CA_REPEATER_PORT", str(_free_port()))


def _row(case, detect, safe, kept, acquired):
    return {"case": case, "detect_s": detect, "safe_s": safe, "docs_kept": kept,
            "docs_acquired": acquired}


def _plan_case(case, *, extra=(), at=None, fault=None, delay=0.2, long_exposure=False,
               thaw=False):
    from bluesky import RunEngine
    from faults_support import CONDITION, Rig, wait_until

    from msc_bluesky.plans import condition_scan

    rig = Rig(extra)
    try:
        if long_exposure:
            rig.saxs.exposure_time.set(200.0).wait(timeout=10)
        RE = RunEngine({}, context_managers=[])  # noqa: N806
        emitted = []
        RE.subscribe(lambda name, doc: emitted.append(name))
        plan = condition_scan([rig.uvvis, rig.saxs], rig.reactor, [CONDITION], progress=False)
        out = rig.run(RE, plan, at=at, fault=getattr(rig, fault), delay=delay)
        detect = out.t_end - out.t_fault
        if thaw:
            thawed = time.monotonic()
            rig.thaw()
            wait_until(rig.reactor_safe, 30, "safe after SIGCONT")
            safe = time.monotonic() - thawed
        elif fault == "kill":
            safe = float("nan")
        else:
            wait_until(rig.reactor_safe, 30, "safe")
            safe = time.monotonic() - out.t_fault
        return _row(case, detect, safe, len(out.docs), len(emitted)), out.stop["reason"]
    finally:
        rig.close()


def _dry_detect(case, extra, prepare=None):
    """Dry pumps: the fault time is when the IOC raised the pump alarm."""
    from bluesky import RunEngine
    from faults_support import CONDITION, Rig, wait_until

    from msc_bluesky.plans import condition_scan

    rig = Rig(extra)
    try:
        if prepare:
            prepare(rig)
        seen = {}
        for pump in rig.reactor.pumps:
            pump.alarm.subscribe(
                lambda value, **kw: seen.setdefault("t", time.monotonic()) if value else None,
                run=False)
        RE = RunEngine({}, context_managers=[])  # noqa: N806
        emitted = []
        RE.subscribe(lambda name, doc: emitted.append(name))
        out = rig.run(RE, condition_scan([rig.uvvis, rig.saxs], rig.reactor, [CONDITION],
                                         progress=False))
        t_fault = seen.get("t", out.t_end)
        wait_until(rig.reactor_safe, 30, "safe")
        return (_row(case, out.t_end - t_fault, time.monotonic() - t_fault, len(out.docs),
                     len(emitted)), out.stop["reason"])
    finally:
        rig.close()


def _se_small(rig):
    from caproto.sync.client import write

    from msc_bluesky.iocs.launcher import _loopback_environment

    with _loopback_environment(rig.ioc.port):
        write(rig.prefix + "reactor:pump_se:capacity", 0.7, notify=True, repeater=False)
        write(rig.prefix + "reactor:pump_se:refill", 1, notify=True, repeater=False)


def _client_killed(how):
    """A client process running a plan is killed/frozen; the IOC's watchdog acts."""
    from faults_support import CONDITION, wait_until

    from msc_bluesky.iocs.launcher import SimulatedIOC, read_pv

    script = textwrap.dedent(f"""
        import sys
        from msc_bluesky.plans import condition_scan
        from msc_bluesky.session import SessionConfig, build_session
        s = build_session(SessionConfig(prefix=sys.argv[1], data_dir=sys.argv[2],
                                        progress=False, live_analysis=False))
        s.RE(condition_scan([s.uvvis, s.saxs], s.reactor, [{CONDITION}],
                            residence_volumes=500, progress=False))
    """)
    with SimulatedIOC(time_scale=100.0) as ioc, tempfile.TemporaryDirectory() as tmp:
        def pv(name):
            return read_pv(ioc.prefix + name, ioc.port, timeout=1.0).data[0]

        env = {**os.environ, **ioc.env, "PYTHONPATH": str(ROOT)}
        client = subprocess.Popen([sys.executable, "-c", script, ioc.prefix, tmp], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: int(pv("reactor:nuc:enable")) and int(pv("reactor:pump_cd:run")),
                       60, "heating")
            t_fault = time.monotonic()
            os.kill(client.pid, getattr(signal, how))
            wait_until(lambda: int(pv("reactor:nuc:enable")) == 0
                       and int(pv("reactor:growth:enable")) == 0, 30, "standby")
            safe = time.monotonic() - t_fault
        finally:
            client.kill()
            client.wait(timeout=30)
    return _row(f"client process {how}", float("nan"), safe, float("nan"), float("nan")), \
        "IOC watchdog (no heartbeat)"


def _dry_pump_mid_exposure(rig):
    from caproto.sync.client import write

    from msc_bluesky.iocs.launcher import _loopback_environment

    with _loopback_environment(rig.ioc.port):
        write(rig.prefix + "reactor:pump_cd:capacity", 0.001, notify=True, repeater=False)
        write(rig.prefix + "reactor:pump_cd:refill", 1, notify=True, repeater=False)


def _while_suspended(action):
    """pump_cd runs dry mid-exposure (the run suspends in standby); pause, then ``action``.

    detect: from ``RE.<action>()`` to its return (the stop document is out); safe: from
    the dry pump to the standby of the suspended run.
    """
    from bluesky import RunEngine
    from faults_support import CONDITION, Rig, wait_until

    from msc_bluesky.devices.engine_states import ReactorStateHook
    from msc_bluesky.plans import condition_scan

    rig = Rig()
    try:
        rig.saxs.exposure_time.set(200.0).wait(timeout=10)
        RE = RunEngine({}, context_managers=[])  # noqa: N806
        RE.state_hook = ReactorStateHook(RE, rig.reactor)
        emitted, seen = [], {}
        RE.subscribe(lambda name, doc: emitted.append(name))

        def fault():
            _dry_pump_mid_exposure(rig)
            seen["safe"] = wait_until(rig.reactor_safe, 30, "standby while suspended")
            wait_until(lambda: "wait_for" in rig.commands, 30, "the wait for recovery")
            RE.request_pause()

        plan = condition_scan([rig.uvvis, rig.saxs], rig.reactor, [CONDITION], progress=False)
        out = rig.run(RE, plan, at="acquisition", fault=fault)
        t0 = time.monotonic()
        if action == "abort":
            RE.abort("pump_cd clogged")
        else:
            getattr(RE, action)()
        detect = time.monotonic() - t0
        wait_until(rig.reactor_safe, 30, "safe")
        stop = out.stop
        return (_row(f"RE.{action}() while suspended", detect, seen["safe"], len(out.docs),
                     len(emitted)), f"{stop['exit_status']}: {stop['reason']}")
    finally:
        rig.close()


def _long_pause():
    """RE paused mid-exposure for longer than pause_standby_s (default 10 s), resumed.

    safe: from the pause to the standby; detect: from ``RE.resume()`` to the end of the
    run (the point is not re-taken on a cooling reactor).
    """
    from bluesky import RunEngine
    from faults_support import CONDITION, Rig, wait_until

    from msc_bluesky.devices.engine_states import PAUSE_STANDBY_S, ReactorStateHook
    from msc_bluesky.devices.heartbeat import Heartbeat
    from msc_bluesky.plans import condition_scan

    rig = Rig()
    beat = Heartbeat(rig.reactor.heartbeat, 1.0).start()  # as a session beats
    try:
        rig.saxs.exposure_time.set(200.0).wait(timeout=10)
        RE = RunEngine({}, context_managers=[])  # noqa: N806
        RE.state_hook = ReactorStateHook(RE, rig.reactor, beat)
        emitted = []
        RE.subscribe(lambda name, doc: emitted.append(name))
        plan = condition_scan([rig.uvvis, rig.saxs], rig.reactor, [CONDITION], progress=False)
        out = rig.run(RE, plan, at="acquisition", fault=RE.request_pause)
        waited = wait_until(rig.reactor_safe, PAUSE_STANDBY_S + 30, "standby after a pause")
        safe = (out.t_end - out.t_fault) + waited  # from RE.request_pause()
        t0 = time.monotonic()
        try:
            RE.resume()
        except Exception:  # noqa: BLE001 - the refusal is the expected outcome
            pass
        detect = time.monotonic() - t0
        return (_row(f"RE paused > {PAUSE_STANDBY_S:g} s, resumed", detect, safe,
                     len(out.docs), len(emitted)), out.stop["reason"])
    finally:
        beat.stop()
        rig.close()


def reactor_cases() -> list[tuple[dict, str]]:
    """Every reactor/plan/process case as (row, reason)."""
    rows = []
    for phase in ("settle", "flush", "acquisition"):
        rows.append(_plan_case(f"IOC SIGSTOP during {phase}", at=phase, fault="freeze",
                               thaw=True, delay={"settle": 0.1}.get(phase, 0.3),
                               long_exposure=phase == "acquisition"))
        rows.append(_plan_case(f"IOC SIGKILL during {phase}", at=phase, fault="kill",
                               delay={"settle": 0.1}.get(phase, 0.3),
                               long_exposure=phase == "acquisition"))
    rows.append(_dry_detect("both pumps dry during flush", ("--reservoir-ml", "0.7")))
    rows.append(_dry_detect("pump_se dry during flush", (), prepare=_se_small))
    for how in ("SIGKILL", "SIGSTOP"):
        rows.append(_client_killed(how))
    for action in ("abort", "stop", "halt"):
        rows.append(_while_suspended(action))
    rows.append(_long_pause())
    return rows


def storage_cases() -> list[dict]:
    """Rows of benchmarks/faults_storage.py (``cases()``), if that file exists."""
    path = Path(__file__).with_name("faults_storage.py")
    if not path.exists():
        return []
    spec = importlib.util.spec_from_file_location("faults_storage", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.cases())


def _fmt(v) -> str:
    if v is None:
        return "  -"
    if isinstance(v, float):
        return "  -" if v != v else f"{v:5.1f}"
    return str(v)


def main() -> int:
    import logging

    logging.getLogger("bluesky").setLevel(logging.CRITICAL)  # runs end in faults on purpose
    rows = reactor_cases()
    table = [r for r, _ in rows] + storage_cases()
    print(f"{'case':38} {'detect s':>8} {'safe s':>7} {'docs kept/acquired':>19}")
    for r in table:
        docs = (f"{_fmt(r['docs_kept'])}/{_fmt(r['docs_acquired'])}"
                if r["docs_kept"] == r["docs_kept"] else "-")
        print(f"{r['case']:38} {_fmt(r['detect_s']):>8} {_fmt(r['safe_s']):>7} {docs:>19}")
    print("\nreasons in the stop documents:")
    for r, reason in rows:
        print(f"  {r['case']}: {reason}")
    print("\ngoals: detect <= 10 s, safe <= 15 s, 0 documents lost; '-' = not applicable "
          "(a killed IOC takes the simulated reactor with it; a killed client leaves no run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
