"""``msc-bluesky explore`` end to end: simulated IOC, RunEngine, live analysis, embedded tiled.

The explorer learns from the analysis runs stored in tiled; proposals, decisions and who
made them are stored there too. A killed explorer leaves the reactor safe.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

pytestmark = pytest.mark.integration


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg", **extra}


def _explore(*args: str) -> list[str]:
    return [sys.executable, "-m", "msc_bluesky.cli", "explore", *args]


def wait_until(condition, timeout: float, what: str) -> None:
    """Poll ``condition()`` until true; fail naming ``what`` after ``timeout`` s."""
    pause = threading.Event()
    for _ in range(int(timeout / 0.1)):
        if condition():
            return
        pause.wait(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _stored_exploration(data_dir, exploration_id):
    from msc_bluesky.explore.record import find_exploration
    from msc_bluesky.storage.catalog import open_catalog

    client = open_catalog(str(data_dir))
    return client, find_exploration(client, exploration_id)


def test_explore_learns_from_stored_runs_and_writes_its_summary(tmp_path):
    data, report, summary_file = tmp_path / "data", tmp_path / "report", tmp_path / "s.json"
    done = subprocess.run(
        _explore("--budget", "4", "--initial", "2", "--t-nuc", "260", "320",
                 "--data-dir", str(data), "--report-dir", str(report),
                 "--summary-json", str(summary_file), "--time-scale", "200"),
        env=_env(), capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(summary_file.read_text())
    assert summary["conditions_used"] == 4
    assert len(summary["phase_map"]) == 70
    assert [p["reason"].startswith("initial design") for p in summary["points"]] == [
        True, True, False, False,
    ]
    assert all(p["fit_ok"] for p in summary["points"]), summary["points"]
    assert (report / "explore_map.png").stat().st_size > 10_000

    from msc_bluesky.storage.browse import find_runs

    client, record = _stored_exploration(data, summary["exploration_id"])
    events = record["proposals"].read()
    assert list(events["decision"].values) == ["accept"] * 4
    raw = find_runs(
        client, plan_name="condition_scan", md={"exploration_id": summary["exploration_id"]}
    )
    assert sorted(r.metadata["start"]["uid"] for r in raw) == sorted(events["raw_uid"].values)
    assert record.metadata["stop"]["exit_status"] == "success"


def test_approve_gate_records_an_accepted_and_a_rejected_proposal(tmp_path):
    data, summary_file = tmp_path / "data", tmp_path / "s.json"
    answers = "a\nr\noven being cleaned\na\nq\n"
    done = subprocess.run(
        _explore("--budget", "5", "--initial", "2", "--approve", "--operator", "ada",
                 "--data-dir", str(data), "--no-report", "--summary-json", str(summary_file),
                 "--time-scale", "200"),
        env=_env(), input=answers, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("proposal: T_nuc") == 4  # shown with its prediction and reason
    assert "predicted P(CdSe-437)" in done.stdout
    summary = json.loads(summary_file.read_text())
    assert summary["conditions_used"] == 2
    _, record = _stored_exploration(data, summary["exploration_id"])
    events = record["proposals"].read()
    assert list(events["decision"].values) == ["accept", "reject", "accept", "stop"]
    assert list(events["decision_reason"].values)[1] == "oven being cleaned"
    assert set(events["decided_by"].values) == {"ada"}
    assert record.metadata["start"]["operator"] == "ada"


def test_a_killed_explorer_leaves_the_reactor_safe(tmp_path):
    from caproto import CaprotoTimeoutError
    from caproto.sync.client import read

    from msc_bluesky.iocs.launcher import SimulatedIOC

    with SimulatedIOC(time_scale=100.0, extra_args=("--watchdog", "500")) as ioc:
        env = _env(**ioc.env)
        proc = subprocess.Popen(
            _explore("--prefix", ioc.prefix, "--budget", "10", "--data-dir", str(tmp_path),
                     "--no-report"),
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            def enable() -> int | None:
                # a search that times out while the IOC is busy is not an answer: poll on
                try:
                    value = read(f"{ioc.prefix}reactor:nuc:enable", repeater=False, timeout=2)
                except CaprotoTimeoutError:
                    return None
                return int(value.data[0])

            def heating() -> bool:
                return enable() == 1

            wait_until(heating, 120, "the explorer to switch the heaters on")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)

            def safe() -> bool:
                return enable() == 0

            # watchdog 500 simulated s = 5 wall s at ×100, plus a heartbeat period
            wait_until(safe, 20, "the IOC watchdog to put the heaters in standby")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
