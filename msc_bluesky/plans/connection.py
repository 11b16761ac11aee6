"""Wait for devices to connect, through the RunEngine, before a plan reads them."""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Sequence
from typing import Any

import bluesky.plan_stubs as bps
from bluesky.utils import Msg

#: Seconds a plan waits for its devices' PVs to connect.
CONNECTION_TIMEOUT_S = 30.0


def wait_for_connection(
    devices: Sequence[Any], timeout: float = CONNECTION_TIMEOUT_S
) -> Generator[Msg, Any, None]:
    """Wait until every device is connected, without blocking the RunEngine.

    A device built just before (a fresh IPython or queue-server session) may still be
    connecting when the first plan starts; reading it then fails. This waits for
    ophyd's own ``wait_for_connection`` in a worker thread.

    Parameters
    ----------
    devices : sequence of ophyd devices
    timeout : float
        Seconds before giving up.

    Raises
    ------
    TimeoutError
        Naming the device and its PV prefix.
    """

    def factory(device: Any):
        def start() -> asyncio.Future:
            loop = asyncio.get_running_loop()
            return loop.run_in_executor(None, _connect, device, timeout)

        return start

    waiting = [factory(d) for d in devices if hasattr(d, "wait_for_connection")]
    if waiting:
        yield from bps.wait_for(waiting)


def _connect(device: Any, timeout: float) -> None:
    try:
        device.wait_for_connection(timeout=timeout)
    except TimeoutError as err:
        prefix = getattr(device, "prefix", "")
        raise TimeoutError(
            f"{device.name} (PV prefix {prefix!r}) did not connect within {timeout:g} s: "
            f"is its IOC running and reachable? ({err})"
        ) from None
