"""Shared trigger logic for detectors with ``acquire``/``busy``/``array_counter`` PVs."""

from __future__ import annotations

from typing import Any

from ophyd import Device
from ophyd.status import StatusBase, SubscriptionStatus

from msc_bluesky.devices.signals import ro, rw

#: Default seconds an acquisition may take before its status fails.
ACQUIRE_TIMEOUT_S: float = 120.0


class AcquiringDetector(Device):
    """A detector whose ``trigger`` finishes when the acquisition does.

    ``trigger()`` puts ``acquire = 1`` with put-completion and also watches
    ``array_counter``: the returned status finishes when both the put has completed and
    the counter has incremented, so it is correct whether or not the IOC holds the put
    callback until the data are ready. Both have a finite timeout
    (:attr:`acquire_timeout`).
    """

    acquire = rw("acquire", kind="omitted", put_complete=True, write_timeout=ACQUIRE_TIMEOUT_S)
    busy = ro("busy", kind="omitted")
    array_counter = ro("array_counter", kind="omitted")

    def __init__(self, prefix: str = "", *, name: str,
                 acquire_timeout: float = ACQUIRE_TIMEOUT_S, **kwargs: Any) -> None:
        super().__init__(prefix, name=name, **kwargs)
        self.acquire_timeout = acquire_timeout

    def trigger(self) -> StatusBase:
        """Start one acquisition; the status finishes when its data are readable."""
        start = int(self.array_counter.get())  # monitored: current after the last trigger

        def counted(*, value: Any, **kwargs: Any) -> bool:
            return int(value) > start

        counter = SubscriptionStatus(
            self.array_counter, counted, timeout=self.acquire_timeout, run=True
        )
        put = self.acquire.set(1, timeout=self.acquire_timeout)
        return counter & put
