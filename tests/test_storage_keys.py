"""Fast checks of the store's metadata rules: flat condition keys, inherited analysis
metadata, where a run is written, and one meaning of ``--data-dir`` in every command."""

from __future__ import annotations

import math

import pytest
from callbacks_helpers import FAKE_SETTINGS, Collector, raw_run

from msc_bluesky.callbacks.analysis_run import LiveAnalysis
from msc_bluesky.condition_keys import condition_search_keys
from msc_bluesky.storage.conditions import add_condition_bounds
from msc_bluesky.storage.layout import ANALYSIS, RAW, run_kind


def test_one_condition_gets_the_values_and_the_bounds():
    keys = condition_search_keys([{"t_nuc": 280, "t_growth": 230.0, "reaction_time": 6.5}])
    assert keys == {
        "t_nuc": 280.0, "t_nuc_min": 280.0, "t_nuc_max": 280.0,
        "t_growth": 230.0, "t_growth_min": 230.0, "t_growth_max": 230.0,
        "reaction_time": 6.5, "reaction_time_min": 6.5, "reaction_time_max": 6.5,
    }


def test_several_conditions_get_bounds_and_the_values_they_share():
    keys = condition_search_keys(
        [
            {"t_nuc": 240, "t_growth": 200, "reaction_time": 2},
            {"t_nuc": 260, "t_growth": 200, "reaction_time": float("nan")},
            {"t_nuc": "hot", "t_growth": 200},
            "not a condition",
        ]
    )
    assert "t_nuc" not in keys and (keys["t_nuc_min"], keys["t_nuc_max"]) == (240.0, 260.0)
    assert keys["t_growth"] == 200.0  # one value in the whole run
    assert keys["reaction_time"] == 2.0  # NaN and missing values are not values
    assert condition_search_keys([]) == {} and condition_search_keys(None) == {}


def test_writer_patch_adds_only_missing_keys():
    start = {"uid": "u", "conditions": [{"t_nuc": 250, "t_growth": 200}], "t_nuc": 251.0}
    patched = add_condition_bounds(start)
    assert patched["t_nuc"] == 251.0  # the plan's (or user's) value wins
    assert patched["t_growth"] == 200.0 and patched["t_nuc_max"] == 250.0
    assert add_condition_bounds({"uid": "u"}) == {"uid": "u"}


def test_run_kind_routes_derived_runs_to_analysis():
    assert run_kind({"plan_name": "temperature_grid"}) == RAW
    assert run_kind({"plan_name": "msc_analysis"}) == ANALYSIS
    assert run_kind({"plan_name": "saxs_refit", "raw_uid": "u"}) == ANALYSIS


def test_analysis_start_carries_the_raw_runs_campaign_and_user_keys():
    docs = raw_run()
    raw_start = dict(docs[0][1])
    raw_start.update(
        campaign_id="abc", campaign_step=4, proposal="SC-1", sample={"name": "CdSe"},
        plan_args={"detectors": ["uvvis"]}, detectors=["uvvis"], **condition_search_keys(
            raw_start["conditions"]
        ),
    )
    out = Collector()
    live = LiveAnalysis(out, settings=FAKE_SETTINGS)
    for name, doc in [("start", raw_start), *docs[1:]]:
        live(name, doc)
    (start,) = out.named("start")
    assert start["scan_id"] == start["raw_scan_id"] == 7
    for key in ("campaign_id", "campaign_step", "proposal", "sample", "t_nuc_min", "t_growth"):
        assert start[key] == raw_start[key]
    assert start["plan_name"] == "msc_analysis" and start["raw_uid"] == raw_start["uid"]
    assert start["uid"] != raw_start["uid"] and start["time"] >= raw_start["time"]
    assert "plan_args" not in start and "detectors" not in start
    assert not math.isnan(start["t_nuc_max"])


@pytest.mark.parametrize("command", ["campaign", "serve", "replay", "report", "reprocess"])
def test_data_dir_option_honours_msc_data_dir_everywhere(command, monkeypatch, tmp_path):
    from msc_bluesky.cli import build_parser

    monkeypatch.setenv("MSC_DATA_DIR", str(tmp_path / "shared"))
    parser = build_parser(only=command)
    extra = ["some-uid"] if command == "reprocess" else []
    args = parser.parse_args([command, *extra])
    assert args.data_dir == str(tmp_path / "shared")
    args = parser.parse_args([command, *extra, "--data-dir", "elsewhere"])
    assert args.data_dir == "elsewhere"
