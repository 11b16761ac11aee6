"""Live stream: a session publishes (JSON) to a loopback 0MQ proxy; ``msc-bluesky live`` shows it.

A real proxy process, a real RunEngine from :func:`open_session` (publishing because
``MSC_LIVE_STREAM`` is set) and the ``msc-bluesky live`` command as a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from msc_bluesky.qserver.redis import free_port

pytestmark = pytest.mark.integration


class Lines:
    """A subprocess's stdout lines, collected on a thread, with a condition to wait on."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc):
        for line in proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def seen(self, text: str) -> bool:
        with self._cond:
            return any(text in line for line in self.lines)

    def wait_for(self, text: str, timeout: float = 30.0) -> None:
        with self._cond:
            ok = self._cond.wait_for(lambda: any(text in ln for ln in self.lines), timeout)
        assert ok, f"no line with {text!r} within {timeout} s:\n" + "\n".join(self.lines)


def spawn(*args: str) -> tuple[subprocess.Popen, Lines]:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop("DISPLAY", None)
    proc = subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=env,
    )  # fmt: skip
    return proc, Lines(proc)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_a_session_publishes_and_live_shows_the_table(tmp_path, monkeypatch):
    from ophyd.sim import det, motor

    from msc_bluesky.callbacks.zmq_consumer import wait_for_consumer
    from msc_bluesky.qserver.startup import live_stream_publisher, open_session
    from msc_bluesky.session import SessionConfig

    port_in, port_out = free_port(), free_port()
    proxy, proxy_out = spawn("-m", "msc_bluesky.callbacks.zmq_proxy",
                             "--in", f"127.0.0.1:{port_in}", "--out", f"127.0.0.1:{port_out}")
    viewer = session = None
    try:
        proxy_out.wait_for("proxy ready")
        viewer, seen = spawn("-m", "msc_bluesky.cli", "live", "--address",
                             f"127.0.0.1:{port_out}", "--max-runs", "1")
        seen.wait_for("msc live view subscribed")
        monkeypatch.setenv("MSC_LIVE_STREAM", f"127.0.0.1:{port_in}")
        session = open_session(SessionConfig(
            data_dir=tmp_path / "data", devices=False, live_analysis=False, progress=False,
        ))  # fmt: skip
        from bluesky.plans import scan

        # 0MQ drops what is sent before the subscription is live: probe until seen.
        wait_for_consumer(live_stream_publisher(session), lambda: seen.seen("probe "))
        uids = session.RE(scan([det], motor, -1, 1, 5))
        assert viewer.wait(timeout=60) == 0, "\n".join(seen.lines)
    finally:
        if session is not None:
            session.close()
        for proc in (viewer, proxy):
            if proc is not None:
                stop(proc)
    text = "\n".join(seen.lines)
    assert f"run {uids[0][:8]} started: scan" in text, text
    assert f"run {uids[0][:8]} stopped: success" in text, text
    # BestEffortCallback's table: a header with the hinted fields and one row per point.
    header = next(line for line in seen.lines if "seq_num" in line)
    assert "motor" in header and "det" in header
    rows = [line for line in seen.lines if line.startswith("|") and line.split("|")[1].strip()
            .isdigit()]  # fmt: skip
    assert len(rows) == 5, text
