"""Leave the reactor safe on every exit: heaters to standby, pumps stopped."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Generator
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import Msg, RequestAbort, RequestStop

from msc_bluesky.devices.reactor import FlowReactor

logger = logging.getLogger(__name__)

#: Seconds allowed for the safe-state writes to be acknowledged.
SAFE_STATE_TIMEOUT_S: float = 10.0
#: Seconds allowed when the IOC is already known not to answer (writes are queued).
UNRESPONSIVE_TIMEOUT_S: float = 1.0


def safe_state(
    reactor: FlowReactor, *, timeout: float = SAFE_STATE_TIMEOUT_S, watch: Any = None,
) -> Generator[Msg, Any, bool]:
    """Put both heaters in standby (``enable`` = 0) and stop both pumps (``run`` = 0).

    All four writes are issued together (one group) and waited for with a finite
    timeout (1 s when ``watch`` already knows the IOC is not responding). A timeout is
    logged, not raised: the writes stay queued on the Channel Access circuit, and the
    IOC's own watchdog puts the heaters in standby once it runs again. Setpoints are
    left as they were, so the record shows the last request.

    Returns
    -------
    bool
        True when every write was acknowledged in time.
    """
    if watch is not None and not watch.responsive():
        timeout = min(timeout, UNRESPONSIVE_TIMEOUT_S)
    group = f"safe-state-{uuid.uuid4()}"
    signals = [h.enable for h in reactor.heaters] + [p.run for p in reactor.pumps]
    for signal in signals:
        if getattr(signal, "connected", True):
            try:
                yield from bps.abs_set(signal, 0, group=group, timeout=timeout)
            except RuntimeError as err:  # the same write is still in progress
                logger.debug("safe state: %s", err)
    try:
        yield from bps.wait(group=group, timeout=timeout)
    except (RequestAbort, RequestStop):
        # RE.abort()/RE.stop() of a paused run arrive here when it was paused in this
        # wait (e.g. while a suspended run went to standby): never swallow them
        raise
    except Exception as err:  # noqa: BLE001 - never let cleanup hide the run's own error
        logger.error(
            "reactor safe state not confirmed within %g s (%s): the writes stay queued and "
            "the IOC's watchdog puts the heaters in standby when it answers again",
            timeout, err,
        )
        return False
    return True


def reactor_safety_wrapper(
    plan: Generator[Msg, Any, Any], reactor: FlowReactor, *, watch: Any = None,
) -> Generator[Msg, Any, Any]:
    """Run ``plan``; on success, exception or abort, finish with :func:`safe_state`.

    Returns
    -------
    Whatever ``plan`` returns (a plan's run uid).
    """
    return (yield from bpp.finalize_wrapper(plan, lambda: safe_state(reactor, watch=watch)))
