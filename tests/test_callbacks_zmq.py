"""Out-of-process live analysis over bluesky's 0MQ document stream, on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from bluesky import RunEngine
from callbacks_helpers import FAKE_SETTINGS, grid_plan, make_devices, real_or_fake_settings

from msc_bluesky.callbacks.zmq_consumer import (
    check_address,
    deserialize,
    serialize,
    subscribe_publisher,
    wait_for_consumer,
)

TESTS_DIR = Path(__file__).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LineReader:
    """Collects a subprocess's stdout lines on a thread; waits on conditions over them."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def seen(self, prefix: str) -> bool:
        with self._cond:
            return any(line.startswith(prefix) for line in self.lines)

    def wait_for(self, prefix: str, timeout: float = 30.0) -> None:
        with self._cond:
            ok = self._cond.wait_for(
                lambda: any(line.startswith(prefix) for line in self.lines), timeout
            )
        assert ok, f"no line starting with {prefix!r} within {timeout} s: {self.lines}"


def start(args: list[str]) -> tuple[subprocess.Popen, LineReader]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    return proc, LineReader(proc)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_json_serialisation_round_trips_numpy_and_nan():
    import numpy as np

    doc = {"data": {"a": np.arange(3.0), "b": float("nan"), "c": np.float32(1.5)}}
    back = deserialize(serialize(doc))
    assert back["data"]["a"] == [0.0, 1.0, 2.0]
    assert back["data"]["c"] == 1.5
    assert back["data"]["b"] != back["data"]["b"]  # NaN survives


@pytest.mark.parametrize("bad", ["localhost", "127.0.0.1:", "127.0.0.1:99999", ":5578"])
def test_bad_addresses_are_refused(bad):
    with pytest.raises(ValueError, match="host:port"):
        check_address(bad)


@pytest.mark.integration
def test_consumer_process_writes_linked_analysis_run(tmp_path):
    port_in, port_out = free_port(), free_port()
    jsonl = tmp_path / "analysis.jsonl"
    # Fakes (importable by path) for analysis modules not written yet.
    settings = {
        name: f"callbacks_helpers:{FAKE_SETTINGS[name].__name__}"
        for name in real_or_fake_settings()
    }
    proxy, proxy_out = start(
        [
            "-m",
            "msc_bluesky.callbacks.zmq_proxy",
            "--in",
            f"127.0.0.1:{port_in}",
            "--out",
            f"127.0.0.1:{port_out}",
        ]
    )
    consumer = None
    publisher = None
    try:
        proxy_out.wait_for("proxy ready")
        consumer, consumer_out = start(
            [
                "-m",
                "msc_bluesky.callbacks.zmq_consumer",
                "--address",
                f"127.0.0.1:{port_out}",
                "--jsonl",
                str(jsonl),
                "--settings",
                json.dumps(settings),
                "--max-runs",
                "1",
                "--table",
            ]
        )
        consumer_out.wait_for("msc analysis consumer subscribed")

        RE = RunEngine({})
        _, publisher = subscribe_publisher(RE, f"127.0.0.1:{port_in}")
        wait_for_consumer(publisher, lambda: consumer_out.seen("probe"), timeout=30)
        (raw_uid,) = RE(grid_plan(make_devices(), t_nucs=(260.0, 270.0, 280.0)))

        assert consumer.wait(timeout=120) == 0, consumer_out.lines
        assert consumer_out.seen(f"raw run {raw_uid} stopped")
    finally:
        if publisher is not None:
            publisher.close()
        if consumer is not None:
            stop(consumer)
        stop(proxy)

    docs = [json.loads(line) for line in jsonl.read_text().splitlines()]
    names = [d["name"] for d in docs]
    assert names == ["start", "descriptor", "event", "event", "event", "stop"]
    start_doc = docs[0]["doc"]
    assert start_doc["raw_uid"] == raw_uid
    assert start_doc["plan_name"] == "msc_analysis"
    events = [d["doc"]["data"] for d in docs if d["name"] == "event"]
    assert [e["raw_seq_num"] for e in events] == [1, 2, 3]
    assert all(e["fit_ok"] for e in events), [e["fit_error"] for e in events]
    assert all(e["msc437_detected"] for e in events)
    assert events[2]["nc_peak_nm"] == pytest.approx(510.0, abs=4.0)
    assert docs[-1]["doc"]["exit_status"] == "success"
    # the running table went to the consumer's stdout
    assert sum("MSC+NC" in line for line in consumer_out.lines) == 3
