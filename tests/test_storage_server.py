"""``msc-bluesky serve`` subprocesses: outage mid-run + replay, and authentication.

All servers share one data directory, so the catalog is created once (first start).
"""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import tiled.client.utils as tiled_client_utils
from bluesky import RunEngine
from storage_support import ServeProcess, analysis_documents, condition_scan, make_devices

from msc_bluesky.storage.backup import pending_journals
from msc_bluesky.storage.browse import run_arrays
from msc_bluesky.storage.catalog import close_client, connect
from msc_bluesky.storage.replay import replay_backups
from msc_bluesky.storage.server import generate_api_key
from msc_bluesky.storage.writer import JournaledWriter

pytestmark = pytest.mark.integration

GRID = [{"t_nuc": 200.0 + 10 * i, "t_growth": 200.0, "reaction_time": 2.0 + i} for i in range(5)]


@pytest.fixture(scope="module")
def server_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("served")


@pytest.fixture
def short_retries(monkeypatch):
    """tiled's client retries connection errors for up to 45 s (TILED_RETRY_TIMEOUT)."""
    monkeypatch.setattr(tiled_client_utils, "TILED_RETRY_TIMEOUT", 2.0)
    monkeypatch.setattr(tiled_client_utils, "TILED_RETRY_ATTEMPTS", 2)


def test_outage_mid_run_then_replay_once(server_dir, tmp_path, short_retries):
    key = generate_api_key()
    backup = tmp_path / "backup"
    reactor, uvvis, saxs = make_devices(seed=11)
    docs: list = []
    server = ServeProcess(server_dir, key)
    try:
        client = connect(server.uri, api_key=key)
        writer = JournaledWriter(client, backup)

        def stop_server(index):
            if index == 1:  # two events written, then the server goes away
                assert writer.flush(60)
                server.stop()

        RE = RunEngine({})
        RE.subscribe(lambda n, d: docs.append((n, d)))
        RE.subscribe(writer)
        (uid,) = RE(condition_scan(reactor, [uvvis, saxs], GRID, per_step=stop_server))
        analysis = analysis_documents(docs)
        for name, doc in analysis:
            writer(name, doc)
        assert writer.close(120)
        close_client(client)
    finally:
        server.stop()
    assert set(writer.status.backed_up) == {uid, analysis[0][1]["uid"]}
    assert len(pending_journals(backup)) == 2

    with ServeProcess(server_dir, key) as again:
        client = connect(again.uri, api_key=key)
        try:
            assert client["raw"][uid].metadata.get("stop") is None  # the partial run
            report = replay_backups(client, backup)
            assert sorted(report.replayed) == sorted([uid, analysis[0][1]["uid"]])
            assert not report.failed
            events = [d for n, d in docs if n == "event"]
            run = client["raw"][uid]
            assert run.metadata["stop"]["exit_status"] == "success"
            arrays = run_arrays(run)
            np.testing.assert_array_equal(arrays["seq_num"], [e["seq_num"] for e in events])
            np.testing.assert_array_equal(
                arrays["absorbance"], [e["data"]["uvvis_absorbance"] for e in events]
            )
            linked = client["analysis"][analysis[0][1]["uid"]]
            assert linked.metadata["start"]["raw_uid"] == uid
            assert len(linked["primary"].base["internal"].read()) == len(events)
            n_runs = len(client["raw"]) + len(client["analysis"])
            second = replay_backups(client, backup)
            assert second.replayed == [] and second.already_stored == []
            assert len(client["raw"]) + len(client["analysis"]) == n_runs
            assert len(run_arrays(client["raw"][uid])["seq_num"]) == len(events)
        finally:
            close_client(client)


def test_api_key_required_to_read_and_write(server_dir):
    key = generate_api_key()
    with ServeProcess(server_dir, key) as server:
        anonymous = httpx.get(f"{server.uri}/api/v1/search/", timeout=10)
        assert anonymous.status_code == 401
        wrong = httpx.get(
            f"{server.uri}/api/v1/search/",
            headers={"Authorization": "Apikey wrongkey"},
            timeout=10,
        )
        assert wrong.status_code == 401
        write = httpx.post(
            f"{server.uri}/api/v1/metadata/",
            json={"structure_family": "container", "metadata": {}, "specs": []},
            timeout=10,
        )
        assert write.status_code == 401
        good = httpx.get(
            f"{server.uri}/api/v1/search/", headers={"Authorization": f"Apikey {key}"}, timeout=10
        )
        assert good.status_code == 200
        # serve creates the layout's containers before any run is written
        assert {"raw", "analysis"} <= {item["id"] for item in good.json()["data"]}


def test_public_server_is_read_only_without_key(server_dir):
    key = generate_api_key()
    with ServeProcess(server_dir, key, public=True) as server:
        listing = httpx.get(f"{server.uri}/api/v1/search/", timeout=10)
        assert listing.status_code == 200
        write = httpx.post(
            f"{server.uri}/api/v1/metadata/",
            json={"structure_family": "container", "metadata": {}, "specs": []},
            timeout=10,
        )
        assert write.status_code in (401, 403)
        after = httpx.get(f"{server.uri}/api/v1/search/", timeout=10)
        assert len(after.json()["data"]) == len(listing.json()["data"])



def test_served_sqlite_store_neither_locks_out_readers_nor_fails_parallel_writes(tmp_path):
    """serve on SQLite: WAL mode, and one write at a time.

    In SQLite's default journal mode a reader waits for a writer's lock (5 s) and then
    gets HTTP 500 "database is locked"; in WAL mode it reads at once. Two of tiled's
    writes at once make SQLite fail one of them at once with "database is locked",
    however long its busy timeout; serve queues them.
    """
    import sqlite3
    import time
    from concurrent.futures import ThreadPoolExecutor

    key = generate_api_key()
    data_dir = tmp_path / "sqlite"
    headers = {"Authorization": f"Apikey {key}"}
    with ServeProcess(data_dir, key) as server:
        for name in ("catalog.db", "tables.db"):
            with sqlite3.connect(data_dir / name) as db:
                assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal", name
        writer = sqlite3.connect(data_dir / "catalog.db", timeout=1.0, isolation_level=None)
        try:
            writer.execute("BEGIN EXCLUSIVE")  # as a writer committing, held on purpose
            t0 = time.perf_counter()
            read = httpx.get(f"{server.uri}/api/v1/search/", headers=headers, timeout=30)
            seconds = time.perf_counter() - t0
        finally:
            writer.execute("ROLLBACK")
            writer.close()

        def create(i: int) -> int:
            return httpx.post(
                f"{server.uri}/api/v1/metadata/raw",
                json={"structure_family": "container", "metadata": {"i": i}, "specs": []},
                headers=headers, timeout=60).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(create, range(48)))
        listed = httpx.get(f"{server.uri}/api/v1/search/raw?page[limit]=1",
                           headers=headers, timeout=30).json()
    assert read.status_code == 200, read.text
    assert seconds < 2.0  # did not wait for the lock
    assert [c for c in codes if c >= 300] == []
    assert listed["meta"]["count"] == 48
