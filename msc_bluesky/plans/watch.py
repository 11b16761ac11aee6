"""Every wait of a plan watches the reactor: a lost or frozen IOC, pump alarms, trips.

:class:`ReactorWatch` looks at the reactor from a small thread while a plan waits:

- the IOC is lost (Channel Access disconnected) or not responding (its ``sim_time``
  monitor, updated 20 times a second, has not moved for :data:`STALE_AFTER_S` s);
- a pump ran dry (``pump_*:alarm``);
- the IOC's own protections tripped (``reactor:alarm`` 1 watchdog, 4 no-flow
  interlock) or a heater that was on was switched off.

A plan wraps a part with :func:`watching`: the watch starts (``Msg('set', watch,
phase)``) and guards every status the part waits for; a fault fails them at once with
a :class:`ReactorFault` whose text names the device and the cause, e.g.
``"pump_cd ran dry during the flush"`` or ``"reactor IOC not responding
(MSC:reactor:): no update for 3.0 s during the settle"``. Suspended runs waiting for
recovery are released by the same watch (see :mod:`msc_bluesky.plans.suspenders`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

import bluesky.preprocessors as bpp
from bluesky.utils import Msg, RequestAbort, RequestStop
from ophyd.status import Status

logger = logging.getLogger(__name__)

#: Wall seconds without a ``sim_time`` update after which the IOC counts as frozen.
STALE_AFTER_S: float = 5.0
#: Wall seconds between checks.
POLL_S: float = 0.1
#: ``reactor:alarm`` values that mean the IOC put the reactor in standby by itself.
TRIP_ALARMS = {1: "watchdog", 4: "no-flow interlock"}


class ReactorFault(RuntimeError):
    """The reactor or its IOC failed while a plan waited; the text says what and where."""


class ReactorWatch:
    """Watch a :class:`~msc_bluesky.devices.reactor.FlowReactor` while a plan waits.

    Used through messages (``set`` starts watching a phase, ``stop`` ends it), so the
    RunEngine tracks its statuses like a device's.

    Parameters
    ----------
    reactor : FlowReactor
    stale_after : float
        Wall seconds without a ``sim_time`` update before the IOC counts as frozen.
    poll : float
        Wall seconds between checks.
    """

    def __init__(self, reactor: Any, *, stale_after: float = STALE_AFTER_S,
                 poll: float = POLL_S) -> None:
        self.reactor = reactor
        self.name = f"{reactor.name}_watch"
        self.parent = None
        self.stale_after = float(stale_after)
        self.poll = float(poll)
        self.fault: str | None = None
        self._lock = threading.Lock()
        self._pending: list[Status] = []
        self._guarded: list[Any] = []
        self._phase = ""
        self._options: dict[str, bool] = {}
        self._seen: dict[str, Any] = {}
        self._listeners: list[Callable[[str], None]] = []
        self._last_tick = time.monotonic()
        self._last_value: Any = None
        self._tick_cid: int | None = None
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    # -- bluesky message interface -------------------------------------------------------
    def set(self, phase: str, *, pumps: bool = True, heaters: bool = True,
            needs_heat: bool = False) -> Status:
        """Start watching ``phase``; the status fails with :class:`ReactorFault` on a fault.

        Parameters
        ----------
        phase : str
            Named in fault messages ("settle", "flush", "acquisition", "recovery").
        pumps : bool
            Pump alarms are faults (False where suspenders handle them).
        heaters : bool
            A heater switched off, or the watchdog/interlock tripping, is a fault.
        needs_heat : bool
            The phase measures a condition: a heater already off when it starts (the
            reactor went to standby during a long pause) is a fault too.
        """
        self._ensure_running()
        status = Status(self)
        with self._lock:
            self._phase = str(phase)
            self._options = {"pumps": bool(pumps), "heaters": bool(heaters),
                             "needs_heat": bool(needs_heat)}
            self._seen = {}
            self.fault = None
            self._pending.append(status)
        return status

    def guard(self, status: Any) -> None:
        """Fail ``status`` with :class:`ReactorFault` if a fault is seen before it is done."""
        with self._lock:
            self._guarded.append(status)

    def stop(self, *, success: bool = False) -> None:
        """Stop watching: pending statuses finish (successfully), guarded ones are let go."""
        with self._lock:
            pending, self._pending = self._pending, []
            self._guarded = []
        for status in pending:
            if not status.done:
                status.set_finished()

    # -- listeners (suspended runs) ---------------------------------------------------------
    def add_listener(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(reason)`` on a fault seen while watching."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[str], None]) -> None:
        """Forget a listener added with :meth:`add_listener`."""
        if callback in self._listeners:
            self._listeners.remove(callback)

    # -- state ---------------------------------------------------------------------------
    @property
    def prefix(self) -> str:
        """PV prefix of the reactor (``MSC:reactor:``)."""
        return getattr(self.reactor, "prefix", "")

    def responsive(self) -> bool:
        """True while the IOC is connected and its clock moves."""
        return self._ioc_problem() is None

    def _ioc_problem(self) -> str | None:
        sim_time = self.reactor.sim_time
        if not getattr(sim_time, "connected", True):
            return "connection lost"
        age = time.monotonic() - self._last_tick
        if age > self.stale_after:
            return f"no update for {age:.1f} s"
        return None

    def ioc_fault(self, phase: str | None = None) -> str | None:
        """The IOC's own fault (lost or frozen) as a sentence, or None; reads no PV.

        Parameters
        ----------
        phase : str, optional
            Phase named in the sentence (default: the phase being watched).
        """
        problem = self._ioc_problem()
        if problem is None:
            return None
        phase = phase or self._phase or "wait"
        return f"reactor IOC not responding ({self.prefix}): {problem} during the {phase}"

    def check(self, phase: str | None = None, *, pumps: bool = True,
              heaters: bool = True, needs_heat: bool = False) -> str | None:
        """The current fault as a sentence, or None.

        Parameters
        ----------
        phase : str, optional
            Phase named in the sentence (default: the phase being watched).
        pumps, heaters, needs_heat : bool
            As for :meth:`set`.
        """
        phase = phase or self._phase or "wait"
        fault = self.ioc_fault(phase)
        if fault is not None:
            return fault
        try:
            return self._reactor_fault(phase, pumps=pumps, heaters=heaters,
                                       needs_heat=needs_heat)
        except Exception as err:  # noqa: BLE001 - a read failing means the IOC is away
            return f"reactor IOC not responding ({self.prefix}): {err} during the {phase}"

    def _reactor_fault(self, phase: str, *, pumps: bool, heaters: bool,
                       needs_heat: bool = False) -> str | None:
        r = self.reactor
        seen = self._seen
        if pumps:
            for pump in r.pumps:
                key = f"dry:{pump.attr_name}"
                dry = int(pump.alarm.get()) != 0
                if dry:
                    if seen.get(key) is False:
                        others = [p.attr_name for p in r.pumps
                                  if p is not pump and int(p.alarm.get()) != 0]
                        names = " and ".join([pump.attr_name, *others])
                        return f"{names} ran dry during the {phase}"
                    return (f"{pump.attr_name} is dry (reservoir empty) during the {phase}; "
                            f"refill it ({pump.refill.pvname} = 1)")
                seen[key] = False
        if heaters:
            alarm = int(r.alarm.get())
            if alarm in TRIP_ALARMS and seen.get("alarm_ok"):
                what = TRIP_ALARMS[alarm]
                return (f"reactor {what} put the heaters in standby during the {phase} "
                        f"({r.status_message.get()})")
            if alarm not in TRIP_ALARMS:
                seen["alarm_ok"] = True
            for heater in r.heaters:
                key = f"on:{heater.attr_name}"
                on = int(heater.enable.get()) == 1
                if on:
                    seen[key] = True
                elif needs_heat and not seen.get(key):
                    return (f"{heater.name} heater is in standby at the start of the {phase} "
                            f"(reactor status: {r.status_message.get()}); an unsettled "
                            "reactor is not measured: run the plan again")
                elif seen.get(key):
                    return (f"{heater.name} heater was switched off during the {phase} "
                            f"(reactor status: {r.status_message.get()})")
        return None

    # -- thread ----------------------------------------------------------------------------
    def _tick(self, value: Any = None, **kwargs: Any) -> None:
        if value != self._last_value:
            self._last_value = value
            self._last_tick = time.monotonic()

    def _ensure_running(self) -> None:
        if self._tick_cid is None:
            self._last_tick = time.monotonic()
            self._tick_cid = self.reactor.sim_time.subscribe(self._tick, run=True)
        if self._thread is None or not self._thread.is_alive():
            self._closed.clear()
            self._thread = threading.Thread(target=self._run, name="msc-reactor-watch",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._closed.wait(self.poll):
            with self._lock:
                pending = [s for s in self._pending if not s.done]
                phase, options = self._phase, dict(self._options)
            if not pending and not self._listeners:
                continue
            reason = self.check(phase, **options)
            if reason is None:
                continue
            if self.fault != reason:
                logger.error("%s", reason)
            self.fault = reason
            with self._lock:
                guarded, self._guarded = self._guarded, []
            if not guarded and options.get("needs_heat"):
                # a point re-taken after a pause: the RunEngine replays its messages
                # without the plan, so nothing is guarded; failing the phase's own
                # status ends the run the same way
                guarded = pending
            for status in guarded:
                if not status.done:
                    try:
                        status.set_exception(ReactorFault(reason))
                    except Exception as err:  # noqa: BLE001 - finished meanwhile
                        logger.debug("reactor watch: %r", err)
            for callback in list(self._listeners):
                callback(reason)

    def close(self) -> None:
        """Stop the thread and the ``sim_time`` subscription."""
        self.stop()
        self._closed.set()
        if self._tick_cid is not None:
            try:
                self.reactor.sim_time.unsubscribe(self._tick_cid)
            except Exception as err:  # noqa: BLE001 - already gone (device destroyed)
                logger.debug("reactor watch: unsubscribe: %r", err)
            self._tick_cid = None
        if self._thread is not None:
            self._thread.join(timeout=2)


def watching(
    plan: Generator[Msg, Any, Any], watch: ReactorWatch | None, phase: str, *,
    pumps: bool = True, heaters: bool = True, needs_heat: bool = False,
) -> Generator[Msg, Any, Any]:
    """Run ``plan`` with every status it waits for guarded by ``watch`` (phase ``phase``).

    The statuses returned to ``set`` and ``trigger`` messages inside ``plan`` are handed
    to the watch; on a fault it fails them with :class:`ReactorFault`, so the plan's
    ``wait`` ends at once, the bluesky way (``FailedStatus``). After ``plan`` the watch
    stops. With ``watch`` None, ``plan`` runs unchanged.
    """
    if watch is None:
        return (yield from plan)
    handled: set[int] = set()  # plan_mutator passes our own yields through here again

    def capture(msg: Msg) -> Generator[Msg, Any, Any]:
        status = yield msg
        if status is not None and hasattr(status, "set_exception"):
            watch.guard(status)
        return status

    def add_watch(msg: Msg):
        if id(msg) in handled:
            handled.discard(id(msg))
            return None, None
        if msg.command in ("set", "trigger") and msg.obj is not watch:
            handled.add(id(msg))
            return capture(msg), None
        return None, None

    def watched() -> Generator[Msg, Any, Any]:
        yield Msg("set", watch, phase, pumps=pumps, heaters=heaters, needs_heat=needs_heat)
        try:
            return (yield from bpp.plan_mutator(plan, add_watch))
        except (ReactorFault, RequestAbort, RequestStop):
            raise
        except Exception as err:
            # A read timing out on a frozen IOC races the watch's own staleness check:
            # when the watch sees the IOC unresponsive, that is the cause to report.
            reason = watch.ioc_fault(phase)
            if reason is None:
                raise
            raise ReactorFault(reason) from err

    def unwatch() -> Generator[Msg, Any, None]:
        yield Msg("stop", watch)

    return (yield from bpp.finalize_wrapper(watched(), unwatch))
