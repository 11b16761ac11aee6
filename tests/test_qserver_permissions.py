"""User group permissions: users run the msc plans on the three devices, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from bluesky_queueserver.manager.profile_ops import (
    check_if_function_allowed,
    load_allowed_plans_and_devices,
    load_user_group_permissions,
)

from msc_bluesky.qserver.annotations import PLAN_NAMES

PROFILE = Path(__file__).resolve().parents[1] / "profile_collection"
EXISTING = PROFILE / "existing_plans_and_devices.yaml"
PERMISSIONS = PROFILE / "user_group_permissions.yaml"


@pytest.fixture(scope="module")
def allowed():
    plans, devices = load_allowed_plans_and_devices(
        path_existing_plans_and_devices=str(EXISTING),
        path_user_group_permissions=str(PERMISSIONS),
    )
    return plans["primary"], devices["primary"]


def test_users_may_queue_exactly_the_msc_plans(allowed):
    plans, _ = allowed
    assert set(plans) == set(PLAN_NAMES)


def test_users_reach_the_three_devices_but_not_their_components(allowed):
    _, devices = allowed
    assert set(devices) == {"reactor", "uvvis", "saxs"}
    for name, description in devices.items():
        assert "components" not in description, f"{name} exposes its signals to users"


def test_the_committed_lists_know_the_device_components(allowed):
    # The permissions, not the lists, hide components: reactor.nuc etc. do exist.
    from msc_bluesky.qserver.lists import load_lists

    existing = load_lists(EXISTING)["existing_devices"]
    assert existing["reactor"].get("components"), "reactor has no components in the lists"


@pytest.mark.parametrize("function", ["clear_buffer", "caput", "exec", "temperature_grid"])
def test_no_function_may_be_executed(function):
    permissions = load_user_group_permissions(str(PERMISSIONS))
    assert not check_if_function_allowed(
        function, group_name="primary", user_group_permissions=permissions
    )
