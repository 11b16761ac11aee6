"""Storage under faults, with real processes: nothing acknowledged is lost.

- two campaigns writing one embedded store at once (SQLite "database is locked" is
  retried): both complete and every run is in the store, once;
- the tiled server killed with SIGKILL in the middle of ``msc-bluesky campaign
  --tiled-uri``: the campaign ends with one line and a non-zero status, no traceback,
  and after a restart ``msc-bluesky replay`` loads every run once.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from storage_support import ServeProcess, wait_until

from msc_bluesky.storage.backup import pending_journals, read_journal
from msc_bluesky.storage.catalog import close_client, connect, open_catalog
from msc_bluesky.storage.server import generate_api_key

pytestmark = [pytest.mark.integration, pytest.mark.faults]

TESTS = Path(__file__).resolve().parent


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join([str(TESTS.parent), str(TESTS), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg",
            **extra}  # fmt: skip


def _events(run) -> int:
    return len(run["primary"].base["internal"].read())


CAMPAIGN = """\
steps:
""" + "".join(
    f"""  - title: step {i}
    plan: condition_scan
    detectors: [uvvis, saxs]
    kwargs:
      conditions:
        - {{t_nuc: {t}, t_growth: {t}, reaction_time: 4.5}}
        - {{t_nuc: {t + 10}, t_growth: {t}, reaction_time: 4.5}}
"""
    for i, t in enumerate((260, 270, 280), start=1)
)


def _campaign(campaign: Path, data_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "msc_bluesky.cli", "campaign", "--file", str(campaign),
            "--data-dir", str(data_dir), "--no-report", "--time-scale", "200", *extra]  # fmt: skip


def _all_runs(client) -> list:
    """Every run of the store, raw and analysis containers alike (storage/layout.py)."""
    from msc_bluesky.storage.layout import CONTAINERS, sources

    return [run for kind in CONTAINERS for container, _ in sources(client, kind).all()
            for run in container.values()]  # fmt: skip


def test_two_campaigns_on_one_embedded_store_lose_nothing(tmp_path):
    """Each campaign starts its own IOC; both write the same SQLite store at once."""
    campaign, data_dir = tmp_path / "campaign.yaml", tmp_path / "data"
    campaign.write_text(CAMPAIGN)
    procs = [
        subprocess.Popen(_campaign(campaign, data_dir), env=_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)  # fmt: skip
        for _ in range(2)
    ]
    logs = [p.communicate(timeout=900)[0] for p in procs]
    for proc, log in zip(procs, logs, strict=True):
        assert proc.returncode == 0, log[-3000:]
        assert "kept in the local backup" not in log and "Traceback" not in log, log[-3000:]
    client = open_catalog(data_dir)
    try:
        runs = _all_runs(client)
        raw = [r for r in runs if r.metadata["start"]["plan_name"] == "condition_scan"]
        analysis = [r for r in runs if r.metadata["start"]["plan_name"] == "msc_analysis"]
        assert len({r.metadata["start"]["campaign_id"] for r in raw}) == 2
        assert len(raw) == 6 and len(analysis) == 6  # 3 steps of each campaign, once
        assert all(r.metadata["stop"]["exit_status"] == "success" for r in runs)
        assert all(_events(r) == 2 for r in runs)
    finally:
        close_client(client)
    assert pending_journals(data_dir / "backup") == []


def test_storage_server_killed_mid_campaign(tmp_path):
    key = generate_api_key()
    served, data_dir = tmp_path / "served", tmp_path / "data"
    served.mkdir()
    campaign = tmp_path / "campaign.yaml"
    campaign.write_text(CAMPAIGN)
    server = ServeProcess(served, key)
    try:
        client = connect(server.uri, api_key=key)
        # tiled's client retries a dead server for up to 45 s per request by default
        env = _env(MSC_TILED_API_KEY=key, TILED_RETRY_TIMEOUT="3", TILED_RETRY_ATTEMPTS="2")
        proc = subprocess.Popen(
            _campaign(campaign, data_dir, "--tiled-uri", server.uri),
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

        def first_run_stored() -> bool:
            assert proc.poll() is None, proc.communicate()
            return any(r.metadata.get("stop") for r in _all_runs(client))

        try:
            wait_until(first_run_stored, 300, "the first run to be stored")
        finally:
            close_client(client)
        server.process.kill()  # SIGKILL: no goodbye
        out, err = proc.communicate(timeout=600)
    finally:
        server.stop()
    assert proc.returncode == 1, out[-2000:] + err[-2000:]
    assert "Traceback" not in out + err, err[-3000:]
    last = err.strip().splitlines()[-1]
    match = re.search(r"(\d+) documents of (\d+) run\(s\) kept in the local backup", last)
    assert match and "msc-bluesky replay --data-dir" in last and server.uri in last, last
    journals = pending_journals(data_dir / "backup")
    kept = sum(len(read_journal(p)) for p in journals)
    assert int(match.group(1)) == kept and int(match.group(2)) == len(journals)
    assert len(journals) >= 2  # at least the later steps' raw and analysis runs

    with ServeProcess(served, key, port=server.port) as again:
        replay = [sys.executable, "-m", "msc_bluesky.cli", "replay", "--data-dir",
                  str(data_dir), "--tiled-uri", again.uri]  # fmt: skip
        done = subprocess.run(replay, env=_env(MSC_TILED_API_KEY=key), capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        client = connect(again.uri, api_key=key)
        try:
            runs = _all_runs(client)
            raw = [r for r in runs if r.metadata["start"]["plan_name"] == "condition_scan"]
            analysis = [r for r in runs if r.metadata["start"]["plan_name"] == "msc_analysis"]
            assert len(raw) == 3 and len(analysis) == 3  # every run, once
            assert all(_events(r) == 2 for r in raw + analysis)
            assert {a.metadata["start"]["raw_uid"] for a in analysis} == {
                r.metadata["start"]["uid"] for r in raw
            }
            second = subprocess.run(replay, env=_env(MSC_TILED_API_KEY=key),
                                    capture_output=True, text=True, timeout=300)  # fmt: skip
            assert "replayed 0 run(s)" in second.stdout
            assert len(_all_runs(client)) == len(runs)
        finally:
            close_client(client)
