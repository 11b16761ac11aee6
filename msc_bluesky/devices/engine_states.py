"""RunEngine state hook: the reactor stays safe when a person halts or pauses a plan.

bluesky calls ``RE.state_hook(new_state, old_state)`` on every state change.
:class:`ReactorStateHook` acts on three of them:

- ``halting`` (``RE.halt()``, which skips the plan's cleanup): the reactor gets one
  ``standby`` put (not waited for) and the heartbeat pauses until the next plan runs, so
  the IOC's watchdog backs the put up. The stop document's reason, which bluesky leaves
  empty for a halt, becomes :data:`HALT_REASON`.
- ``paused`` (``RE.pause``, Ctrl-C, the queue server's ``re_pause``): a paused plan
  keeps its heaters on and its heartbeat beating; after ``pause_standby_s`` wall seconds
  still paused, the heaters go to standby (``standby`` put: heaters off, pumps stopped;
  the heartbeat pauses too, so the IOC's watchdog backs the put up).
  A resumed plan re-takes its point from the last checkpoint; the msc plans set the
  condition again and settle and flush before they measure when they find the heaters
  in standby (:mod:`msc_bluesky.plans.scans`).
- ``running``: the heartbeat beats again (also on ``idle`` after a pause that ended in
  abort or stop, whose cleanup made the reactor safe); a pending pause timer is
  cancelled.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

logger = logging.getLogger(__name__)

#: Reason in the stop document of a halted run (bluesky records none).
HALT_REASON = "halted by user (RE.halt())"
#: Default wall seconds a paused RunEngine keeps the heaters on.
PAUSE_STANDBY_S: float = 10.0
#: Largest accepted ``pause_standby_s`` (wall seconds).
MAX_PAUSE_STANDBY_S: float = 600.0


def check_pause_standby(value: Any) -> float:
    """``value`` as seconds in 0 … :data:`MAX_PAUSE_STANDBY_S`; one clear error otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"pause_standby_s must be a number of seconds, got {value!r}")
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"pause_standby_s must be a number of seconds, got {value!r}") from None
    if not 0.0 <= seconds <= MAX_PAUSE_STANDBY_S:
        raise ValueError(
            f"pause_standby_s must be 0 … {MAX_PAUSE_STANDBY_S:g} s (wall time), got {value!r}"
        )
    return seconds


class ReactorStateHook:
    """A RunEngine ``state_hook`` that keeps the reactor safe on halt and long pauses.

    Parameters
    ----------
    RE : bluesky.RunEngine
        The RunEngine whose halts get :data:`HALT_REASON`.
    reactor : FlowReactor or None
        Gets the ``standby`` puts; None: only the halt reason is set.
    heartbeat : Heartbeat or None
        Paused on halt, resumed when a plan runs again.
    previous : callable, optional
        A state hook that was installed before; called after this one.
    pause_standby_s : float
        Wall seconds a paused RunEngine may keep the heaters on.
    """

    def __init__(self, RE: Any, reactor: Any = None, heartbeat: Any = None,  # noqa: N803
                 previous: Any = None, *, pause_standby_s: float = PAUSE_STANDBY_S) -> None:
        self.RE = RE
        self.reactor = reactor
        self.heartbeat = heartbeat
        self.previous = previous
        self.pause_standby_s = check_pause_standby(pause_standby_s)
        self.standby_on_pause = 0  # times a long pause put the reactor in standby
        self._timer: threading.Timer | None = None
        self._beat_paused_by_pause = False

    def __call__(self, new_state: str, old_state: str) -> None:
        new_state = str(new_state)
        if new_state != "paused":
            self._cancel()
        if new_state == "halting":
            self._halted()
        elif new_state == "paused" and self.reactor is not None:
            self._timer = threading.Timer(self.pause_standby_s, self._pause_expired)
            self._timer.daemon = True
            self._timer.start()
        elif self.heartbeat is not None and (
            new_state == "running" or (new_state == "idle" and self._beat_paused_by_pause)
        ):  # after a halt the beats stay off until a plan runs: the watchdog backs it up
            self.heartbeat.resume()
            self._beat_paused_by_pause = False
        if self.previous is not None:
            self.previous(new_state, old_state)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _halted(self) -> None:
        # bluesky closes a halted run with ``RE._reason``, which only abort sets; there is
        # no public way to give a halt a reason
        if hasattr(self.RE, "_reason") and not self.RE._reason:
            self.RE._reason = HALT_REASON
        if self.heartbeat is not None:
            self.heartbeat.pause()
            self._beat_paused_by_pause = False
        self._standby("RE.halt()")

    def _pause_expired(self) -> None:
        if str(self.RE.state) != "paused":
            return
        logger.warning("RunEngine paused for %g s: reactor heaters to standby; a resumed "
                       "plan sets its condition again and settles before it measures",
                       self.pause_standby_s)
        if self.heartbeat is not None:
            self.heartbeat.pause()  # a lost put: the IOC's watchdog trips instead
            self._beat_paused_by_pause = True
        if self._standby("a long pause"):
            self.standby_on_pause += 1

    def _standby(self, why: str) -> bool:
        if self.reactor is None:
            return False
        try:
            if self.reactor.standby.connected:
                self.reactor.standby.put(1, wait=False)
                return True
        except Exception as err:  # noqa: BLE001 - the watchdog is the fallback
            logger.warning("%s: reactor standby put failed (%s); the IOC's watchdog makes "
                           "it safe", why, err)
        return False
