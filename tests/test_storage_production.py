"""The production store: ``msc-bluesky serve`` on PostgreSQL, and ``copy-store`` into it.

Each test gets its own PostgreSQL database (dropped at teardown) and skips, saying so,
when no PostgreSQL server answers on 127.0.0.1:5432.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from bluesky import RunEngine
from postgres_support import temporary_database
from storage_support import (
    ServeProcess,
    analysis_documents,
    condition_scan,
    make_devices,
    wait_until,
)

from msc_bluesky.storage.browse import campaign_table, find_runs, run_arrays
from msc_bluesky.storage.catalog import close_client, connect, open_catalog
from msc_bluesky.storage.copy_store import copy_store
from msc_bluesky.storage.layout import find_run
from msc_bluesky.storage.server import generate_api_key
from msc_bluesky.storage.writer import JournaledWriter

pytestmark = pytest.mark.integration


@pytest.fixture
def postgres_uri():
    with temporary_database() as uri:
        yield uri


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "msc_bluesky.cli", *args],
        capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})},
    )  # fmt: skip


def _embedded_store(data_dir) -> list[tuple[str, dict]]:
    """Two raw runs and one linked analysis run in an embedded (SQLite) data directory."""
    client = open_catalog(data_dir)
    writer = JournaledWriter(client, data_dir / "backup", batch_size=10)
    reactor, uvvis, saxs = make_devices(seed=3)
    docs: list = []
    RE = RunEngine({})
    RE.subscribe(lambda n, d: docs.append((n, d)))
    RE.subscribe(writer)
    grid = [{"t_nuc": 250.0, "t_growth": 230.0, "reaction_time": 3.0},
            {"t_nuc": 270.0, "t_growth": 230.0, "reaction_time": 3.0}]
    RE(condition_scan(reactor, [uvvis, saxs], grid))
    first = len(docs)
    RE(condition_scan(reactor, [uvvis, saxs], [{**grid[0], "t_nuc": 200.0}]))
    for name, doc in analysis_documents(docs[:first]):
        writer(name, doc)
    assert writer.close(120)
    assert len(writer.status.stored) == 3
    close_client(client)
    return docs


def test_postgres_server_serves_what_the_embedded_store_holds(postgres_uri, tmp_path):
    source = tmp_path / "laptop"
    docs = _embedded_store(source)
    key = generate_api_key()
    with ServeProcess(tmp_path / "facility", key, catalog_uri=postgres_uri) as server:
        env = {"MSC_TILED_API_KEY": key}
        first = _cli("copy-store", "--data-dir", str(source), "--tiled-uri", server.uri,
                     "--no-progress", env=env)
        assert first.returncode == 0, first.stderr
        assert "copied 3 runs (2 raw, 1 analysis" in first.stdout
        embedded = open_catalog(source)
        served = connect(server.uri, api_key=key)
        try:
            again = copy_store(embedded, served)  # a second copy writes nothing
            assert again.copied == {} and len(again.already_stored) == 3, again.summary()
            assert len(served["raw"]) == 2 and len(served["analysis"]) == 1  # no duplicates
            for client in (embedded, served):  # the same API, the same answers
                (run,) = find_runs(client, t_nuc=270)
                assert run.metadata["start"]["uid"] == docs[0][1]["uid"]
                events = [d for n, d in docs if n == "event"][:2]
                np.testing.assert_allclose(
                    run_arrays(run)["absorbance"], [e["data"]["uvvis_absorbance"] for e in events]
                )
            local, remote = campaign_table(embedded), campaign_table(served)
            assert len(remote) == len(local) == 3
            assert list(remote.columns) == list(local.columns)
            assert remote["phase"].notna().sum() == local["phase"].notna().sum() == 2
            # the table copies came along and still describe the copied runs
            (fit,) = served["analysis"].values()
            assert fit.metadata["msc_scalar_tables"]["raw"]["uid"] == docs[0][1]["uid"]
            pd.testing.assert_frame_equal(remote, campaign_table(served, use_copies=False))
            assert find_run(served, docs[0][1]["uid"][:8]).metadata["stop"]["exit_status"] == (
                "success"
            )
        finally:
            close_client(embedded)
            close_client(served)


def test_copy_store_refuses_bad_input_in_one_line(tmp_path):
    missing = _cli("copy-store", "--data-dir", str(tmp_path / "nope"),
                   "--tiled-uri", "http://127.0.0.1:9")
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"msc-bluesky copy-store: data directory {tmp_path / 'nope'} does not exist; "
        "give --data-dir DIR"
    ]
    (tmp_path / "empty").mkdir()
    no_uri = _cli("copy-store", "--data-dir", str(tmp_path / "empty"),
                  env={"MSC_TILED_URI": ""})
    assert no_uri.returncode == 2 and "--tiled-uri URI is required" in no_uri.stderr
    empty = _cli("copy-store", "--data-dir", str(tmp_path / "empty"),
                 "--tiled-uri", "http://127.0.0.1:9")
    assert empty.returncode == 2 and "holds no tiled catalog" in empty.stderr


@pytest.fixture
def short_retries(monkeypatch):
    """tiled's client retries connection errors for up to 45 s (TILED_RETRY_TIMEOUT)."""
    import tiled.client.utils as tiled_client_utils

    monkeypatch.setattr(tiled_client_utils, "TILED_RETRY_TIMEOUT", 2.0)
    monkeypatch.setattr(tiled_client_utils, "TILED_RETRY_ATTEMPTS", 2)


