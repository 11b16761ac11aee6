"""``msc-bluesky reprocess``: a stored raw run analysed again into a new linked run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from bluesky import RunEngine
from callbacks_helpers import FAKE_SETTINGS, grid_plan, make_devices, real_or_fake_settings

from msc_bluesky.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory):
    """A data directory holding one raw run (no live analysis) and its uid."""
    from msc_bluesky.storage.catalog import close_client, open_catalog
    from msc_bluesky.storage.writer import make_tiled_writer

    data_dir = tmp_path_factory.mktemp("msc_data")
    client = open_catalog(data_dir)
    try:
        RE = RunEngine({})
        RE.subscribe(make_tiled_writer(client))
        (uid,) = RE(grid_plan(make_devices(), t_nucs=(260.0, 270.0, 280.0)))
    finally:
        close_client(client)
    return data_dir, uid


def settings_json() -> str:
    return json.dumps(
        {
            name: f"callbacks_helpers:{FAKE_SETTINGS[name].__name__}"
            for name in real_or_fake_settings()
        }
    )


def analysis_runs(data_dir, raw_uid):
    from msc_bluesky.storage.browse import find_runs
    from msc_bluesky.storage.catalog import open_catalog

    client = open_catalog(data_dir)
    return client, find_runs(client, kind="analysis", raw_uid=raw_uid)


def test_reprocess_writes_a_new_linked_analysis_run(stored_run, capsys):
    from msc_bluesky.storage.catalog import close_client

    data_dir, uid = stored_run
    status = main(["reprocess", uid, "--data-dir", str(data_dir), "--settings", settings_json()])
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"of raw run {uid} written" in out

    client, runs = analysis_runs(data_dir, uid)
    try:
        assert len(runs) == 1
        run = runs[0]
        start = run.metadata["start"]
        assert start["raw_plan_name"] == "temperature_grid"
        # the analysis container, with the raw run's scan id and flat condition keys
        assert run.path_parts[0] == "analysis"
        assert start["scan_id"] == start["raw_scan_id"] == 1
        assert (start["t_nuc_min"], start["t_nuc_max"]) == (260.0, 280.0)
        assert start["analysis_version"]
        assert run.metadata["stop"]["exit_status"] == "success"
        table = run["primary"].read()
        assert list(np.asarray(table["raw_seq_num"])) == [1, 2, 3]
        assert list(np.asarray(table["t_nuc"])) == [260.0, 270.0, 280.0]
        assert all(np.asarray(table["fit_ok"]))
        assert all(np.asarray(table["msc437_detected"]))
        peaks = np.asarray(table["nc_peak_nm"], dtype=float)
        assert peaks == pytest.approx([500.0, 505.0, 510.0], abs=4.0)
        assert np.asarray(table["saxs_radius_nm"]).shape[0] == 3
    finally:
        close_client(client)

    # A second reprocess adds a second analysis run; the first stays.
    assert main(["reprocess", uid, "--data-dir", str(data_dir), "--settings", settings_json()]) == 0
    client, runs = analysis_runs(data_dir, uid)
    try:
        assert len(runs) == 2
        # the newest one keeps copies of both tables, and campaign_table uses them
        from msc_bluesky.storage.browse import campaign_table
        from msc_bluesky.storage.stored_tables import TABLES_KEY

        copies = runs[-1].metadata[TABLES_KEY]
        assert copies["raw"]["uid"] == uid
        assert copies["analysis"]["uid"] == runs[-1].metadata["start"]["uid"]
        copied = campaign_table(client)
        assert set(copied["analysis_uid"]) == {runs[-1].metadata["start"]["uid"]}
        pd.testing.assert_frame_equal(copied, campaign_table(client, use_copies=False))
    finally:
        close_client(client)


def test_reprocess_refuses_unknown_and_analysis_uids(stored_run, capsys):
    from msc_bluesky.storage.catalog import close_client

    data_dir, uid = stored_run
    assert main(["reprocess", "no-such-uid", "--data-dir", str(data_dir)]) == 1
    assert "no run with uid 'no-such-uid'" in capsys.readouterr().err

    main(["reprocess", uid, "--data-dir", str(data_dir), "--settings", settings_json()])
    capsys.readouterr()
    client, runs = analysis_runs(data_dir, uid)
    analysis_uid = runs[0].metadata["start"]["uid"]
    close_client(client)
    assert main(["reprocess", analysis_uid, "--data-dir", str(data_dir)]) == 1
    assert "reprocess the raw run instead" in capsys.readouterr().err


def test_reprocess_rejects_bad_settings(stored_run, capsys):
    data_dir, uid = stored_run
    status = main(["reprocess", uid, "--data-dir", str(data_dir), "--settings", '{"nope": 1}'])
    assert status == 2
    assert "allowed" in capsys.readouterr().err
