"""Store layout as facilities use it: raw/ and analysis/, flat condition keys, databroker.

One embedded store written by a real RunEngine through the session's writer and the live
analysis (fake fits: the layout is under test, not the fitting); databroker, tiled
profiles and queries are used through their own APIs. A second store is written in the
old layout (every run at the root) and migrated with ``msc-bluesky replay --migrate``.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from bluesky import RunEngine
from bluesky_tiled_plugins import TiledWriter
from callbacks_helpers import FAKE_SETTINGS
from storage_support import ServeProcess, analysis_documents, condition_scan, make_devices

from msc_bluesky.callbacks.analysis_run import LiveAnalysis
from msc_bluesky.cli import main
from msc_bluesky.storage.browse import campaign_table, find_runs, run_arrays
from msc_bluesky.storage.catalog import close_client, open_catalog, open_databroker
from msc_bluesky.storage.conditions import condition_bounds
from msc_bluesky.storage.layout import count_legacy_runs, find_run
from msc_bluesky.storage.profile import MARKER, profile_path, write_embedded_profile
from msc_bluesky.storage.report import load_records
from msc_bluesky.storage.writer import JournaledWriter

pytestmark = pytest.mark.integration

GRID = [
    {"t_nuc": 240.0, "t_growth": 200.0, "reaction_time": 2.0},
    {"t_nuc": 260.0, "t_growth": 200.0, "reaction_time": 2.0},
]
SINGLE = [{"t_nuc": 280.0, "t_growth": 230.0, "reaction_time": 6.5}]
USER_MD = {"campaign_id": "c0ffee", "campaign_step": 3, "proposal": "SC-1234"}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Two raw runs of a campaign (a grid, then one condition) and their analysis runs."""
    data_dir = tmp_path_factory.mktemp("layout")
    client = open_catalog(data_dir)
    writer = JournaledWriter(client, data_dir / "backup")
    RE = RunEngine({})
    RE.md["operator"] = "ada"
    RE.subscribe(writer)
    RE.subscribe(LiveAnalysis(writer, FAKE_SETTINGS))
    reactor, uvvis, saxs = make_devices(seed=2)
    uids = [
        RE(condition_scan(reactor, [uvvis, saxs], grid, md={**USER_MD, "plan_name": name}))[0]
        for grid, name in ((GRID, "temperature_grid"), (SINGLE, "condition_scan"))
    ]
    assert writer.flush(120), "writer did not drain"
    yield {"dir": data_dir, "client": client, "raw_uids": uids}
    writer.close()
    close_client(client)


def _uids(runs):
    return [r.metadata["start"]["uid"] for r in runs]


def test_raw_and_analysis_runs_in_separate_containers(store):
    client = store["client"]
    assert sorted(client) == ["analysis", "raw"]
    raw, analysis = client["raw"], client["analysis"]
    assert list(raw) == store["raw_uids"]
    assert raw[-1].metadata["start"]["uid"] == store["raw_uids"][-1]  # c[-1]: the last scan
    assert {r.metadata["start"]["raw_uid"] for r in analysis.values()} == set(store["raw_uids"])
    assert count_legacy_runs(client) == 0


def test_analysis_runs_carry_scan_id_campaign_and_user_keys(store):
    client = store["client"]
    found = find_runs(client, kind="analysis", md={"campaign_id": USER_MD["campaign_id"]})
    assert [r.metadata["start"]["raw_uid"] for r in found] == store["raw_uids"]
    for run in found:
        start = run.metadata["start"]
        raw = client["raw"][start["raw_uid"]].metadata["start"]
        assert start["scan_id"] == raw["scan_id"]
        for key in (*USER_MD, "operator"):
            assert start[key] == raw[key]
        assert start["plan_name"] == "msc_analysis" and "plan_args" not in start
    assert find_runs(client, kind="analysis", md={"campaign_id": "other"}) == []
    (second,) = find_runs(client, kind="analysis", md={"scan_id": 2})
    assert second.metadata["start"]["raw_uid"] == store["raw_uids"][1]


def test_flat_condition_keys_are_searched_on_the_server(store):
    from tiled.queries import Key

    raw = store["client"]["raw"]
    grid_uid, single_uid = store["raw_uids"]
    single = raw[single_uid].metadata["start"]
    assert (single["t_nuc"], single["t_growth"], single["reaction_time"]) == (280.0, 230.0, 6.5)
    grid = raw[grid_uid].metadata["start"]
    assert "t_nuc" not in grid  # two temperatures: bounds only
    assert (grid["t_nuc_min"], grid["t_nuc_max"], grid["t_growth"]) == (240.0, 260.0, 200.0)
    assert _uids(raw.search(Key("t_nuc") == 280).values()) == [single_uid]
    assert _uids(raw.search(Key("t_nuc_min") <= 250).values()) == [grid_uid]
    assert _uids(raw.search(Key("reaction_time_max") > 3).values()) == [single_uid]
    assert _uids(find_runs(store["client"], t_nuc=260)) == [grid_uid]
    assert _uids(find_runs(store["client"], t_nuc=250)) == []  # inside the bounds only


