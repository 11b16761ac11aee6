"""Queue-server validation of the annotated msc plans, in process (no manager needed).

The same functions the RE Manager runs on ``item_add`` (``validate_plan`` with the
allowed plans and devices of the user group) are applied to good and bad items.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import pytest
from bluesky_queueserver.manager.profile_ops import (
    existing_plans_and_devices_from_nspace,
    load_allowed_plans_and_devices,
    load_user_group_permissions,
    validate_plan,
)

from msc_bluesky import instrument
from msc_bluesky import plans as raw_plans
from msc_bluesky.qserver import annotations

PERMISSIONS = (
    Path(__file__).resolve().parents[1] / "profile_collection" / "user_group_permissions.yaml"
)


@pytest.fixture(scope="module")
def allowed():
    nspace = {name: getattr(annotations, name) for name in annotations.PLAN_NAMES}
    nspace.update(
        reactor=instrument.reactor("ann:"), uvvis=instrument.uvvis("ann:"),
        saxs=instrument.saxs("ann:"),
    )  # fmt: skip
    plans, devices, _, _ = existing_plans_and_devices_from_nspace(nspace=nspace)
    allowed_plans, allowed_devices = load_allowed_plans_and_devices(
        existing_plans=plans,
        existing_devices=devices,
        user_group_permissions=load_user_group_permissions(str(PERMISSIONS)),
    )
    return allowed_plans["primary"], allowed_devices["primary"]


def grid(**kwargs):
    item = {
        "name": "temperature_grid",
        "args": [["uvvis", "saxs"], "reactor", [260.0, 280.0], 14.0],
        "kwargs": {"growth_steps": 2, "growth_step": 10.0},
        "item_type": "plan",
    }
    for key, value in kwargs.items():
        item[key] = value
    return item


def check(item, allowed):
    plans, devices = allowed
    return validate_plan(item, allowed_plans=plans, allowed_devices=devices)


def test_a_good_temperature_grid_is_accepted(allowed):
    ok, msg = check(grid(), allowed)
    assert ok, msg


def test_integers_are_accepted_where_floats_are_expected(allowed):
    ok, msg = check(grid(args=[["uvvis"], "reactor", [260, 280], 14]), allowed)
    assert ok, msg


@pytest.mark.parametrize(
    ("item", "words"),
    [
        (grid(name="rm_rf_plan"), "not in the list of allowed plans"),
        (grid(name="count", args=[["uvvis"]], kwargs={}), "not in the list of allowed plans"),
        (grid(args=[["uvvis"], "reactor", [260.0], 0.0]), "out of range"),
        (grid(args=[["uvvis"], "reactor", [260.0], -2.0]), "out of range"),
        (grid(args=[["uvvis"], "reactor", [260.0, 400.0], 14.0]), "out of range"),
        (grid(args=[["uvvis"], "reactor", [10.0], 14.0]), "out of range"),
        (grid(args=[["uvvis"], "reactor", [math.nan], 14.0]), "finite number"),
        (grid(args=[["uvvis"], "reactor", [260.0], math.nan]), "finite number"),
        (grid(args=[["uvvis"], "reactor", [260.0], math.inf]), "finite number"),
        (grid(args=[["uvvis"], "reactor", "260", 14.0]), "type"),
        (grid(args=[["uvvis"], "reactor", [260.0], "14 s"]), "14 s"),
        (grid(args=[["uvvis"], "reactor", [260.0], 14.0], kwargs={"growth_steps": 0}), "range"),
        (grid(args=[["uvvis"], "reactor", [260.0], 14.0], kwargs={"growth_steps": 1.5}), "type"),
        (grid(args=[["camera"], "reactor", [260.0], 14.0]), "camera"),
        (grid(args=[["uvvis"], "saxs", [260.0], 14.0]), "saxs"),
        (grid(args=[["uvvis.counts"], "reactor", [260.0], 14.0]), "uvvis.counts"),
        (grid(args=[["uvvis"], "reactor.nuc", [260.0], 14.0]), "reactor.nuc"),
        (grid(args=[["uvvis"], "reactor", [260.0], 14.0], kwargs={"colour": "red"}), "colour"),
    ],
    ids=[
        "unknown-plan", "bluesky-count-not-offered", "zero-time", "negative-time",
        "too-hot", "too-cold", "nan-temperature", "nan-time", "inf-time",
        "string-not-list", "string-time", "zero-steps", "fractional-steps",
        "unknown-detector", "wrong-device-for-reactor", "detector-signal", "reactor-subdevice",
        "unknown-keyword",
    ],
)  # fmt: skip
def test_bad_items_are_refused_with_a_message(allowed, item, words):
    ok, msg = check(item, allowed)
    assert not ok
    assert words in msg


def test_condition_scan_refuses_unknown_keys_and_nan(allowed):
    good = {"t_nuc": 280.0, "t_growth": 260.0, "reaction_time": 7.0}
    base = {"name": "condition_scan", "kwargs": {}, "item_type": "plan"}
    ok, msg = check({**base, "args": [["uvvis"], "reactor", [good]]}, allowed)
    assert ok, msg
    for bad, words in [
        ({**good, "pressure": 1.0}, "pressure"),
        ({**good, "t_nuc": math.nan}, "finite number"),
        ({**good, "reaction_time": 0.0}, "greater than or equal to 0.01"),
    ]:
        ok, msg = check({**base, "args": [["uvvis"], "reactor", [bad]]}, allowed)
        assert not ok and words in msg, msg


def test_every_plan_is_described_and_offered(allowed):
    plans, _ = allowed
    assert set(plans) == set(annotations.PLAN_NAMES)
    for name in annotations.PLAN_NAMES:
        params = {p["name"] for p in plans[name]["parameters"]}
        assert "reactor" in params


def test_wrappers_keep_the_plans_behaviour_and_hide_python_only_parameters():
    wrapped = annotations.equilibrate
    assert wrapped.__wrapped__ is raw_plans.equilibrate
    assert inspect.isgeneratorfunction(wrapped)
    assert "configuration" in inspect.signature(raw_plans.equilibrate).parameters
    assert "configuration" not in inspect.signature(wrapped).parameters
    assert not hasattr(raw_plans.temperature_grid, "_custom_parameter_annotation_")


def test_rules_apply_by_parameter_name_and_shape():
    def plan(detectors: list, reactor, t_nuc: float, reaction_times: list[float],
             *, spectrometer=None, growth_steps: int = 3, md=None):  # fmt: skip
        yield None

    params = annotations.annotation_for(plan)["parameters"]
    assert params["detectors"]["annotation"] == "typing.List[Detectors]"
    assert params["reactor"]["devices"] == {"Reactors": ["reactor"]}
    assert (params["t_nuc"]["min"], params["t_nuc"]["max"]) == (20.0, 360.0)
    assert params["reaction_times"]["annotation"].startswith("typing.List[")
    assert params["spectrometer"]["annotation"] == "typing.Optional[Spectrometers]"
    assert params["growth_steps"]["min"] == 1
    assert "md" not in params
