"""The embedded catalog on PostgreSQL (127.0.0.1:5432, trust auth), in a throw-away database."""

from __future__ import annotations

import numpy as np
import pytest
from bluesky import RunEngine
from postgres_support import temporary_database
from storage_support import analysis_documents, condition_scan, make_devices

from msc_bluesky.storage.browse import campaign_table, find_runs, run_arrays
from msc_bluesky.storage.catalog import catalog_exists, close_client, open_catalog
from msc_bluesky.storage.writer import JournaledWriter

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def postgres_uri():
    with temporary_database() as uri:
        yield uri


def test_postgres_catalog_round_trip_and_query(postgres_uri, tmp_path):
    assert not catalog_exists(tmp_path, postgres_uri)
    client = open_catalog(tmp_path, catalog_uri=postgres_uri)
    try:
        assert catalog_exists(tmp_path, postgres_uri)
        writer = JournaledWriter(client, tmp_path / "backup")
        reactor, uvvis, saxs = make_devices(seed=5)
        docs: list = []
        RE = RunEngine({})
        RE.subscribe(lambda n, d: docs.append((n, d)))
        RE.subscribe(writer)
        grid = [
            {"t_nuc": 250.0, "t_growth": 230.0, "reaction_time": 3.0},
            {"t_nuc": 270.0, "t_growth": 230.0, "reaction_time": 3.0},
        ]
        (uid,) = RE(condition_scan(reactor, [uvvis, saxs], grid))
        other = len(docs)
        RE(condition_scan(reactor, [uvvis, saxs], [{**grid[0], "t_nuc": 200.0}]))
        for name, doc in analysis_documents(docs[:other]):
            writer(name, doc)
        assert writer.close(60)
        assert len(writer.status.stored) == 3
        (run,) = find_runs(client, t_nuc=270)
        assert run.metadata["start"]["uid"] == uid
        events = [d for n, d in docs[:other] if n == "event"]
        np.testing.assert_array_equal(
            run_arrays(run)["intensity"], [e["data"]["saxs_intensity"] for e in events]
        )
        table = campaign_table(client, t_growth=230)
        assert len(table) == 3
        assert table["phase"].notna().sum() == 2  # only the first run has an analysis run
    finally:
        close_client(client)
    # a second open reuses the catalog (no initialisation)
    client = open_catalog(tmp_path, catalog_uri=postgres_uri)
    try:
        assert len(find_runs(client)) == 2
    finally:
        close_client(client)
