"""Analysis runs reach tiled for every detector subset; storage errors are retried.

Real embedded tiled store (one catalog for the module), bluesky's RunEngine, the live
analysis and the journalled writer, as a session wires them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from bluesky import RunEngine
from bluesky.plans import count
from event_model import compose_run
from storage_support import condition_scan, make_devices

from msc_bluesky.callbacks import LiveAnalysis
from msc_bluesky.storage import writer as writer_module
from msc_bluesky.storage.backup import RunJournal, pending_journals
from msc_bluesky.storage.browse import find_runs
from msc_bluesky.storage.catalog import close_client, open_catalog
from msc_bluesky.storage.layout import find_run
from msc_bluesky.storage.replay import replay_backups
from msc_bluesky.storage.writer import JournaledWriter

pytestmark = pytest.mark.integration

GRID = [
    {"t_nuc": 240.0, "t_growth": 200.0, "reaction_time": 2.0},
    {"t_nuc": 280.0, "t_growth": 230.0, "reaction_time": 6.5},
]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("subsets")
    client = open_catalog(data_dir)
    yield data_dir, client
    close_client(client)


def _session(client, backup_dir, **writer_options):
    writer = JournaledWriter(client, backup_dir, **writer_options)
    RE = RunEngine({})  # noqa: N806 - bluesky's conventional name
    RE.subscribe(writer)
    live = LiveAnalysis(writer)
    RE.subscribe(live)
    return RE, writer, live


@pytest.mark.parametrize(
    "subset", ["uvvis", "saxs", "uvvis+saxs", "count(uvvis)"]
)
def test_analysis_run_is_stored_for_every_detector_subset(catalog, tmp_path, subset):
    _, client = catalog
    reactor, uvvis, saxs = make_devices(seed=5)
    RE, writer, live = _session(client, tmp_path / "backup")  # noqa: N806
    detectors = {"uvvis": [uvvis], "saxs": [saxs], "uvvis+saxs": [uvvis, saxs]}
    if subset == "count(uvvis)":
        (raw_uid,) = RE(count([uvvis], num=2))
    else:
        (raw_uid,) = RE(condition_scan(reactor, detectors[subset], GRID))
    assert writer.close(60)
    assert writer.status.backed_up == {}, writer.status.backed_up
    assert pending_journals(tmp_path / "backup") == []
    (run,) = find_runs(client, kind="analysis", raw_uid=raw_uid)
    assert run.metadata["start"]["uid"] == live.analysis_uids[raw_uid]
    assert run.metadata["stop"]["exit_status"] == "success"
    table = run["primary"].base["internal"].read()
    assert table["raw_seq_num"].tolist() == [1, 2]
    radii = run["primary"]["saxs_radius_nm"].read()
    assert radii.shape[0] == 2 and radii.shape[1] > 0
    has_saxs = "saxs" in subset
    assert bool(np.isfinite(radii).all()) is has_saxs
    if "uvvis" in subset:
        assert table["spectrum_r_squared"].notna().all()


def _old_analysis_run_with_empty_arrays():
    """What the live analysis of a UV-Vis-only run emitted before the fix."""
    bundle = compose_run(metadata={"plan_name": "msc_analysis", "raw_uid": "raw-x"})
    keys = {
        "raw_seq_num": {"source": "a", "dtype": "integer", "shape": []},
        "phase": {"source": "a", "dtype": "string", "shape": []},
        "nc_peak_nm": {"source": "a", "dtype": "number", "shape": []},
        "saxs_radius_nm": {"source": "a", "dtype": "array", "dtype_numpy": "<f8", "shape": [0]},
    }
    desc = bundle.compose_descriptor(
        name="primary", data_keys=keys, object_keys={"msc_analysis": list(keys)}
    )
    docs = [("start", bundle.start_doc), ("descriptor", desc.descriptor_doc)]
    for i in (1, 2):
        data = {"raw_seq_num": i, "phase": "MSC", "nc_peak_nm": math.nan, "saxs_radius_nm": []}
        docs.append(("event", desc.compose_event(data=data, timestamps=dict.fromkeys(data, 0.0))))
    docs.append(("stop", bundle.compose_stop()))
    return docs


def test_replay_loads_a_backup_with_zero_length_arrays(catalog, tmp_path):
    _, client = catalog
    docs = _old_analysis_run_with_empty_arrays()
    journal = RunJournal(tmp_path / "backup", docs[0][1]["uid"])
    for name, doc in docs:
        journal.write(name, doc)
    journal.close()
    report = replay_backups(client, tmp_path / "backup")
    assert report.replayed == [docs[0][1]["uid"]], report.failed
    run = find_run(client, docs[0][1]["uid"])
    assert run["primary"].base["internal"].read()["raw_seq_num"].tolist() == [1, 2]
    assert run["primary"].metadata["empty_arrays_omitted"] == ["saxs_radius_nm"]
    assert replay_backups(client, tmp_path / "backup").replayed == []


class _LockedOnce:
    """Wraps a TiledWriter: its first event raises SQLite's lock error, as a second
    writer holding the store would make it."""

    failures = 0

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, name, doc):
        if name == "event" and _LockedOnce.failures < 2:
            _LockedOnce.failures += 1
            raise RuntimeError("OperationalError: IO: Failed to step query: database is locked")
        return self.inner(name, doc)


def test_database_locked_is_retried_not_a_loss(catalog, tmp_path, monkeypatch):
    _, client = catalog
    real = writer_module.make_tiled_writer
    monkeypatch.setattr(
        writer_module, "make_tiled_writer", lambda *a, **k: _LockedOnce(real(*a, **k))
    )
    _LockedOnce.failures = 0
    reactor, uvvis, saxs = make_devices(seed=9)
    RE, writer, live = _session(client, tmp_path / "backup", retry_delays=(0.05, 0.1, 0.2))  # noqa: N806
    (raw_uid,) = RE(condition_scan(reactor, [uvvis, saxs], GRID))
    assert writer.close(60)
    assert _LockedOnce.failures == 2  # the first write and the first retry were locked
    assert writer.status.backed_up == {} and writer.status.retries == 1
    raw = find_run(client, raw_uid)
    assert raw["primary"].base["internal"].read()["seq_num"].tolist() == [1, 2]
    analysis = find_run(client, live.analysis_uids[raw_uid])
    assert len(analysis["primary"].base["internal"].read()) == 2


def test_a_refused_write_is_not_retried_and_is_reported(catalog, tmp_path, monkeypatch):
    _, client = catalog

    def refuse(*args, **kwargs):
        def writer(name, doc):
            raise ValueError("Unsupported PyArrow type: list<item: string>")

        return writer

    monkeypatch.setattr(writer_module, "make_tiled_writer", refuse)
    reactor, uvvis, saxs = make_devices(seed=2)
    writer = JournaledWriter(client, tmp_path / "data" / "backup", retry_delays=(30.0,))
    RE = RunEngine({})  # noqa: N806
    RE.subscribe(writer)
    (uid,) = RE(condition_scan(reactor, [uvvis], GRID))
    assert writer.close(20)  # no 30 s pause: not a transient error
    assert writer.status.retries == 0
    assert writer.status.documents_kept == {uid: 5}  # start, descriptor, 2 events, stop
    line = writer.backup_summary()
    assert line == (
        f"5 documents of 1 run kept in the local backup; run "
        f"`msc-bluesky replay --data-dir {tmp_path / 'data'}`"
    )


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (RuntimeError("(sqlite3.OperationalError) database is locked"), True),
        (ConnectionError("tiled is not reachable"), True),
        (ValueError("Unsupported PyArrow type: list<item: string>"), False),
    ],
)
def test_transient_errors_are_told_apart(error, transient):
    assert writer_module.is_transient(error) is transient


def test_connection_errors_and_server_errors_are_transient():
    import httpx

    request = httpx.Request("POST", "http://127.0.0.1:1/api")
    assert writer_module.is_transient(httpx.ConnectError("refused", request=request))
    for code, expected in ((500, True), (503, True), (429, True), (404, False), (401, False)):
        response = httpx.Response(code, request=request)
        err = httpx.HTTPStatusError("x", request=request, response=response)
        assert writer_module.is_transient(err) is expected
