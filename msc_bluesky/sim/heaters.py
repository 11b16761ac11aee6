"""Heater zones of the reactor: linear ramps to the setpoint, Newton cooling when off."""

from __future__ import annotations

import math

from msc_bluesky.limits import TEMPERATURE_LIMITS_C, check_temperature
from msc_bluesky.sim.checks import finite

#: Heater zones, in the order the IOCs list them.
HEATER_ZONES: tuple[str, ...] = ("nucleation", "growth")

_EPS = 1e-9


class Heater:
    """One heater zone: ramps linearly to its setpoint, cools toward ambient when off.

    Parameters
    ----------
    name : str
        Zone name (``"nucleation"`` or ``"growth"``), used in messages.
    ambient_c : float
        Ambient temperature (°C): the start temperature and what a disabled heater
        cools toward (Newton cooling with ``cooling_time_constant``).
    ramp_rate : float
        °C/s, > 0.
    tolerance : float
        °C: ``at_temperature`` needs ``|readback - setpoint| <= tolerance``.
    settle_time : float
        s the readback must stay within tolerance before ``at_temperature``.
    cooling_time_constant : float
        s, time constant of cooling when disabled.
    """

    def __init__(self, name: str, *, ambient_c: float = 25.0, ramp_rate: float = 2.0,
                 tolerance: float = 0.5, settle_time: float = 5.0,
                 cooling_time_constant: float = 120.0) -> None:
        self.name = name
        self.ambient_c = float(ambient_c)
        self.readback = float(ambient_c)
        low, high = TEMPERATURE_LIMITS_C
        self.setpoint = float(min(max(ambient_c, low), high))
        self.enabled = True
        self._ramp_rate = 2.0
        self._tolerance = 0.5
        self._settle_time = 5.0
        self.ramp_rate = ramp_rate
        self.tolerance = tolerance
        self.settle_time = settle_time
        self.cooling_time_constant = finite("cooling_time_constant", cooling_time_constant,
                                             low=0.0, low_open=True, unit="s")
        self._in_band_for = 0.0

    # -- configuration -------------------------------------------------------------
    @property
    def ramp_rate(self) -> float:
        """Ramp rate in °C/s (> 0)."""
        return self._ramp_rate

    @ramp_rate.setter
    def ramp_rate(self, value: float) -> None:
        self._ramp_rate = finite(f"{self.name} ramp_rate", value, low=0.0, low_open=True,
                                  high=1000.0, unit="°C/s")

    @property
    def tolerance(self) -> float:
        """At-temperature tolerance in °C (>= 0)."""
        return self._tolerance

    @tolerance.setter
    def tolerance(self, value: float) -> None:
        self._tolerance = finite(f"{self.name} tolerance", value, low=0.0, high=100.0,
                                  unit="°C")

    @property
    def settle_time(self) -> float:
        """Seconds within tolerance before ``at_temperature`` (>= 0)."""
        return self._settle_time

    @settle_time.setter
    def settle_time(self, value: float) -> None:
        self._settle_time = finite(f"{self.name} settle_time", value, low=0.0, high=1e5,
                                    unit="s")

    # -- commands --------------------------------------------------------------------
    def set_setpoint(self, value: float) -> None:
        """Set the target temperature; ``at_temperature`` drops even for the same value.

        Raises
        ------
        msc_bluesky.limits.ConditionError
            If the value is not finite or outside ``TEMPERATURE_LIMITS_C``.
        """
        self.setpoint = check_temperature(f"{self.name} setpoint", value)
        self._in_band_for = 0.0

    def enable(self, on: bool = True) -> None:
        """Switch the heater on (ramps to its setpoint) or off (cools toward ambient)."""
        on = bool(on)
        if on != self.enabled:
            self._in_band_for = 0.0
        self.enabled = on

    # -- state ----------------------------------------------------------------------
    def in_band(self, band: float | None = None) -> bool:
        """True when the readback is within ``band`` (default: tolerance) of the setpoint."""
        band = self._tolerance if band is None else float(band)
        return abs(self.readback - self.setpoint) <= band + _EPS

    @property
    def at_temperature(self) -> bool:
        """Enabled, within tolerance, and settled for ``settle_time``."""
        return (self.enabled and self.in_band()
                and self._in_band_for >= self._settle_time - _EPS)

    def time_to_kink(self) -> float:
        """Seconds until the readback's time course changes slope (inf if none)."""
        if self.enabled:
            gap = abs(self.setpoint - self.readback)
            return gap / self._ramp_rate if gap > _EPS else math.inf
        return math.inf

    def advance(self, dt: float) -> None:
        """Move the readback ``dt`` seconds forward."""
        if dt <= 0:
            return
        if not self.enabled:
            decay = math.exp(-dt / self.cooling_time_constant)
            self.readback = self.ambient_c + (self.readback - self.ambient_c) * decay
            self._in_band_for = 0.0
            return
        gap = self.setpoint - self.readback
        # Time at which the readback enters the tolerance band (0 if already in it).
        band_entry = max(0.0, (abs(gap) - self._tolerance) / self._ramp_rate)
        if dt * self._ramp_rate >= abs(gap):
            self.readback = self.setpoint
        else:
            self.readback += math.copysign(self._ramp_rate * dt, gap)
        if dt > band_entry:
            already = self._in_band_for if band_entry == 0.0 else 0.0
            self._in_band_for = already + dt - band_entry
        else:
            self._in_band_for = 0.0
