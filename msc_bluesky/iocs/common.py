"""Helpers shared by the PV groups: finding the shared state, writing only changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from caproto import AlarmSeverity, AlarmStatus
from caproto.server import PVGroup

if TYPE_CHECKING:  # pragma: no cover
    from msc_bluesky.iocs.state import SimState


def sim_state(group: PVGroup) -> SimState:
    """The :class:`SimState` of the IOC a group belongs to (held by the top group)."""
    node: Any = group
    while node is not None:
        state = getattr(node, "sim", None)
        if state is not None:
            return state
        node = node.parent
    raise RuntimeError(f"PV group {group.name!r} is not part of a simulated IOC")


async def write_if_changed(prop: Any, value: Any) -> None:
    """Write ``value`` to a pvproperty instance unless it already holds it."""
    current = prop.value
    if isinstance(value, np.ndarray) or isinstance(current, np.ndarray | list):
        await prop.write(value)
        return
    if current != value:
        await prop.write(value)


async def write_alarm_flag(prop: Any, code: int) -> None:
    """Write an alarm code (0 = OK) with a matching EPICS severity (MAJOR when not 0)."""
    value = int(code)
    if prop.value != value:
        active = value != 0
        severity = AlarmSeverity.MAJOR_ALARM if active else AlarmSeverity.NO_ALARM
        status = AlarmStatus.STATE if active else AlarmStatus.NO_ALARM
        await prop.write(value, severity=severity, status=status)


async def clear_put_alarm(prop: Any) -> None:
    """Reset the WRITE alarm a refused put leaves on a PV, once a put succeeds."""
    if prop.alarm.severity != AlarmSeverity.NO_ALARM:
        await prop.alarm.write(status=AlarmStatus.NO_ALARM, severity=AlarmSeverity.NO_ALARM)


def separate_alarms(cls: type[PVGroup]) -> type[PVGroup]:
    """Class decorator: give every PV of the group its own alarm.

    caproto shares one alarm between all PVs of a group without an ``alarm_group``,
    so a refused put on one setpoint would show as an alarm on every PV of the group.
    """
    for attr, prop in cls._pvs_.items():
        if "." not in attr and prop.pvspec.alarm_group is None:
            prop.pvspec = prop.pvspec._replace(alarm_group=attr)
    return cls


async def run_acquisition(group, instance, value) -> int:
    """Body of a detector group's ``acquire`` putter.

    One acquisition at a time (``group._lock``); ``acquire`` reads 1 and ``busy`` is 1
    while ``group._acquire_once()`` runs; both return to 0 when it is done, so a
    put-completion waits for the whole acquisition.
    """
    if not value:
        return 0
    async with group._lock:
        await instance.write(1, verify_value=False)
        await group.busy.write(1)
        try:
            await group._acquire_once()
        finally:
            await group.busy.write(0)
    return 0
