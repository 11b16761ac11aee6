"""LiveRecords (the campaign's figures from its own documents) equal the records read
back from a real embedded tiled store."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from report_store import write_analysis_run, write_raw_run
from report_synthetic import paper_grid, precursor_record, saxs_record, spectrum_record

from msc_bluesky.storage.catalog import close_client, open_catalog
from msc_bluesky.storage.report import load_records
from msc_bluesky.storage.report.live import LiveRecords
from msc_bluesky.storage.writer import make_tiled_writer

pytestmark = pytest.mark.integration


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), equal_nan=True)


def test_live_records_match_the_stored_ones(tmp_path):
    client = open_catalog(tmp_path / "data")
    tiled = make_tiled_writer(client, batch_size=20)
    live = LiveRecords(campaign="paper")

    def writer(name, doc):
        tiled(name, doc)
        live(name, doc)

    try:
        md = {"campaign_id": "paper"}
        write_raw_run(writer, "temperature_grid", paper_grid((270, 300), n_growth=2), md=md)
        write_raw_run(writer, "nucleation_series", [saxs_record(t) for t in (190, 230)], md=md)
        precursor = [precursor_record(t) for t in (25, 100)]
        uid = write_raw_run(writer, "precursor_blank", precursor, md=md, analysis=False)
        write_raw_run(writer, "condition_scan", [spectrum_record(320, 320, 4.5)],
                      md={"campaign_id": "other"})
        start = {"uid": uid, "plan_name": "precursor_blank", "conditions": []}
        stale = [dataclasses.replace(r, analysis={**r.analysis, "phase": "NC"})
                 for r in precursor]
        write_analysis_run(writer, start, stale)
        write_analysis_run(writer, start, precursor)  # the newer analysis wins
        stored = load_records(client, campaign="paper")
    finally:
        close_client(client)
    got = live.records()
    assert len(got) == len(stored) == 4 + 2 + 2
    for a, b in zip(got, stored, strict=True):
        assert (a.raw_uid, a.seq_num, a.plan_name) == (b.raw_uid, b.seq_num, b.plan_name)
        assert (a.t_nuc, a.t_growth, a.reaction_time) == (b.t_nuc, b.t_growth, b.reaction_time)
        assert a.time == pytest.approx(b.time)
        for field in ("wavelength_nm", "absorbance", "q_per_nm", "intensity",
                      "intensity_sigma"):
            assert _same(getattr(a, field), getattr(b, field)), field
        assert a.phase == b.phase
        assert a.detected_families == b.detected_families
        assert a.bragg_peaks_q == pytest.approx(b.bragg_peaks_q)
        assert set(a.analysis) == set(b.analysis)
    assert [r.phase for r in got if r.plan_name == "precursor_blank"] == ["none", "none"]
