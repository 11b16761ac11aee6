"""The campaign's definition, files, summary and queue items (no hardware)."""

from __future__ import annotations

import json
import os

import pytest

from msc_bluesky.campaign.definition import (
    CampaignStep,
    check_campaign,
    conditions_of,
    load_campaign,
    paper_campaign,
)
from msc_bluesky.campaign.runner import queue_items
from msc_bluesky.campaign.summary import format_summary, msc437_window, summarize
from msc_bluesky.cli import main
from msc_bluesky.limits import ConditionError


def test_paper_campaign_has_the_papers_conditions():
    steps = paper_campaign()
    assert [s.plan for s in steps] == [
        "precursor_blank", "nucleation_series", "condition_scan", "temperature_grid",
    ]
    blank, nucleation, uv, grid = (conditions_of(s) for s in steps)
    assert [c["t_nuc"] for c in blank] == [25.0, 50.0, 100.0]
    assert [c["t_nuc"] for c in nucleation] == [float(t) for t in range(190, 281, 10)]
    assert {c["t_growth"] for c in nucleation} == {230.0}
    assert {c["reaction_time"] for c in nucleation} == {1.5}
    assert [(c["t_nuc"], c["reaction_time"]) for c in uv] == [(260, 4.5), (280, 4.5), (350, 4.5)]
    assert len(grid) == 70 and {c["reaction_time"] for c in grid} == {14.0}
    assert [c["t_growth"] for c in grid[:10]] == [260.0 - 10 * k for k in range(10)]
    assert check_campaign(steps) == 86


def test_quick_campaign_uses_the_same_plans_and_spans_the_window():
    quick = paper_campaign(quick=True)
    assert [s.plan for s in quick] == [s.plan for s in paper_campaign()]
    grid = conditions_of(quick[-1])
    assert [c["t_nuc"] for c in grid] == [260.0, 270.0, 280.0, 290.0, 300.0, 310.0]
    assert all(c["t_nuc"] == c["t_growth"] for c in grid)
    assert check_campaign(quick) == 13


def test_unknown_plan_or_detector_is_refused_with_what_is_allowed():
    with pytest.raises(ConditionError, match="unknown plan 'count'; allowed: condition_scan"):
        CampaignStep("x", "count", ("uvvis",))
    with pytest.raises(ConditionError, match="unknown detector.*camera.*allowed: uvvis, saxs"):
        CampaignStep("x", "condition_scan", ("camera",))


def test_bad_condition_is_refused_naming_the_step_and_range():
    step = CampaignStep(
        "hot", "condition_scan", ("uvvis",),
        {"conditions": [{"t_nuc": 400, "t_growth": 250, "reaction_time": 14}]},
    )
    with pytest.raises(ConditionError, match="step 'hot': t_nuc = 400 °C .* 20–360 °C"):
        check_campaign([step])
    with pytest.raises(ConditionError, match="no steps"):
        check_campaign([])


def test_csv_and_yaml_campaign_files(tmp_path):
    csv_file = tmp_path / "c.csv"
    csv_file.write_text("t_nuc,t_growth,reaction_time\n280,270,14\n300,300,4.5\n")
    (step,) = load_campaign(csv_file)
    assert step.plan == "condition_scan"
    assert conditions_of(step) == [
        {"t_nuc": 280.0, "t_growth": 270.0, "reaction_time": 14.0},
        {"t_nuc": 300.0, "t_growth": 300.0, "reaction_time": 4.5},
    ]
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text(
        "steps:\n"
        "  - title: blank\n    plan: precursor_blank\n    detectors: [saxs]\n"
        "    kwargs: {temperatures: [25, 50]}\n"
    )
    (blank,) = load_campaign(yaml_file)
    assert blank.detectors == ("saxs",) and check_campaign([blank]) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("temperature,time\n280,14\n")
    with pytest.raises(ConditionError, match="t_nuc,t_growth,reaction_time"):
        load_campaign(bad)
    with pytest.raises(ConditionError, match="does not exist"):
        load_campaign(tmp_path / "missing.yaml")


def test_queue_items_are_json_and_name_devices():
    items = queue_items(paper_campaign(quick=True), "abc")
    json.dumps(items)
    assert items[0]["args"] == [["saxs"], "reactor"]
    assert all(i["kwargs"]["md"]["campaign_id"] == "abc" for i in items)


