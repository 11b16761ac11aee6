"""Keep the reactor IOC's watchdog quiet while this client is alive.

The reactor IOC puts its heaters in standby when no client has touched its heartbeat PV
for ``watchdog_timeout`` (simulated) seconds; the watchdog is armed by default at 5 s of
wall time. A session that owns the reactor runs one :class:`Heartbeat` (every
:data:`DEFAULT_HEARTBEAT_S` s by default): if the session's process hangs or dies, the
beats stop and the IOC makes the reactor safe by itself.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

logger = logging.getLogger(__name__)

#: Default wall seconds between beats (the IOC's default watchdog is 5 s of wall time).
DEFAULT_HEARTBEAT_S: float = 1.0

_LIVE: weakref.WeakSet[Heartbeat] = weakref.WeakSet()


def stop_all_heartbeats(timeout: float = 2.0) -> None:
    """Stop every running :class:`Heartbeat` of this process (used at exit)."""
    for beat in list(_LIVE):
        beat.stop(timeout)


class Heartbeat:
    """Put an increasing count to a heartbeat signal every ``period_s`` wall seconds.

    Parameters
    ----------
    signal : ophyd signal
        The IOC's heartbeat PV (``reactor.heartbeat``).
    period_s : float
        Wall seconds between beats; keep it well below the IOC's watchdog timeout
        divided by its time scale.
    """

    def __init__(self, signal: Any, period_s: float = 1.0) -> None:
        if not period_s > 0:
            raise ValueError(f"heartbeat period must be > 0 s, got {period_s!r}")
        self.signal = signal
        self.period_s = float(period_s)
        self.beats = 0
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Heartbeat:
        """Start beating in a daemon thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="msc-heartbeat", daemon=True)
            self._thread.start()
            _LIVE.add(self)
        return self

    def pause(self) -> None:
        """Stop beating for now (the thread stays); the IOC's watchdog will trip."""
        self._paused.set()

    def resume(self) -> None:
        """Beat again after :meth:`pause`."""
        self._paused.clear()

    @property
    def paused(self) -> bool:
        """True between :meth:`pause` and :meth:`resume`."""
        return self._paused.is_set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop beating; the IOC's watchdog takes over from here."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        """True while the beating thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._paused.is_set():
                self._stop.wait(self.period_s)
                continue
            try:
                self.signal.put(self.beats + 1, wait=False)
                self.beats += 1
            except Exception as err:  # IOC away for a moment: try again next period
                logger.debug("heartbeat put failed: %s", err)
            self._stop.wait(self.period_s)