def _record_acknowledged(monkeypatch) -> list[tuple[str, dict]]:
    """Documents whose tiled write returned (the server answered 2xx), in order.

    The journalled writer sends each document through ``make_tiled_writer``'s callback
    (batch size 1: one write per document); wrapping it records what the server
    acknowledged without changing what is written.
    """
    from msc_bluesky.storage import writer as writer_module

    acknowledged: list[tuple[str, dict]] = []
    real = writer_module.make_tiled_writer

    def recording(client, batch_size=1, **options):
        inner = real(client, batch_size, **options)

        def write(name, doc):
            inner(name, doc)
            acknowledged.append((name, doc))

        return write

    monkeypatch.setattr(writer_module, "make_tiled_writer", recording)
    return acknowledged


def test_server_killed_mid_write_keeps_every_acknowledged_document(
    postgres_uri, tmp_path, monkeypatch, short_retries
):
    from msc_bluesky.storage.replay import replay_backups
    from msc_bluesky.storage.verify import missing_documents

    key, served, backup = generate_api_key(), tmp_path / "served", tmp_path / "backup"
    acknowledged = _record_acknowledged(monkeypatch)
    reactor, uvvis, saxs = make_devices(seed=21)
    grid = [{"t_nuc": 200.0 + 10 * i, "t_growth": 230.0, "reaction_time": 3.0} for i in range(6)]
    docs: list = []
    server = ServeProcess(served, key, catalog_uri=postgres_uri)
    try:
        client = connect(server.uri, api_key=key)
        writer = JournaledWriter(client, backup)
        RE = RunEngine({})
        RE.subscribe(lambda n, d: docs.append((n, d)))
        RE.subscribe(writer)
        RE(condition_scan(reactor, [uvvis, saxs], grid[:2]))  # one whole run first

        def kill(index):
            if index == 2:  # SIGKILL once the first run and this one's start are stored,
                # while the writer thread is still writing this run's events
                wait_until(lambda: len(acknowledged) >= 7, 60, "7 documents stored")
                server.kill()

        RE(condition_scan(reactor, [uvvis, saxs], grid, per_step=kill))
        analysis = analysis_documents(docs[: len(grid[:2]) + 3])  # of the first run
        for name, doc in analysis:
            writer(name, doc)
        assert writer.flush(120)  # every document handled: stored or journalled
        acked = list(acknowledged)
    finally:
        server.stop()
    assert 7 <= len(acked) < len(docs) + len(analysis)  # the kill came mid-write

    with ServeProcess(served, key, catalog_uri=postgres_uri, port=server.port) as again:
        client = connect(again.uri, api_key=key)
        try:
            assert missing_documents(client, acked) == []  # 0 acknowledged documents lost
            assert writer.close(60)
            kept = writer.status.backed_up
            assert kept, "the runs the kill interrupted are kept in the backup"
            report = replay_backups(client, backup)
            assert sorted(report.replayed) == sorted(kept) and not report.failed
            assert missing_documents(client, docs + analysis) == []
        finally:
            close_client(client)


