"""Process suspenders: pause a scan while the reactor is out of its operating state.

While a point is acquired, :func:`reactor_suspenders` watches both temperatures
(a band around the condition's setpoints) and both pump alarms. A tripped suspender
suspends the run; the RunEngine rewinds to the checkpoint taken just before the point.
While the run waits for recovery, the reactor is in standby (heaters off, pumps
stopped; the ``pre_plan``), and a :class:`~msc_bluesky.plans.watch.ReactorWatch`
keeps watching the IOC. When the signal recovers (e.g. the dry pump was refilled), the
``post_plan`` (normally: set the condition again, settle and flush) runs, and the point
is re-taken. If the signal does not recover within ``recovery_timeout`` seconds (wall
clock), or the IOC is lost meanwhile, the suspension is released, the post-plan raises
:class:`ReactorNotRecovered` (or :class:`~msc_bluesky.plans.watch.ReactorFault`), and
the run ends through the safety wrapper (``exit_status`` fail, the reason in the stop
document).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from typing import Any

from bluesky.suspenders import SuspendBoolHigh, SuspenderBase, SuspendWhenOutsideBand
from bluesky.utils import Msg

from msc_bluesky.devices.reactor import FlowReactor
from msc_bluesky.plans.safety import safe_state
from msc_bluesky.plans.watch import ReactorFault, ReactorWatch

#: Default half-width of the temperature band (°C) around a setpoint.
TEMPERATURE_BAND_C: float = 5.0
#: Default wall-clock seconds a suspension may last before the run ends.
RECOVERY_TIMEOUT_S: float = 600.0


class ReactorNotRecovered(RuntimeError):
    """A suspended run's reactor did not return to its operating state in time."""