def test_open_databroker_gives_the_legacy_api(store):
    db = open_databroker(store["dir"])
    try:
        header = db[-1]
        assert header.start["uid"] == store["raw_uids"][-1]
        assert header.start["plan_name"] == "condition_scan"
        table = header.table()
        assert len(table) == 1 and "reactor_t_nuc" in table.columns
        assert table["reactor_t_nuc"].iloc[0] == pytest.approx(280.0)
        grids = list(db(plan_name="temperature_grid"))
        assert [h.start["uid"] for h in grids] == store["raw_uids"][:1]
        assert [h.start["uid"] for h in db(campaign_id="c0ffee")] == store["raw_uids"]
        assert db[-2].table()["reactor_t_nuc"].tolist() == pytest.approx([240.0, 260.0])
    finally:
        close_client(db.v2)
    # databroker's headers switch tiled's shared client map to v2 runs: ours are immune
    (run,) = find_runs(store["client"], t_nuc=280)
    assert run_arrays(run)["absorbance"].shape == (1, 1000)


def test_embedded_profile_for_databroker_and_tiled(store):
    import databroker
    from databroker import Broker
    from tiled.client import from_profile

    path = write_embedded_profile(store["dir"])
    assert path == profile_path() and path.read_text().startswith(MARKER)
    db = Broker.named("msc")  # databroker looks into "raw" itself
    assert db[-1].start["uid"] == store["raw_uids"][-1]
    close_client(db.v2)
    root = from_profile("msc")
    assert root["raw"][-1].metadata["start"]["uid"] == store["raw_uids"][-1]
    close_client(root)
    root = databroker.catalog["msc"]
    assert sorted(root) == ["analysis", "raw"]


def test_profile_written_by_someone_else_is_left_alone(store):
    mine = profile_path("handmade")
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_text("handmade:\n  uri: http://127.0.0.1:1\n")
    assert write_embedded_profile(store["dir"], name="handmade") is None
    assert mine.read_text() == "handmade:\n  uri: http://127.0.0.1:1\n"


def test_serve_writes_the_msc_profile(store, monkeypatch):
    from databroker import Broker

    key = "layoutkey1"
    monkeypatch.setenv("TILED_API_KEY", key)
    with ServeProcess(store["dir"], key):
        text = profile_path().read_text()
        assert MARKER in text and "uri: http://127.0.0.1:" in text
        db = Broker.named("msc")
        try:
            assert db[-1].start["uid"] == store["raw_uids"][-1]
            assert len(db[-1].table()) == 1
        finally:
            close_client(db.v2)


@pytest.fixture
def old_store(tmp_path):
    """A store written in the old layout: raw and analysis runs together at the root."""
    data_dir = tmp_path / "old"
    client = open_catalog(data_dir)

    def old_patch(start):
        return {**start, "condition_bounds": condition_bounds(start.get("conditions"))}

    old_writer = TiledWriter(client, batch_size=5, patches={"start": old_patch})
    RE = RunEngine({})
    docs: list = []
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    RE.subscribe(old_writer)
    reactor, uvvis, saxs = make_devices(seed=5)
    (uid,) = RE(condition_scan(reactor, [uvvis, saxs], GRID, md={"campaign_id": "old"}))
    analysis = analysis_documents(docs)
    for name, doc in analysis:
        old_writer(name, doc)
    yield {"dir": data_dir, "client": client, "uid": uid, "docs": docs, "analysis": analysis}
    close_client(client)


def test_old_layout_store_is_read_then_migrated(old_store, caplog, capsys):
    client, uid = old_store["client"], old_store["uid"]
    assert count_legacy_runs(client) == 2
    before = run_arrays(find_run(client, uid))
    # readers handle the old layout
    assert _uids(find_runs(client, t_nuc=260)) == [uid]
    assert len(find_runs(client, kind="analysis", raw_uid=uid)) == 1
    table = campaign_table(client, md={"campaign_id": "old"})
    assert table["nc_peak_nm"].notna().all() and len(table) == 2
    assert len(load_records(client, campaign="old")) == 2
    with caplog.at_level(logging.WARNING):
        db = open_databroker(client)
    assert "old layout" in caplog.text
    assert {h.start["uid"] for h in db(campaign_id="old")} == {uid}

    assert main(["replay", "--data-dir", str(old_store["dir"])]) == 0
    assert "replay --migrate" in capsys.readouterr().out
    assert main(["replay", "--migrate", "--data-dir", str(old_store["dir"])]) == 0
    out = capsys.readouterr().out
    assert "migrated 2 runs to the new layout (1 raw, 1 analysis), 0 failed" in out

    after_client = open_catalog(old_store["dir"])
    try:
        assert sorted(after_client) == ["analysis", "raw"]
        run = find_run(after_client, uid)
        assert run.path_parts == ["raw", uid]
        start = run.metadata["start"]
        assert (start["t_nuc_min"], start["t_nuc_max"], start["t_growth"]) == (240.0, 260.0, 200.0)
        after = run_arrays(run)
        for name in ("absorbance", "intensity", "t_nuc", "seq_num", "wavelength_nm", "q_per_nm"):
            np.testing.assert_array_equal(after[name], before[name])
        (linked,) = find_runs(after_client, kind="analysis", raw_uid=uid)
        assert linked.path_parts[0] == "analysis"
        assert open_databroker(after_client)[-1].start["uid"] == uid
    finally:
        close_client(after_client)
    assert main(["replay", "--migrate", "--data-dir", str(old_store["dir"])]) == 0
    assert "migrated 0 runs" in capsys.readouterr().out
