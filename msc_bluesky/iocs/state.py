"""The simulated world the IOC groups share, and the clock that drives it.

One :class:`SimState` per IOC process: the :class:`~msc_bluesky.sim.reactor.ReactorWorld`,
a wall-clock to simulated-time mapping (``time_scale`` simulated seconds per wall
second), the random generator, and one worker thread for the heavier signal
computations so that Channel Access stays responsive.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from msc_bluesky.iocs.safety import (
    ALARM_NO_FLOW,
    DEFAULT_WATCHDOG_WALL_S,
    NoFlowInterlock,
    check_watchdog_timeout,
)
from msc_bluesky.sim.reactor import DEFAULT_RESERVOIR_ML, ReactorWorld

T = TypeVar("T")


class SimClock:
    """Simulated time = ``start + (wall - wall_at_start) * time_scale``."""

    def __init__(self, time_scale: float, *, start: float = 0.0,
                 wall: Callable[[], float] = time.monotonic) -> None:
        scale = float(time_scale)
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"time_scale = {time_scale!r} must be a finite number > 0")
        self.time_scale = scale
        self._wall = wall
        self._wall0 = wall()
        self._start = float(start)

    def now(self) -> float:
        """Current simulated time (s)."""
        return self._start + (self._wall() - self._wall0) * self.time_scale

    def wall_seconds(self, simulated_s: float) -> float:
        """Wall seconds that ``simulated_s`` simulated seconds take."""
        return max(float(simulated_s), 0.0) / self.time_scale


class SimState:
    """Everything the PV groups share.

    Parameters
    ----------
    time_scale : float
        Simulated seconds per wall second.
    seed : int
        Seed of the ``numpy.random.Generator`` used for all noise.
    reservoir_ml : float
        Reservoir volume of each pump (mL).
    watchdog_s : float, optional
        Initial watchdog timeout in simulated seconds; default
        ``DEFAULT_WATCHDOG_WALL_S × time_scale``. 0 (off) only with ``no_watchdog``.
    no_watchdog : bool
        Start with the watchdog off and allow clients to put 0 (unsafe).
    no_flow_interlock : NoFlowInterlock, optional
        The interlock (default grace and temperature of :mod:`msc_bluesky.iocs.safety`).

    Notes
    -----
    The heaters start switched off (standby), like a controller after power-up.
    """

    def __init__(self, *, time_scale: float = 1.0, seed: int = 0,
                 reservoir_ml: float = DEFAULT_RESERVOIR_ML, watchdog_s: float | None = None,
                 no_watchdog: bool = False,
                 no_flow_interlock: NoFlowInterlock | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self.world = ReactorWorld(rng=self.rng, reservoir_ml=reservoir_ml)
        self.clock = SimClock(time_scale, start=self.world.time)
        self.may_disable_watchdog = bool(no_watchdog)
        if no_watchdog:
            watchdog_s = 0.0
        elif watchdog_s is None:
            watchdog_s = DEFAULT_WATCHDOG_WALL_S * self.time_scale
        self.set_watchdog_timeout(watchdog_s)
        self.interlock = no_flow_interlock if no_flow_interlock is not None else NoFlowInterlock()
        for zone in self.world.heaters:
            self.world.enable_heater(zone, False)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="msc-sim")
        self._warming: Future[Any] | None = None

    @property
    def time_scale(self) -> float:
        """Simulated seconds per wall second."""
        return self.clock.time_scale

    def set_watchdog_timeout(self, value: float) -> float:
        """Arm the watchdog with ``value`` simulated seconds (checked); return it.

        Raises
        ------
        msc_bluesky.iocs.safety.WatchdogError
            Outside ``0 < value <= MAX_WATCHDOG_WALL_S × time_scale``, or 0 without
            ``no_watchdog``.
        """
        value = check_watchdog_timeout(value, self.time_scale,
                                       may_disable=self.may_disable_watchdog)
        self.world.watchdog_timeout = value
        return value

    def sync(self) -> float:
        """Advance the world to the clock's current simulated time; return it.

        The no-flow interlock is checked after every advance.
        """
        self.world.advance(max(self.clock.now(), self.world.time))
        self.interlock.check(self.world)
        return self.world.time

    def switched_on(self) -> None:
        """A client switched a heater or pump on: a tripped interlock is cleared."""
        self.interlock.clear()

    @property
    def alarm(self) -> int:
        """0 OK, 1 watchdog, 2 pump dry, 4 no-flow interlock (the world's codes plus 4)."""
        if self.interlock.tripped:
            return ALARM_NO_FLOW
        return int(self.world.alarm)

    @property
    def status(self) -> str:
        """Human-readable state or alarm reason, at most 39 characters."""
        if self.interlock.tripped:
            return self.interlock.status
        return self.world.status

    async def wait_until(self, simulated_t: float) -> None:
        """Sleep until the world has reached ``simulated_t`` (polls the clock)."""
        while self.sync() < simulated_t - 1e-9:
            remaining = self.clock.wall_seconds(simulated_t - self.world.time)
            await asyncio.sleep(min(max(remaining, 0.0005), 0.05))

    async def compute(self, func: Callable[..., T], *args: Any) -> T:
        """Run ``func(*args)`` in the worker thread (one at a time, in submission order)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, func, *args)

    def warm_signals(self) -> bool:
        """Simulate, in the worker thread, the kinetics of the liquid now in the flow cell.

        Called on every reactor scan. A label's conditions are final once it has left
        the growth oven, or once the heaters have reached their setpoints (and the flow
        stays), so its kinetics, simulated here while the detectors are idle, is what
        the next acquisitions reuse: an acquisition then returns after its exposure
        instead of after the kinetics of every label that entered the cell since the
        last one (tens to hundreds of ms of wall time, while the simulated liquid flows
        on). While a heater ramps only the labels that have left the oven are simulated
        (the conditions predicted for the liquid still in the reactor would change);
        nothing is done while nothing flows or while the previous warm-up runs. Uses no
        random numbers.

        Returns
        -------
        bool
            Whether a warm-up was started.
        """
        if self._warming is not None and not self._warming.done():
            return False
        world = self.world
        heaters = [h for h in world.heaters.values() if h.enabled]
        if not heaters or world.total_flow <= 0:
            return False
        ramping = not all(h.in_band(0.0) for h in heaters)
        _, conditions = world.cell_conditions(final_only=ramping)
        if not conditions:
            return False

        def warm() -> None:
            for condition in conditions:
                world.composition_for(condition)

        try:
            self._warming = self._executor.submit(warm)
        except RuntimeError:  # shut down
            return False
        return True

    def close(self) -> None:
        """Stop the worker thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)