class _RecoveryTimeoutMixin:
    """Give a bluesky suspender a recovery timeout and an idempotent install."""

    def __init__(self, *args: Any, recovery_timeout: float = RECOVERY_TIMEOUT_S,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recovery_timeout = float(recovery_timeout)
        self.timed_out = False
        self.fault: str | None = None
        self._timer: threading.Timer | None = None
        self._installed_on: Any = None

    def install(self, RE: Any, *, event_type: Any = None) -> None:  # noqa: N803
        if self._installed_on is RE:
            return  # replayed after a rewind: already watching
        self._installed_on = RE
        self.timed_out = False
        self.fault = None
        super().install(RE, event_type=event_type)

    def remove(self) -> None:
        self._cancel_timer()
        self._installed_on = None
        super().remove()

    def __call__(self, value: Any, **kwargs: Any) -> None:
        super().__call__(value, **kwargs)
        if self.tripped and self._timer is None and self.RE is not None:
            self._timer = threading.Timer(self.recovery_timeout, self._expire)
            self._timer.daemon = True
            self._timer.start()
        elif not self.tripped:
            self._cancel_timer()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def fail(self, reason: str) -> None:
        """Release a suspension that waits in vain: the post-plan raises ``reason``."""
        with self._lock:
            if not self._tripped or self.RE is None:
                return
            self.fault = reason
            event, loop = self._ev, self.RE._loop
        if event is not None:
            loop.call_soon_threadsafe(event.set)

    def _expire(self) -> None:
        with self._lock:
            if not self._tripped or self.RE is None:
                return
            self.timed_out = True
            event, loop = self._ev, self.RE._loop
        if event is not None:
            loop.call_soon_threadsafe(event.set)


class TemperatureBandSuspender(_RecoveryTimeoutMixin, SuspendWhenOutsideBand):
    """Suspend when a heater readback leaves ``setpoint ± band``; resume inside it.

    A heater switched off (the standby of a suspended run) is not out of band: it
    neither suspends nor keeps a suspension waiting; the post-plan heats it again, and
    while it re-heats and settles the band does not suspend again (a second suspension
    would stop the heaters' moves and fail the run).
    A heater switched off by anything else is a fault the reactor watch reports.
    """

    def __init__(self, *args: Any, heater: Any = None,
                 recovering: dict[str, bool] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.heater = heater
        # shared with the other suspenders of the point: True from the standby of a
        # suspension until its post-plan has heated and settled again
        self.recovering = recovering if recovering is not None else {"on": False}

    def _heater_off(self) -> bool:
        if self.heater is None:
            return False
        try:
            return int(self.heater.enable.get()) == 0
        except Exception:  # noqa: BLE001 - unknown: judge by the temperature
            return False

    def _should_suspend(self, value: Any) -> bool:
        if self.recovering["on"]:  # re-heating after a suspension: cold is expected
            return False
        return not self._heater_off() and super()._should_suspend(value)

    def _should_resume(self, value: Any) -> bool:
        return self._heater_off() or super()._should_resume(value)


class PumpAlarmSuspender(_RecoveryTimeoutMixin, SuspendBoolHigh):
    """Suspend while a pump's ``alarm`` is 1 (ran dry); resume when it clears."""


def reactor_suspenders(
    reactor: FlowReactor,
    condition: dict[str, float],
    *,
    band: float = TEMPERATURE_BAND_C,
    recovery_timeout: float = RECOVERY_TIMEOUT_S,
    post_plan: Callable[[], Generator[Msg, Any, Any]] | None = None,
    watch: ReactorWatch | None = None,
) -> list[SuspenderBase]:
    """Suspenders for one point: temperature bands around ``condition``, pump alarms.

    Parameters
    ----------
    reactor : FlowReactor
    condition : dict
        ``{"t_nuc", "t_growth", "reaction_time"}``; the bands are centred on the two
        temperatures.
    band : float
        Half-width of the temperature band (°C).
    recovery_timeout : float
        Wall-clock seconds a suspension may last before the run ends safely.
    post_plan : callable, optional
        Plan run after recovery, before the point is re-taken (e.g. set the condition
        again and equilibrate).
    watch : ReactorWatch, optional
        Keeps watching the IOC while the run waits for recovery; a fault releases the
        suspension and the run ends with that reason.

    Returns
    -------
    list of suspenders, for ``bpp.suspend_wrapper``.
    """
    suspenders: list[SuspenderBase] = []
    recovering = {"on": False}

    def release(reason: str) -> None:
        for suspender in suspenders:
            suspender.fail(reason)

    def standby_while_waiting() -> Generator[Msg, Any, Any]:
        recovering["on"] = True
        if watch is not None:
            watch.add_listener(release)
            yield Msg("set", watch, "recovery", pumps=False, heaters=False)
        yield from safe_state(reactor, watch=watch)

    def checked_post_plan() -> Generator[Msg, Any, Any]:
        if watch is not None:
            watch.remove_listener(release)
            yield Msg("stop", watch)
        faults = [s.fault for s in suspenders if s.fault]
        if faults:
            raise ReactorFault(faults[0])
        expired = [s for s in suspenders if s.timed_out]
        if expired:
            raise ReactorNotRecovered(
                f"reactor did not recover within {recovery_timeout:g} s: "
                + "; ".join(s._tripped_message for s in expired)
            )
        if post_plan is not None:
            yield from post_plan()
        recovering["on"] = False  # settled again: the bands hold for the re-taken point

    options = {"recovery_timeout": recovery_timeout, "post_plan": checked_post_plan,
               "pre_plan": standby_while_waiting}
    for heater, key in ((reactor.t_nuc, "t_nuc"), (reactor.t_growth, "t_growth")):
        target = float(condition[key])
        suspenders.append(
            TemperatureBandSuspender(
                heater.readback, target - band, target + band,
                tripped_message=f"{heater.name} left {target:g} ± {band:g} °C",
                heater=heater, recovering=recovering, **options,
            )
        )
    for pump in reactor.pumps:
        suspenders.append(
            PumpAlarmSuspender(
                pump.alarm, tripped_message=f"{pump.attr_name} ran dry during the acquisition",
                **options
            )
        )
    return suspenders

