"""The IOC's own protections: an armed watchdog and a no-flow interlock.

Both act on :class:`~msc_bluesky.sim.reactor.ReactorWorld` through its ``standby``;
neither needs a client to be alive.

- **Watchdog** (``reactor:watchdog_timeout``, simulated seconds like every time of the
  IOC): armed by default at :data:`DEFAULT_WATCHDOG_WALL_S` seconds of *wall* time
  (``5 × time_scale`` simulated s) and bounded by :data:`MAX_WATCHDOG_WALL_S` seconds of
  wall time, so a silent client is noticed within 10 s of wall time at any time scale.
  It can only be switched off by starting the IOC with ``--no-watchdog`` (unsafe).
- **No-flow interlock**: when a heater is on above :data:`SAFE_TEMPERATURE_C` and no
  liquid flows (both pumps stopped or dry) for :data:`NO_FLOW_GRACE_S` simulated
  seconds, heaters and pumps go to standby; ``reactor:alarm`` = 4 and
  ``reactor:status`` says why. Plans start the pumps together with the heaters, so
  normal operation never trips it.
"""

from __future__ import annotations

import math

#: Default watchdog timeout in wall seconds (``× time_scale`` simulated seconds).
DEFAULT_WATCHDOG_WALL_S: float = 5.0
#: Largest watchdog timeout accepted, in wall seconds (``× time_scale`` simulated s).
MAX_WATCHDOG_WALL_S: float = 10.0
#: A heater on above this temperature (°C) needs liquid flowing through the reactor.
SAFE_TEMPERATURE_C: float = 60.0
#: Simulated seconds a hot reactor may stand without flow before the interlock trips.
NO_FLOW_GRACE_S: float = 120.0
#: ``reactor:alarm`` value of a tripped no-flow interlock.
ALARM_NO_FLOW = 4


class WatchdogError(ValueError):
    """A watchdog timeout that the IOC refuses."""


def check_watchdog_timeout(value: float, time_scale: float, *, may_disable: bool) -> float:
    """Validate a watchdog timeout (simulated seconds) for an IOC at ``time_scale``.

    Parameters
    ----------
    value : float
        Requested timeout in simulated seconds; 0 switches the watchdog off.
    time_scale : float
        Simulated seconds per wall second.
    may_disable : bool
        Whether 0 (off) is allowed: only when the IOC was started with ``--no-watchdog``.

    Returns
    -------
    float
        The accepted timeout.

    Raises
    ------
    WatchdogError
        NaN, inf, negative, above ``MAX_WATCHDOG_WALL_S × time_scale``, or 0 when the
        watchdog may not be switched off.
    """
    limit = MAX_WATCHDOG_WALL_S * time_scale
    allowed = (f"allowed: > 0 and <= {limit:g} simulated s ({MAX_WATCHDOG_WALL_S:g} s of "
               f"wall time at time scale {time_scale:g})")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise WatchdogError(f"watchdog timeout {value!r} is not a number; {allowed}") from None
    if v == 0:
        if may_disable:
            return 0.0
        raise WatchdogError(
            f"watchdog timeout 0 (off) is refused: the watchdog can only be switched off by "
            f"starting the IOC with --no-watchdog (unsafe); {allowed}")
    if not (math.isfinite(v) and 0 < v <= limit * (1 + 1e-12)):
        raise WatchdogError(f"watchdog timeout {value!r} s is refused; {allowed}")
    return v


class NoFlowInterlock:
    """Heaters to standby when a hot reactor stands without flow for a grace time.

    Call :meth:`check` after every advance of the world; it trips at most one check
    (one 50 ms scan of the IOC) after the grace time has passed.

    Parameters
    ----------
    grace_s : float
        Simulated seconds without flow tolerated while a heater is hot.
    safe_c : float
        A heater enabled with its readback above this (°C) counts as hot.
    """

    def __init__(self, grace_s: float = NO_FLOW_GRACE_S,
                 safe_c: float = SAFE_TEMPERATURE_C) -> None:
        if not (math.isfinite(grace_s) and grace_s > 0):
            raise ValueError(f"no-flow grace {grace_s!r} s must be a finite number > 0")
        self.grace_s = float(grace_s)
        self.safe_c = float(safe_c)
        self.tripped = False
        self.reason = ""
        self._since: float | None = None

    def hot(self, world) -> bool:
        """True when any heater is enabled with its readback above ``safe_c``."""
        return any(h.enabled and h.readback > self.safe_c for h in world.heaters.values())

    def check(self, world) -> bool:
        """Trip (world to standby) when hot without flow for ``grace_s``; True if tripped now."""
        if not self.hot(world) or world.total_flow > 0:
            self._since = None
            return False
        if self._since is None:
            self._since = world.time
            return False
        if world.time - self._since < self.grace_s - 1e-9:
            return False
        dry = [n for n, p in world.pumps.items() if p.dry]
        self.reason = f"{'+'.join(dry)} dry" if dry else "pumps stopped"
        world.standby("no-flow interlock")
        self.tripped = True
        self._since = None
        return True

    def clear(self) -> None:
        """A client switched a heater or a pump on: forget the trip."""
        self.tripped = False
        self.reason = ""
        self._since = None

    @property
    def status(self) -> str:
        """Status text of a tripped interlock (at most 39 characters)."""
        return f"INTERLOCK: no flow ({self.reason})"[:39]
