"""Processes clean up: killed or frozen clients, IOC children, exit without tracebacks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from caproto import ErrorResponseReceived
from faults_support import CONDITION, wait_until

from msc_bluesky.iocs.launcher import SimulatedIOC, _loopback_environment, read_pv

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ROOT = Path(__file__).resolve().parents[1]
SAFE_S = 15.0

CLIENT = textwrap.dedent("""
    import sys
    from msc_bluesky.plans import condition_scan
    from msc_bluesky.session import SessionConfig, build_session

    prefix, data_dir, volumes = sys.argv[1], sys.argv[2], float(sys.argv[3])
    s = build_session(SessionConfig(prefix=prefix, data_dir=data_dir, progress=False,
                                    live_analysis=False))
    s.RE(condition_scan([s.uvvis, s.saxs], s.reactor, [{condition}],
                        residence_volumes=volumes, progress=False))
    print("plan finished", flush=True)
""").format(condition=CONDITION)


def _env(ioc: SimulatedIOC) -> dict[str, str]:
    env = dict(os.environ)
    env.update(ioc.env)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["OPHYD_CONTROL_LAYER"] = "caproto"
    return env


def _pv(ioc: SimulatedIOC, name: str):
    return read_pv(ioc.prefix + name, ioc.port, timeout=1.0).data[0]


def _heaters_on(ioc) -> bool:
    return all(int(_pv(ioc, f"reactor:{z}:enable")) == 1 for z in ("nuc", "growth"))


def _safe(ioc) -> bool:
    return (all(int(_pv(ioc, f"reactor:{z}:enable")) == 0 for z in ("nuc", "growth"))
            and all(int(_pv(ioc, f"reactor:{p}:run")) == 0 for p in ("pump_cd", "pump_se")))


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status  # a zombie no longer runs


@pytest.mark.parametrize("how", ["SIGKILL", "SIGSTOP"])
def test_killed_or_frozen_client_leaves_reactor_safe(tmp_path, how):
    with SimulatedIOC(time_scale=100.0) as ioc:
        client = subprocess.Popen(
            [sys.executable, "-c", CLIENT, ioc.prefix, str(tmp_path / "data"), "500"],
            env=_env(ioc), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            # A long flush (500 residence volumes): heaters on, pumps running.
            wait_until(lambda: _heaters_on(ioc) and int(_pv(ioc, "reactor:pump_cd:run")),
                       60, "the client's plan to heat and pump")
            os.kill(client.pid, getattr(signal, how))
            safe_s = wait_until(lambda: _safe(ioc), SAFE_S, f"standby after {how} of the client")
            assert safe_s <= SAFE_S
            assert int(_pv(ioc, "reactor:alarm")) == 1  # the IOC's watchdog did it
            assert "WATCHDOG" in _pv(ioc, "reactor:status").decode()
        finally:
            client.kill()
            client.communicate(timeout=30)


def test_ioc_dies_with_the_process_that_started_it():
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import threading
            from msc_bluesky.iocs.launcher import SimulatedIOC
            ioc = SimulatedIOC(time_scale=100.0).start()
            print(ioc.pid, flush=True)
            threading.Event().wait(600)
        """)],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True,
    )
    try:
        ioc_pid = int(parent.stdout.readline())
        assert not _gone(ioc_pid)
        parent.kill()  # SIGKILL: no cleanup in the parent at all
        parent.wait(timeout=10)
        wait_until(lambda: _gone(ioc_pid), 10, "the orphaned IOC to exit")
    finally:
        parent.kill()
        parent.communicate(timeout=10)


def test_script_exits_without_channel_access_tracebacks(tmp_path):
    with SimulatedIOC(time_scale=100.0) as ioc:
        done = subprocess.run(
            [sys.executable, "-c", CLIENT, ioc.prefix, str(tmp_path / "data"), "1"],
            env=_env(ioc), capture_output=True, text=True, timeout=180,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "plan finished" in done.stdout
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "cannot schedule new futures" not in done.stderr


def test_watchdog_is_bounded_and_only_switched_off_by_option():
    too_long = subprocess.run(
        [sys.executable, "-m", "msc_bluesky.iocs", "--time-scale", "100", "--watchdog", "1e9"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60,
    )
    assert too_long.returncode == 2
    assert "<= 1000 simulated s (10 s of wall time" in too_long.stderr
    assert "--no-watchdog" in too_long.stderr
    from caproto.sync.client import write

    with SimulatedIOC(time_scale=100.0) as ioc:
        assert _pv(ioc, "reactor:watchdog_timeout") == pytest.approx(500.0)  # 5 s of wall time
        for bad in (0.0, 1e9, -1.0):
            with _loopback_environment(ioc.port), pytest.raises(ErrorResponseReceived):
                write(ioc.prefix + "reactor:watchdog_timeout", bad, notify=True,
                      repeater=False, timeout=5)
        assert _pv(ioc, "reactor:watchdog_timeout") == pytest.approx(500.0)
    with SimulatedIOC(time_scale=100.0, extra_args=("--no-watchdog",)) as ioc:
        assert _pv(ioc, "reactor:watchdog_timeout") == 0.0
