"""The campaign's store served by a child process (`ServedStore`), with real processes.

A session writes to it over HTTP; what it stored is in the data directory for the
embedded store afterwards; it never outlives the process that started it (SIGKILL); a
server that cannot start says why, and the session keeps every document in the backup.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from storage_support import condition_scan, make_devices, wait_until

from msc_bluesky.session import SessionConfig, build_session
from msc_bluesky.storage.browse import find_runs
from msc_bluesky.storage.catalog import close_client, open_catalog
from msc_bluesky.storage.served_store import ServedStore

pytestmark = pytest.mark.integration


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie not yet reaped counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in {"Z", "X"}


def test_a_session_stores_through_the_served_store_into_the_data_directory(tmp_path):
    store = ServedStore(tmp_path).launch()
    try:
        assert store.api_key not in " ".join(store.command)  # never visible in `ps`
        session = build_session(
            SessionConfig(data_dir=tmp_path, tiled_uri=store.uri, api_key=store.api_key,
                          devices=False, live_analysis=False, progress=False),
            store_in_background=True, before_store=store.wait_ready)
        try:
            reactor, uvvis, saxs = make_devices(seed=8)
            (uid,) = session.RE(condition_scan(
                reactor, [uvvis], [{"t_nuc": 1.0, "t_growth": 1.0, "reaction_time": 1.0}]))
            assert session.drain(120)
            assert session.store_error == ""
            assert session.client.uri.startswith(store.uri)  # over HTTP, not in process
        finally:
            assert session.close()
        pid = store.pid
    finally:
        store.stop()
    assert _gone(pid) and not store.running
    client = open_catalog(tmp_path)  # the same data directory, opened embedded
    try:
        assert find_runs(client)[-1].metadata["start"]["uid"] == uid
    finally:
        close_client(client)
    assert not (tmp_path / "backup" / f"{uid}.jsonl").exists()  # stored, so not kept


def test_the_served_store_exits_when_the_process_that_started_it_is_killed(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from msc_bluesky.storage.served_store import ServedStore
        store = ServedStore({str(tmp_path)!r}).launch()
        store.wait_ready()
        print(store.pid, flush=True)
        sys.stdin.read()  # until killed
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        line = parent.stdout.readline()
        assert line.strip().isdigit(), f"no store pid from the parent: {line!r}"
        child = int(line)
        assert not _gone(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        wait_until(lambda: _gone(child), 30, f"served store {child} outlived its parent")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)


def test_a_store_that_cannot_start_says_why_and_the_session_keeps_the_documents(tmp_path):
    # Port 1 on loopback: no PostgreSQL there. `serve` refuses at once, naming it.
    store = ServedStore(tmp_path, catalog_uri="postgresql://nobody:s3cretPW@127.0.0.1:1/none").launch()
    assert "s3cretPW" not in " ".join(store.command)
    try:
        session = build_session(
            SessionConfig(data_dir=tmp_path, tiled_uri=store.uri, api_key=store.api_key,
                          devices=False, live_analysis=False, progress=False),
            store_in_background=True, before_store=store.wait_ready)
        reactor, uvvis, saxs = make_devices(seed=9)
        (uid,) = session.RE(condition_scan(
            reactor, [uvvis], [{"t_nuc": 1.0, "t_growth": 1.0, "reaction_time": 1.0}]))
        assert session.store_ready(120) is None
        assert "exited with status 2" in session.store_error
        assert "cannot open postgresql://nobody:***@127.0.0.1:1/none" in session.store_error
        session.close()
    finally:
        store.stop()
    assert (tmp_path / "backup" / f"{uid}.jsonl").is_file()


def test_a_held_store_loads_its_code_and_touches_nothing_until_started(tmp_path):
    from msc_bluesky.cli.serve import WAITING_LINE

    data = tmp_path / "data"
    store = ServedStore(data).launch(hold=True)
    try:  # it has loaded tiled's server code and waits for start()
        wait_until(lambda: WAITING_LINE in store.log_text(), 60, "the held store to load")
        assert not data.exists()
        store.stop()  # refused: ends without having touched the data directory
        assert not data.exists()
        store.launch(hold=True)
        assert store.wait_ready(120) == store.uri  # waiting for it starts it
        assert (data / "catalog.db").is_file()
    finally:
        store.stop()