def test_replay_after_a_kill_between_an_arrays_files_and_its_node(postgres_uri, tmp_path):
    """What a SIGKILL inside tiled's creation of an array node leaves does not block replay.

    tiled creates the array's zarr files on disk, then commits its node in the catalogue;
    a kill in between leaves the files with no node. Rewriting the run from its journal
    creates the node at the same path, where tiled found the files and answered 500
    (zarr ContainsArrayError) on every attempt. The leftover is made here as tiled makes
    it; the replay now succeeds and the leftover is moved aside, not deleted.
    """
    import zarr
    from zarr.storage import LocalStore

    from msc_bluesky.storage.backup import RunJournal
    from msc_bluesky.storage.replay import replay_backups
    from msc_bluesky.storage.verify import missing_documents
    from msc_bluesky.storage.writer import make_tiled_writer

    key, served, backup = generate_api_key(), tmp_path / "served", tmp_path / "backup"
    docs: list = []
    RE = RunEngine({})
    RE.subscribe(lambda n, d: docs.append((n, d)))
    reactor, uvvis, saxs = make_devices(seed=5)
    condition = {"t_nuc": 250.0, "t_growth": 230.0, "reaction_time": 3.0}
    RE(condition_scan(reactor, [uvvis, saxs], [condition, {**condition, "t_nuc": 260.0}]))
    uid = docs[0][1]["uid"]
    journal = RunJournal(backup, uid)  # the interrupted run's journal holds every document
    for name, doc in docs:
        journal.write(name, doc)
    journal.close()
    with ServeProcess(served, key, catalog_uri=postgres_uri) as server:
        client = connect(server.uri, api_key=key)
        try:
            writer = make_tiled_writer(client)
            for name, doc in docs[:2]:  # start and descriptor stored; killed at the event
                assert name in ("start", "descriptor")
                writer(name, doc)
            leftover = served / "data" / "raw" / uid / "primary" / "uvvis_absorbance"
            zarr.create_array(LocalStore(str(leftover)), shape=(1, 1000), chunks=(1, 1000),
                              dtype="float64")  # tiled's init_storage; the kill: no commit
            report = replay_backups(client, backup, retry_delays=())
            assert report.replayed == [uid] and not report.failed, report.failed
            assert missing_documents(client, docs) == []
            (moved,) = (served / "orphaned").rglob("uvvis_absorbance")
            assert (moved / "zarr.json").is_file()  # moved aside, nothing deleted
        finally:
            close_client(client)


def test_two_campaigns_write_one_postgres_server_at_once(postgres_uri, tmp_path):
    from msc_bluesky.storage.backup import pending_journals

    key = generate_api_key()
    plans = {
        "a": "t_nuc,t_growth,reaction_time\n270,270,14\n290,290,14\n",
        "b": "t_nuc,t_growth,reaction_time\n260,230,14\n300,300,14\n",
    }
    with ServeProcess(tmp_path / "facility", key, catalog_uri=postgres_uri) as server:
        env = {**os.environ, "MSC_TILED_URI": server.uri, "MSC_TILED_API_KEY": key}
        campaigns = {}
        for name, csv in plans.items():  # each starts its own simulated IOC
            (tmp_path / f"{name}.csv").write_text(csv)
            campaigns[name] = subprocess.Popen(
                [sys.executable, "-m", "msc_bluesky.cli", "campaign",
                 "--file", str(tmp_path / f"{name}.csv"), "--data-dir", str(tmp_path / name),
                 "--summary-json", str(tmp_path / f"{name}.json"), "--no-report",
                 "--time-scale", "400"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
            )  # fmt: skip
        outputs = {name: p.communicate(timeout=240)[0] for name, p in campaigns.items()}
        for name, process in campaigns.items():
            assert process.returncode == 0, outputs[name]
            assert pending_journals(tmp_path / name / "backup") == []  # all in the server
        client = connect(server.uri, api_key=key)
        try:
            for name in plans:
                summary = json.loads((tmp_path / f"{name}.json").read_text())
                table = campaign_table(client, md={"campaign_id": summary["campaign_id"]})
                assert len(table) == 2  # both conditions of this campaign, nothing lost
                assert table["analysis_uid"].notna().all()  # each with its analysis
                wanted = sorted(float(r.split(",")[0]) for r in plans[name].split()[1:])
                assert sorted(table["reactor_t_nuc_setpoint"]) == wanted
                md = {"campaign_id": summary["campaign_id"]}
                assert len(find_runs(client, md=md)) == 1  # one condition scan each
                assert len(find_runs(client, kind="analysis", md=md)) == 1
        finally:
            close_client(client)


def test_serve_refuses_an_unusable_catalog_in_one_line(tmp_path):
    for uri, said in [
        ("postgresql://postgres@127.0.0.1:9/msc", "the PostgreSQL server must answer"),
        ("mysql://db/msc", "scheme 'mysql' is not supported"),
    ]:
        done = _cli("serve", "--data-dir", str(tmp_path), "--catalog-uri", uri,
                    "--api-key", "abc123", "--no-profile")
        assert done.returncode == 2
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith("error: --catalog-uri:") and said in line
