"""The committed existing_plans_and_devices.yaml matches the startup code."""

from __future__ import annotations

from pathlib import Path

import pytest

from msc_bluesky.qserver.lists import describe_differences, generate_lists, load_lists

PROFILE = Path(__file__).resolve().parents[1] / "profile_collection"

pytestmark = pytest.mark.integration


def test_committed_plan_and_device_lists_are_current(tmp_path):
    # Generated without any IOC: the startup code must not connect to EPICS.
    fresh = load_lists(generate_lists(tmp_path, PROFILE / "startup"))
    committed = load_lists(PROFILE / "existing_plans_and_devices.yaml")
    differences = describe_differences(fresh, committed)
    assert not differences, (
        "profile_collection/existing_plans_and_devices.yaml is stale; regenerate it with "
        "`msc-bluesky qserver --update-lists`:\n" + "\n".join(differences[:40])
    )


def test_the_lists_offer_the_msc_plans_with_ranges_and_device_enums(tmp_path):
    plans = load_lists(PROFILE / "existing_plans_and_devices.yaml")["existing_plans"]
    grid = {p["name"]: p for p in plans["temperature_grid"]["parameters"]}
    ranged = [p for p in grid.values() if "min" in p and "max" in p]
    assert ranged, "temperature_grid has no parameter with a range"
    enums = [p for p in grid.values() if p.get("annotation", {}).get("devices")]
    assert enums, "temperature_grid has no device-name parameter"


def test_differences_are_reported_by_path():
    fresh = {"existing_plans": {"a": {"parameters": [{"name": "x", "min": "1"}]}}}
    committed = {"existing_plans": {"a": {"parameters": [{"name": "x", "min": "0"}]}, "b": {}}}
    diffs = describe_differences(fresh, committed)
    assert "/existing_plans/a/parameters[0]/min: '0' -> '1'" in diffs
    assert "/existing_plans/b: in the committed file, no longer generated" in diffs
    assert describe_differences(committed, committed) == []
