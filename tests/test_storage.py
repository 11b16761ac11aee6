"""Embedded tiled store: round trip, queries, tables, crash journals and replay.

One SQLite catalog for the whole module (catalog creation takes seconds).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bluesky import RunEngine
from event_model import compose_run
from storage_support import analysis_documents, condition_scan, make_devices

from msc_bluesky.storage.backup import RunJournal, encode_document, pending_journals, read_journal
from msc_bluesky.storage.browse import campaign_table, find_runs, run_arrays
from msc_bluesky.storage.catalog import close_client, open_catalog
from msc_bluesky.storage.conditions import condition_bounds
from msc_bluesky.storage.replay import replay_backups
from msc_bluesky.storage.writer import JournaledWriter

pytestmark = pytest.mark.integration

GRID_A = [
    {"t_nuc": 240.0, "t_growth": 200.0, "reaction_time": 2.0},
    {"t_nuc": 260.0, "t_growth": 200.0, "reaction_time": 2.0},
]
GRID_B = [
    {"t_nuc": 280.0, "t_growth": 230.0, "reaction_time": 6.5},
    {"t_nuc": 240.0, "t_growth": 230.0, "reaction_time": 6.5},
]
GRID_C = [{"t_nuc": 190.0, "t_growth": 190.0, "reaction_time": 1.5}]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """An embedded catalog with three raw runs and a linked analysis run for each."""
    data_dir = tmp_path_factory.mktemp("store")
    client = open_catalog(data_dir)
    writer = JournaledWriter(client, data_dir / "backup")
    reactor, uvvis, saxs = make_devices(seed=1)
    RE = RunEngine({})
    captured: dict[str, list] = {}

    def capture(name, doc):
        if name == "start":
            captured[doc["uid"]] = []
            capture.current = doc["uid"]
        captured[capture.current].append((name, doc))

    RE.subscribe(capture)
    RE.subscribe(writer)
    raw_uids = [
        RE(condition_scan(reactor, [uvvis, saxs], grid, md={"campaign": "test"}))[0]
        for grid in (GRID_A, GRID_B, GRID_C)
    ]
    analysis = {}
    for uid in raw_uids:
        docs = analysis_documents(captured[uid])
        analysis[uid] = docs
        for name, doc in docs:
            writer(name, doc)
    assert writer.flush(60), "writer did not drain"
    yield {
        "dir": data_dir,
        "client": client,
        "writer": writer,
        "raw_uids": raw_uids,
        "docs": captured,
        "analysis": analysis,
    }
    writer.close()
    close_client(client)


def _events(docs):
    return [doc for name, doc in docs if name == "event"]


def test_every_run_stored_and_journals_removed(store):
    status = store["writer"].status
    expected = set(store["raw_uids"]) | {d[0][1]["uid"] for d in store["analysis"].values()}
    assert set(status.stored) == expected
    assert status.backed_up == {}
    assert pending_journals(store["dir"] / "backup") == []


def test_raw_run_round_trip_identical(store):
    for uid in store["raw_uids"]:
        run = store["client"]["raw"][uid]
        assert run.metadata["start"]["conditions"] == store["docs"][uid][0][1]["conditions"]
        assert run.metadata["stop"]["exit_status"] == "success"
        events = _events(store["docs"][uid])
        arrays = run_arrays(run)
        expected_abs = np.array([e["data"]["uvvis_absorbance"] for e in events])
        expected_int = np.array([e["data"]["saxs_intensity"] for e in events])
        assert arrays["absorbance"].shape == (len(events), 1000)
        assert arrays["intensity"].shape == (len(events), 300)
        np.testing.assert_array_equal(arrays["absorbance"], expected_abs)
        np.testing.assert_array_equal(arrays["intensity"], expected_int)
        np.testing.assert_array_equal(arrays["t_nuc"], [e["data"]["reactor_t_nuc"] for e in events])
        np.testing.assert_array_equal(arrays["seq_num"], [e["seq_num"] for e in events])
        np.testing.assert_array_equal(arrays["wavelength_nm"], np.linspace(300, 700, 1000))
        assert arrays["q_per_nm"].shape == (300,)


def test_analysis_run_round_trip_identical(store):
    client = store["client"]
    for raw_uid, docs in store["analysis"].items():
        (run,) = find_runs(client, kind="analysis", raw_uid=raw_uid)
        assert run.metadata["start"]["uid"] == docs[0][1]["uid"]
        events = _events(docs)
        arrays = run_arrays(run)
        np.testing.assert_array_equal(
            arrays["radius_nm"], [e["data"]["saxs_radius_nm"] for e in events]
        )
        table = run["primary"].base["internal"].read()
        assert table["phase"].tolist() == [e["data"]["phase"] for e in events]
        assert table["nc_peak_nm"].tolist() == [e["data"]["nc_peak_nm"] for e in events]
        assert table["raw_seq_num"].tolist() == [e["data"]["raw_seq_num"] for e in events]


def _uids(runs):
    return {r.metadata["start"]["uid"] for r in runs}


def test_find_runs_by_condition_exact(store):
    client = store["client"]
    a, b, c = store["raw_uids"]
    assert _uids(find_runs(client, t_nuc=240)) == {a, b}
    assert _uids(find_runs(client, t_nuc=280)) == {b}
    assert _uids(find_runs(client, t_nuc=250)) == set()  # inside A's bounds, no condition
    assert _uids(find_runs(client, t_nuc=240, t_growth=230)) == {b}
    assert _uids(find_runs(client, t_nuc=260, t_growth=230)) == set()  # not the same condition
    assert _uids(find_runs(client, reaction_time=(1.0, 2.0))) == {a, c}
    assert _uids(find_runs(client, plan_name="condition_scan")) == {a, b, c}
    assert _uids(find_runs(client, plan_name="other")) == set()
    assert _uids(find_runs(client, md={"campaign": "test"}, t_growth=190)) == {c}
    analysis = find_runs(client, kind="analysis", t_nuc=280)
    assert [r.metadata["start"]["raw_uid"] for r in analysis] == [b]


def test_find_runs_rejects_bad_arguments(store):
    with pytest.raises(ValueError, match="kind must be one of"):
        find_runs(store["client"], kind="everything")
    with pytest.raises(ValueError, match="low <= high"):
        find_runs(store["client"], t_nuc=(300, 200))


def test_campaign_table_rows_and_fit_columns(store):
    table = campaign_table(store["client"])
    n_events = sum(len(_events(store["docs"][u])) for u in store["raw_uids"])
    assert len(table) == n_events
    assert {"raw_uid", "seq_num", "reactor_t_nuc", "analysis_uid", "phase", "nc_peak_nm"} <= set(
        table.columns
    )
    for raw_uid, docs in store["analysis"].items():
        rows = table[table["raw_uid"] == raw_uid].sort_values("seq_num")
        events = _events(docs)
        assert rows["nc_peak_nm"].tolist() == [e["data"]["nc_peak_nm"] for e in events]
        assert set(rows["analysis_uid"]) == {docs[0][1]["uid"]}
    only_b = campaign_table(store["client"], t_nuc=280)
    assert set(only_b["raw_uid"]) == {store["raw_uids"][1]}


def _counting_reads(monkeypatch):
    """Count the scalar tables campaign_table reads from the store."""
    from msc_bluesky.storage import browse

    reads: list[str] = []
    real = browse._scalar_table

    def counted(run, stream="primary"):
        reads.append(run.metadata["start"]["uid"])
        return real(run, stream)

    monkeypatch.setattr(browse, "_scalar_table", counted)
    return reads


def test_campaign_table_from_copies_equals_table_reads(store, monkeypatch):
    from msc_bluesky.storage.stored_tables import TABLES_KEY

    client = store["client"]
    for raw_uid, docs in store["analysis"].items():
        copies = client["analysis"][docs[0][1]["uid"]].metadata[TABLES_KEY]
        assert copies["raw"]["uid"] == raw_uid
        assert copies["analysis"]["rows"] == len(_events(docs))
    reads = _counting_reads(monkeypatch)
    read = campaign_table(client, use_copies=False)
    assert len(reads) == 6  # three raw runs, three analysis runs
    reads.clear()
    copied = campaign_table(client)
    assert reads == []
    pd.testing.assert_frame_equal(copied, read)


def test_campaign_table_reads_tables_whose_copies_do_not_match(store, monkeypatch):
    from msc_bluesky.storage.stored_tables import TABLES_KEY

    client = store["client"]
    raw_uid = store["raw_uids"][1]
    node = client["analysis"][store["analysis"][raw_uid][0][1]["uid"]]
    original = node.metadata[TABLES_KEY]
    stale = {**original, "raw": {**original["raw"], "stop_uid": "another stop"},
             "analysis": {**original["analysis"], "rows": original["analysis"]["rows"] + 1}}
    node.update_metadata({TABLES_KEY: stale}, drop_revision=True)
    try:
        reads = _counting_reads(monkeypatch)
        table = campaign_table(client)
        assert sorted(reads) == sorted([raw_uid, node.metadata["start"]["uid"]])
        pd.testing.assert_frame_equal(table, campaign_table(client, use_copies=False))
    finally:
        node.update_metadata({TABLES_KEY: original}, drop_revision=True)


def test_campaign_table_joins_at_once_as_run_by_run(store):
    from msc_bluesky.storage import browse

    client = store["client"]
    raw_runs = find_runs(client)
    latest = browse.latest_analysis(client, store["raw_uids"])
    linked = [latest[r.metadata["start"]["uid"]] for r in raw_runs]
    raw_tables = [browse._scalar_table(r) for r in raw_runs]
    fit_tables = [browse._scalar_table(r) for r in linked]

    def join(how, linked_runs):
        return how(raw_runs, [t.copy() for t in raw_tables], linked_runs,
                   [t.copy() for t in fit_tables])

    at_once = join(browse._join_at_once, linked)
    assert at_once is not None and len(at_once) == sum(map(len, raw_tables))
    pd.testing.assert_frame_equal(at_once, join(browse._join_per_run, linked))
    assert join(browse._join_at_once, [None, *linked[1:]]) is None  # a run without fits


def test_scalar_tables_copy_only_what_tiled_writer_stores_so():
    from msc_bluesky.storage.stored_tables import ScalarTables, table_frame

    def run(data_keys, rows, raw_uid=None):
        md = {"plan_name": "p", **({"raw_uid": raw_uid} if raw_uid else {})}
        bundle = compose_run(metadata=md)
        desc = bundle.compose_descriptor(name="primary", data_keys=data_keys)
        docs = [("start", bundle.start_doc), ("descriptor", desc.descriptor_doc)]
        docs += [("event", desc.compose_event(data=r, timestamps=dict.fromkeys(r, 0.0),
                                              seq_num=i + 1)) for i, r in enumerate(rows)]
        return [*docs, ("stop", bundle.compose_stop())]

    number = {"dtype": "number", "shape": [], "source": "x"}
    raw = run({"a": number, "spectrum": {"dtype": "array", "shape": [3], "source": "x"}},
              [{"a": 1.5, "spectrum": [1, 2, 3]}, {"a": 2.5, "spectrum": [4, 5, 6]}])
    fit = run({"b": number}, [{"b": None}, {"b": "7"}], raw_uid=raw[0][1]["uid"])
    renamed = run({"time": number}, [{"time": 1.0}], raw_uid=raw[0][1]["uid"])
    tables = ScalarTables()
    for name, doc in raw + fit + renamed:
        tables(name, doc)
    assert tables.copies(raw[0][1]["uid"]) is None  # not an analysis run
    copies = tables.copies(fit[0][1]["uid"])
    raw_frame = table_frame(copies["raw"]["table"])
    assert list(raw_frame.columns) == ["seq_num", "time", "a"]  # arrays go to zarr
    assert raw_frame["a"].tolist() == [1.5, 2.5]
    # a first batch of nulls makes a text column, as in TiledWriter
    b = table_frame(copies["analysis"]["table"])["b"].tolist()
    assert pd.isna(b[0]) and b[1] == "7"
    assert tables.copies(renamed[0][1]["uid"])["analysis"] is None  # TiledWriter renames


def test_condition_bounds_ignore_non_numbers():
    bounds = condition_bounds([{"t_nuc": 250, "t_growth": "x"}, {"t_nuc": float("nan")}, 3])
    assert bounds == {"n_conditions": 2, "t_nuc_min": 250.0, "t_nuc_max": 250.0}


def test_crash_journal_replayed_once(store, tmp_path):
    """A run cut short by a crash: partial in tiled, journal without stop."""
    client = store["client"]
    backup = tmp_path / "backup"
    reactor, uvvis, saxs = make_devices(seed=7)
    docs = []
    RE = RunEngine({})
    RE.subscribe(lambda n, d: docs.append((n, d)))
    RE(condition_scan(reactor, [uvvis, saxs], GRID_A + GRID_C))
    uid = docs[0][1]["uid"]
    # the crashed session: tiled got start, descriptor and the first event ...
    crashed = JournaledWriter(client, backup)
    for name, doc in docs[:3]:
        crashed(name, doc)
    assert crashed.flush(30)
    assert "stop" not in client["raw"][uid].metadata or not client["raw"][uid].metadata["stop"]
    # ... the journal got one more event before the process died (lock released)
    crashed._runs[uid].journal.write(*docs[3])
    crashed._runs[uid].journal.close()
    journal = backup / f"{uid}.jsonl"
    with open(journal, "a") as handle:  # a line cut short by the crash
        handle.write(encode_document(*docs[4])[:50])
    assert [n for n, _ in read_journal(journal)] == ["start", "descriptor", "event", "event"]

    crashed.close()
    report = replay_backups(client, backup)
    assert report.replayed == [uid] and not report.failed
    run = client["raw"][uid]
    assert run.metadata["stop"]["exit_status"] == "fail"
    assert "recovered" in run.metadata["stop"]["reason"]
    events = _events(docs)[:2]
    np.testing.assert_array_equal(
        run_arrays(run)["absorbance"], [e["data"]["uvvis_absorbance"] for e in events]
    )
    again = replay_backups(client, backup)
    assert again.replayed == [] and again.already_stored == []
    assert len(run_arrays(client["raw"][uid])["seq_num"]) == 2


def test_replay_skips_runs_already_complete_and_journals_in_use(store, tmp_path):
    client = store["client"]
    backup = tmp_path / "backup"
    uid = store["raw_uids"][0]
    held = RunJournal(backup, "00000000-0000-0000-0000-000000000000")
    held.write("start", {"uid": "00000000-0000-0000-0000-000000000000", "time": 0.0})
    done = RunJournal(backup, uid)
    for name, doc in store["docs"][uid]:
        done.write(name, doc)
    done.close()
    report = replay_backups(client, backup)
    assert report.already_stored == [uid]
    assert report.in_use == [held.path]
    assert (backup / "replayed" / f"{uid}.jsonl").is_file()
    held.close()


def test_writer_rejects_bad_batch_size(tmp_path):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        JournaledWriter(None, tmp_path, batch_size=0)


def test_writer_without_store_keeps_everything_in_backup(tmp_path):
    writer = JournaledWriter(None, tmp_path / "backup")
    reactor, uvvis, saxs = make_devices(seed=3)
    RE = RunEngine({})
    docs = []
    RE.subscribe(lambda n, d: docs.append((n, d)))
    RE.subscribe(writer)
    (uid,) = RE(condition_scan(reactor, [uvvis, saxs], GRID_C))
    assert writer.close(30)
    assert uid in writer.status.backed_up
    stored = read_journal(tmp_path / "backup" / f"{uid}.jsonl")
    assert [n for n, _ in stored] == [n for n, _ in docs]
    assert stored[2][1]["data"]["uvvis_absorbance"] == list(docs[2][1]["data"]["uvvis_absorbance"])


def test_writer_given_a_late_client_journals_at_once_and_forwards_everything(store, tmp_path):
    """The store opening in the background: nothing waits for it, nothing is lost.

    Batches of 10 and a 2-event run: the events are in tiled before the stop arrives
    (written as soon as the writer has nothing else to do).
    """
    from concurrent.futures import Future

    client = store["client"]
    reactor, uvvis, saxs = make_devices(seed=11)
    docs = []
    RE = RunEngine({})
    RE.subscribe(lambda n, d: docs.append((n, d)))
    RE(condition_scan(reactor, [uvvis, saxs], GRID_A))
    uid = docs[0][1]["uid"]
    future: Future = Future()
    writer = JournaledWriter(future, tmp_path / "backup", batch_size=10)
    for name, doc in docs[:-1]:
        writer(name, doc)
    assert [n for n, _ in read_journal(tmp_path / "backup" / f"{uid}.jsonl")] == [
        n for n, _ in docs[:-1]]
    assert not writer.flush(0.2), "documents were handled before the store existed"
    future.set_result(client)
    assert writer.flush(60) and writer.wait_client() is client
    stream = client["raw"][uid]["primary"].base  # written before the stop:
    assert stream["uvvis_absorbance"].shape == (2, 1000)
    writer(*docs[-1])
    assert writer.close(60)
    assert writer.status.stored == [uid] and not writer.status.backed_up
    assert not (tmp_path / "backup" / f"{uid}.jsonl").exists()
    np.testing.assert_array_equal(run_arrays(client["raw"][uid])["absorbance"],
                                  [e["data"]["uvvis_absorbance"] for e in _events(docs)])


def test_session_whose_store_fails_to_open_says_so_and_keeps_documents(
        tmp_path, monkeypatch, caplog):
    from msc_bluesky import session as session_module

    def broken(config, directory):
        raise OSError("disk full")

    monkeypatch.setattr(session_module, "_open_store", broken)
    session = session_module.build_session(
        session_module.SessionConfig(data_dir=tmp_path, devices=False, live_analysis=False,
                                     progress=False),
        store_in_background=True)
    reactor, uvvis, saxs = make_devices(seed=5)
    (uid,) = session.RE(condition_scan(reactor, [uvvis], GRID_C))
    assert session.store_ready(30) is None and "disk full" in session.store_error
    assert session.close()
    assert "disk full" in session.writer.status.backed_up[uid]
    assert "msc-bluesky replay" in session.writer.backup_summary()
    assert any("could not be opened" in r.getMessage() and "replay" in r.getMessage()
               for r in caplog.records)
    kept = read_journal(tmp_path / "backup" / f"{uid}.jsonl")
    assert [n for n, _ in kept] == ["start", "descriptor", "event", "stop"]


def test_replay_retries_a_journal_after_a_transient_error(store, tmp_path, monkeypatch):
    """A reset connection (a server just restarted) is retried; a refusal is not."""
    import httpx

    from msc_bluesky.storage import replay

    client = store["client"]
    uid = store["raw_uids"][0]
    real = replay.replay_journal
    calls: list[str] = []

    def flaky(client, path, **kwargs):
        calls.append(path.name)
        if len(calls) == 1:
            raise httpx.ReadError("[Errno 104] Connection reset by peer")
        return real(client, path, **kwargs)

    def journal(backup):
        done = RunJournal(backup, uid)
        for name, doc in store["docs"][uid]:
            done.write(name, doc)
        done.close()

    monkeypatch.setattr(replay, "replay_journal", flaky)
    journal(tmp_path / "a")
    report = replay_backups(client, tmp_path / "a", retry_delays=(0.0,))
    assert len(calls) == 2 and report.already_stored == [uid] and not report.failed

    def refused(client, path, **kwargs):
        calls.append(path.name)
        raise ValueError("document refused")

    monkeypatch.setattr(replay, "replay_journal", refused)
    calls.clear()
    journal(tmp_path / "b")
    report = replay_backups(client, tmp_path / "b", retry_delays=(0.0, 0.0))
    assert len(calls) == 1 and list(report.failed) == [tmp_path / "b" / f"{uid}.jsonl"]
    assert pending_journals(tmp_path / "b") == [tmp_path / "b" / f"{uid}.jsonl"]  # kept


def test_writer_looks_up_each_container_once_not_per_run(store, tmp_path):
    """Runs after the first of their kind cost no container lookup (requests per run)."""
    client = store["client"]
    container_reads: list[str] = []

    def note(request):
        if request.method == "GET" and request.url.path.rstrip("/").endswith("/raw"):
            container_reads.append(request.url.path)

    hooks = client.context.http_client.event_hooks
    hooks["request"].append(note)
    try:
        writer = JournaledWriter(client, tmp_path / "backup", batch_size=10)
        RE = RunEngine({})
        RE.subscribe(writer)
        reactor, uvvis, saxs = make_devices(seed=12)
        counts, uids = [], []
        for grid in (GRID_A, GRID_B, GRID_C):
            uids += RE(condition_scan(reactor, [uvvis, saxs], grid))
            assert writer.flush(60)
            counts.append(len(container_reads))
        assert writer.close(60)
    finally:
        hooks["request"].remove(note)
    assert counts[0] >= 1 and counts[2] == counts[0]  # looked up for the first run only
    assert writer.status.stored == uids and not writer.status.backed_up
    for uid, grid in zip(uids, (GRID_A, GRID_B, GRID_C), strict=True):
        assert client["raw"][uid].metadata["stop"]["num_events"]["primary"] == len(grid)