def _row(t_nuc, t_growth, time, phase, found437, **extra):
    return {"t_nuc": t_nuc, "t_growth": t_growth, "reaction_time": time, "phase": phase,
            "msc437_detected": found437, "nc_peak_nm": 520.0, "nc_diameter_nm": 2.5, **extra}


def test_window_comes_from_the_diagonal_at_14_s():
    rows = [
        _row(260, 260, 14.0, "NC", False),
        _row(270, 270, 14.0, "MSC+NC", True),
        _row(280, 250, 14.0, "MSC+NC", True),  # off the diagonal: ignored for the window
        _row(300, 300, 14.0, "MSC+NC", True),
        _row(310, 310, 14.0, "NC", False),
        _row(350, 350, 4.5, "MSC+NC", True),  # 4.5 s: ignored
    ]
    summary = summarize(rows)
    assert summary["msc437_window_c"] == [270.0, 300.0]
    assert msc437_window([]) is None
    text = format_summary(summary)
    assert "270–300 °C" in text and text.count("\n") >= len(rows) + 2


def test_saxs_only_conditions_get_a_phase_from_sizes():
    nan = float("nan")
    rows = [
        _row(190, 230, 1.5, "unknown", False, nc_peak_nm=nan, nc_diameter_nm=nan,
             saxs_pop1_radius_nm=0.91, saxs_pop1_volume_fraction=2e-4),
        _row(260, 230, 1.5, "unknown", False, nc_peak_nm=nan, nc_diameter_nm=nan,
             saxs_pop1_radius_nm=1.18, saxs_pop1_volume_fraction=1e-4),
        _row(25, 25, 1.5, "unknown", False, nc_peak_nm=nan, nc_diameter_nm=nan,
             mesophase_lamellar=True, saxs_total_volume_fraction=0.0),
        _row(30, 30, 1.5, "unknown", False, nc_peak_nm=nan, nc_diameter_nm=nan),
    ]
    msc, nc, precursor, unmeasured = summarize(rows)["conditions"]
    assert (msc["phase"], msc["phase_source"], msc["nc_diameter_nm"]) == ("MSC", "saxs", None)
    assert nc["phase"] == "NC" and nc["nc_diameter_nm"] == pytest.approx(2.36)
    assert precursor["phase"] == "none" and precursor["mesophase"] is True
    assert unmeasured["phase"] == "unknown"
    json.dumps(summarize(rows))


def test_cli_refuses_a_bad_campaign_file_before_starting_anything(tmp_path, capsys):
    # The simulated IOC is launched while the campaign is checked (start-up), and
    # stopped again at once: no store, no data directory, nothing said about the IOC.
    bad = tmp_path / "bad.csv"
    bad.write_text("t_nuc,t_growth,reaction_time\n280,270,0\n")
    port = os.environ.get("EPICS_CA_SERVER_PORT")
    assert main(["campaign", "--file", str(bad), "--data-dir", str(tmp_path / "d")]) == 2
    assert os.environ.get("EPICS_CA_SERVER_PORT") == port  # this process's CA unchanged
    out, err = capsys.readouterr()
    assert "reaction_time = 0.0 s" in err and "> 0 s" in err
    assert "IOC" not in out
    assert not (tmp_path / "d").exists()


def test_a_stored_unknown_phase_stays_unknown_and_a_bad_saxs_fit_sizes_nothing():
    # The 25 °C precursor as the live analysis stores it: Bragg peaks the size model
    # cannot describe (saxs_fit_ok False, reduced chi2 in the thousands), one spurious
    # population, so the live analysis decided "unknown" (phase_source ""). The summary
    # must neither re-decide "NC" from that population nor report its radius.
    nan = float("nan")
    stored = _row(25, 25, 1.5, "unknown", False, nc_peak_nm=nan, nc_diameter_nm=nan,
                  phase_source="", mesophase_lamellar=True, saxs_fit_ok=False,
                  saxs_pop1_radius_nm=3.02, saxs_pop1_volume_fraction=1.5e-5)
    (precursor,) = summarize([stored])["conditions"]
    assert (precursor["phase"], precursor["phase_source"]) == ("unknown", "")
    assert precursor["saxs_radius_nm"] is None and precursor["nc_diameter_nm"] is None
    assert precursor["mesophase"] is True
    # a row stored before phase_source existed is still decided by the rule, which
    # honours saxs_fit_ok too
    old = {k: v for k, v in stored.items() if k != "phase_source"}
    assert summarize([old])["conditions"][0]["phase"] == "unknown"
    assert summarize([{**old, "saxs_fit_ok": True}])["conditions"][0]["phase"] == "NC"
