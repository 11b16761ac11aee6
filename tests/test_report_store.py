"""Report from a real embedded tiled catalog: raw + linked analysis runs written with
TiledWriter, read back by the loader, figures written by write_report and the CLI."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from report_store import write_analysis_run, write_raw_run
from report_synthetic import paper_grid, precursor_record, saxs_record, spectrum_record

from msc_bluesky.cli import main
from msc_bluesky.storage.catalog import close_client, open_catalog
from msc_bluesky.storage.report import FIGURE_FILES, load_records, write_report
from msc_bluesky.storage.writer import make_tiled_writer

pytestmark = pytest.mark.integration

GRID = paper_grid((270, 300), n_growth=3)
SERIES = [saxs_record(t) for t in (190, 230, 260)]
PRECURSOR = [precursor_record(t) for t in (25, 100)]
OTHER_CAMPAIGN = [spectrum_record(320, 320, 4.5, plan_name="condition_scan")]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A data directory with four raw runs (one per plan) and their analysis runs."""
    data_dir = tmp_path_factory.mktemp("msc_data")
    client = open_catalog(data_dir)
    writer = make_tiled_writer(client, batch_size=20)
    uids = {
        "grid": write_raw_run(writer, "temperature_grid", GRID, md={"campaign_id": "paper"}),
        "series": write_raw_run(writer, "nucleation_series", SERIES, md={"campaign_id": "paper"}),
        "precursor": write_raw_run(
            writer, "precursor_blank", PRECURSOR, md={"campaign_id": "paper"}, analysis=False
        ),
        "other": write_raw_run(writer, "condition_scan", OTHER_CAMPAIGN, md={"campaign_id": "x"}),
    }
    # the precursor run is analysed twice (a reprocessing): the newer analysis must win
    start = {"uid": uids["precursor"], "plan_name": "precursor_blank", "conditions": []}
    stale = [dataclasses.replace(r, analysis={**r.analysis, "phase": "NC"}) for r in PRECURSOR]
    write_analysis_run(writer, start, stale)
    write_analysis_run(writer, start, PRECURSOR)
    yield data_dir, client, uids
    close_client(client)


def test_records_round_trip(store):
    _, client, uids = store
    records = load_records(client)
    assert len(records) == len(GRID) + len(SERIES) + len(PRECURSOR) + len(OTHER_CAMPAIGN)
    grid = [r for r in records if r.raw_uid == uids["grid"]]
    assert [r.seq_num for r in grid] == [1, 2, 3, 4, 5, 6]
    for got, want in zip(grid, GRID, strict=True):
        # setpoints, not the noisy readbacks
        assert (got.t_nuc, got.t_growth, got.reaction_time) == (
            want.t_nuc,
            want.t_growth,
            want.reaction_time,
        )
        np.testing.assert_allclose(got.absorbance, want.absorbance)
        np.testing.assert_allclose(got.wavelength_nm, want.wavelength_nm)
        assert got.q_per_nm is None
        assert got.phase == want.phase
        assert got.detected_families == want.detected_families
        assert got.analysis["raw_seq_num"] == got.seq_num
    series = [r for r in records if r.raw_uid == uids["series"]]
    for got, want in zip(series, SERIES, strict=True):
        np.testing.assert_allclose(got.intensity, want.intensity)
        radius, phi = got.size_distribution
        np.testing.assert_allclose(radius, want.analysis["saxs_radius_nm"])
        np.testing.assert_allclose(phi, want.analysis["saxs_volume_fraction"])
    precursor = [r for r in records if r.raw_uid == uids["precursor"]]
    assert [r.phase for r in precursor] == ["none", "none"]  # newest analysis run
    assert precursor[0].bragg_peaks_q == pytest.approx((1.84, 3.69))
    assert precursor[1].bragg_peaks_q == ()


def test_since_filter(store):
    _, client, _ = store
    assert load_records(client, since=4.1e9) == []  # year 2099


def test_write_report_from_tiled_for_one_campaign(store, tmp_path):
    _, client, _ = store
    notes: list[str] = []
    written = write_report(client, tmp_path, campaign="paper", echo=notes.append)
    assert [p.name for p in written] == list(FIGURE_FILES.values())
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in written)
    assert notes == []


def test_cli_report(store, tmp_path, capsys):
    data_dir, _, _ = store
    out = tmp_path / "report"
    status = main(
        ["report", "--data-dir", str(data_dir), "--report-dir", str(out), "--campaign", "x"]
    )
    printed = capsys.readouterr().out
    assert status == 0
    # campaign "x" holds one spectrum and its phase: no SAXS, no precursor
    assert sorted(p.name for p in out.iterdir()) == ["fig1_spectra.png", "phase_map.png"]
    assert str(out / "fig1_spectra.png") in printed
    assert "skipped fig2_saxs.png" in printed and "skipped fig3_precursor.png" in printed


def test_cli_report_refuses_missing_data_dir(tmp_path, capsys):
    status = main(["report", "--data-dir", str(tmp_path / "nope"), "--report-dir", str(tmp_path)])
    assert status == 1
    assert "does not exist" in capsys.readouterr().err


def test_cli_report_refuses_bad_since(tmp_path, capsys):
    status = main(["report", "--data-dir", str(tmp_path), "--since", "last tuesday"])
    assert status == 2
    assert "ISO date" in capsys.readouterr().err
