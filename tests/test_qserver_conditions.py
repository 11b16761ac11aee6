"""The queue server checks ``condition_scan`` conditions at submission, field by field.

``validate_plan`` is what the RE Manager runs on ``item_add``; here it runs on the
committed ``existing_plans_and_devices.yaml`` and user-group permissions of the profile,
the lists the manager loads.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from bluesky_queueserver.manager.profile_ops import (
    load_allowed_plans_and_devices,
    load_existing_plans_and_devices,
    load_user_group_permissions,
    validate_plan,
)

PROFILE = Path(__file__).resolve().parents[1] / "profile_collection"
GOOD = {"t_nuc": 280.0, "t_growth": 260.0, "reaction_time": 7.0}


@pytest.fixture(scope="module")
def allowed():
    plans, devices = load_existing_plans_and_devices(
        str(PROFILE / "existing_plans_and_devices.yaml")
    )
    allowed_plans, allowed_devices = load_allowed_plans_and_devices(
        existing_plans=plans,
        existing_devices=devices,
        user_group_permissions=load_user_group_permissions(
            str(PROFILE / "user_group_permissions.yaml")
        ),
    )
    return allowed_plans["primary"], allowed_devices["primary"]


def _scan(*conditions):
    return {
        "name": "condition_scan",
        "args": [["uvvis"], "reactor", list(conditions)],
        "kwargs": {},
        "item_type": "plan",
    }


def _check(item, allowed):
    plans, devices = allowed
    return validate_plan(item, allowed_plans=plans, allowed_devices=devices)


def test_good_conditions_are_accepted_integers_too(allowed):
    ok, msg = _check(_scan(GOOD, {"t_nuc": 300, "t_growth": 300, "reaction_time": 14}), allowed)
    assert ok, msg


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ({**GOOD, "t_nuc": 500}, "less than or equal to 360"),
        ({**GOOD, "t_growth": 10.0}, "greater than or equal to 20"),
        ({**GOOD, "t_nuc": "300"}, "valid number"),
        ({**GOOD, "t_nuc": True}, "valid number"),
        ({**GOOD, "reaction_time": True}, "valid number"),
        ({**GOOD, "reaction_time": 0.0}, "greater than or equal to 0.01"),
        ({**GOOD, "reaction_time": -1.5}, "greater than or equal to 0.01"),
        ({**GOOD, "reaction_time": math.nan}, "finite number"),
        ({"t_nuc": 280.0, "t_growth": 260.0}, "reaction_time"),
        ({**GOOD, "pressure": 1.0}, "pressure"),
        (["t_nuc", 280.0], "valid dictionary"),
    ],
    ids=[
        "too-hot", "too-cold", "string", "bool-temperature", "bool-time", "zero-time",
        "negative-time", "nan-time", "missing-reaction-time", "unknown-key", "not-a-mapping",
    ],
)  # fmt: skip
def test_bad_conditions_are_refused_at_submission_naming_the_field(allowed, bad, words):
    ok, msg = _check(_scan(GOOD, bad), allowed)
    assert not ok
    assert words in msg, msg


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ([["uvvis"], "reactor", [260.0], True], {}),
        ([["uvvis"], "reactor", [260.0], "14"], {}),
        ([["uvvis"], "reactor", [True], 14.0], {}),
        ([["uvvis"], "reactor", [260.0], 14.0], {"growth_steps": True}),
        ([["uvvis"], "reactor", [260.0], 14.0], {"growth_step": "10"}),
    ],
    ids=["bool-time", "string-time", "bool-temperature", "bool-count", "string-step"],
)
def test_other_plans_refuse_booleans_and_strings_for_numbers(allowed, args, kwargs):
    item = {"name": "temperature_grid", "args": args, "kwargs": kwargs, "item_type": "plan"}
    ok, msg = _check(item, allowed)
    assert not ok, f"accepted {args} {kwargs}"
