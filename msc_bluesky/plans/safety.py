"""Leave the reactor safe on every exit: heaters to standby, pumps stopped."""

from __future__ import annotations

import uuid
from collections.abc import Generator
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import Msg

from msc_bluesky.devices.reactor import FlowReactor

#: Seconds allowed for the safe-state writes to be acknowledged.
SAFE_STATE_TIMEOUT_S: float = 10.0


def safe_state(
    reactor: FlowReactor, *, timeout: float = SAFE_STATE_TIMEOUT_S
) -> Generator[Msg, Any, None]:
    """Put both heaters in standby (``enable`` = 0) and stop both pumps (``run`` = 0).

    All four writes are issued together (one group) and waited for with a finite
    timeout. Setpoints are left as they were, so the record shows the last request.
    """
    group = f"safe-state-{uuid.uuid4()}"
    for heater in reactor.heaters:
        yield from bps.abs_set(heater.enable, 0, group=group, timeout=timeout)
    for pump in reactor.pumps:
        yield from bps.abs_set(pump.run, 0, group=group, timeout=timeout)
    yield from bps.wait(group=group, timeout=timeout)


def reactor_safety_wrapper(
    plan: Generator[Msg, Any, Any], reactor: FlowReactor
) -> Generator[Msg, Any, Any]:
    """Run ``plan``; on success, exception or abort, finish with :func:`safe_state`.

    Returns
    -------
    Whatever ``plan`` returns (a plan's run uid).
    """
    return (yield from bpp.finalize_wrapper(plan, lambda: safe_state(reactor)))
