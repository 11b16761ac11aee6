"""Fault injection against a real simulated IOC: run a plan, inject at a phase, time it.

Used by the ``faults`` test tier and by ``benchmarks/faults.py``. One :class:`Rig` is
one IOC subprocess (time scale 100, random prefix) with the real devices; a fault is a
callable run in a thread when the plan reaches a phase (the first ``set`` of the
heaters = settle, the ``set`` of ``reactor.flush`` = flush, the ``trigger`` of a
detector = acquisition).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from msc_bluesky.iocs.launcher import SimulatedIOC, read_pv

TIME_SCALE = 100.0
#: One condition that heats (above the interlock's 60 °C) quickly at time scale 100.
CONDITION = {"t_nuc": 100.0, "t_growth": 100.0, "reaction_time": 14.0}


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> float:
    """Poll ``condition`` until truthy; return the wall seconds it took."""
    start = time.monotonic()
    pause = threading.Event()
    while True:
        try:
            if condition():
                return time.monotonic() - start
        except Exception:  # noqa: BLE001 - IOC not answering yet: poll again
            pass
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        pause.wait(0.05)


@dataclass
class Outcome:
    """What a faulted run did."""

    error: BaseException | None = None
    docs: list[tuple[str, dict]] = field(default_factory=list)
    t_fault: float | None = None
    t_end: float | None = None

    @property
    def stop(self) -> dict:
        stops = [d for n, d in self.docs if n == "stop"]
        assert stops, "no stop document"
        return stops[-1]

    @property
    def detect_s(self) -> float:
        """Wall seconds from the fault to the end of the run."""
        assert self.t_fault is not None and self.t_end is not None
        return self.t_end - self.t_fault

    @property
    def events(self) -> int:
        return sum(1 for n, _ in self.docs if n == "event")


class Rig:
    """A simulated IOC plus the real devices connected to it.

    Parameters
    ----------
    extra_args : sequence of str
        More IOC options (e.g. ``("--reservoir-ml", "0.7")``).
    """

    def __init__(self, extra_args=()) -> None:
        from msc_bluesky.instrument import reactor, saxs, uvvis

        self.ioc = SimulatedIOC(time_scale=TIME_SCALE, extra_args=extra_args).start()
        self.prefix = self.ioc.prefix
        self.reactor = reactor(self.prefix)
        self.uvvis = uvvis(self.prefix)
        self.saxs = saxs(self.prefix)
        for device in (self.reactor, self.uvvis, self.saxs):
            device.wait_for_connection(timeout=30)
        self.resumed = threading.Event()
        self.commands: list[str] = []  # commands of the messages run() has seen

    # -- PVs through caproto's sync client (independent of the devices) ---------------------
    def pv(self, name: str, timeout: float = 1.0):
        return read_pv(self.prefix + name, self.ioc.port, timeout=timeout).data[0]

    def heaters_off(self) -> bool:
        return all(int(self.pv(f"reactor:{z}:enable")) == 0 for z in ("nuc", "growth"))

    def reactor_safe(self) -> bool:
        """Heaters off and pumps stopped, read from the IOC."""
        return self.heaters_off() and all(
            int(self.pv(f"reactor:{p}:run")) == 0 for p in ("pump_cd", "pump_se"))

    # -- faults ---------------------------------------------------------------------------
    def freeze(self) -> None:
        os.kill(self.ioc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.ioc.pid, signal.SIGCONT)
        self.resumed.set()

    def kill(self) -> None:
        os.kill(self.ioc.pid, signal.SIGKILL)

    def phase_trigger(self, phase: str) -> Callable[[Any], bool]:
        """A predicate on messages: True at the first message of ``phase``."""
        if phase == "settle":
            return lambda msg: msg.command == "set" and msg.obj is self.reactor.t_nuc
        if phase == "flush":
            return lambda msg: msg.command == "set" and msg.obj is self.reactor.flush
        if phase == "acquisition":
            return lambda msg: msg.command == "trigger" and msg.obj is self.saxs
        raise ValueError(phase)

    def run(self, RE, plan, *, at: str | None = None,  # noqa: N803
            fault: Callable[[], None] | None = None, delay: float = 0.3) -> Outcome:
        """Run ``plan``; ``delay`` s after the first message of phase ``at``, ``fault()``."""
        outcome = Outcome()
        RE.subscribe(lambda name, doc: outcome.docs.append((name, doc)))
        fired = threading.Event()
        matches = self.phase_trigger(at) if at else None

        def inject() -> None:
            threading.Event().wait(delay)
            outcome.t_fault = time.monotonic()
            fault()

        def hook(msg) -> None:
            self.commands.append(msg.command)
            if matches is not None and not fired.is_set() and matches(msg):
                fired.set()
                threading.Thread(target=inject, daemon=True).start()

        RE.msg_hook = hook
        try:
            RE(plan)
        except BaseException as err:  # noqa: BLE001 - the test inspects it
            outcome.error = err
        outcome.t_end = time.monotonic()
        RE.msg_hook = None
        return outcome

    def close(self) -> None:
        if not self.resumed.is_set() and self.ioc.running:
            try:
                os.kill(self.ioc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        for device in (self.reactor, self.uvvis, self.saxs):
            try:
                device.destroy()
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass
        self.ioc.stop()
