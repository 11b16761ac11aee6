"""Pumps of the reactor: a flow setpoint, a finite reservoir, a dry alarm."""

from __future__ import annotations

import math

from msc_bluesky.limits import PUMP_MAX_FLOW_ML_MIN
from msc_bluesky.sim.checks import finite

#: Pumps, in the order the IOCs list them.
PUMP_NAMES: tuple[str, ...] = ("cd", "se")
#: Default reservoir volume of each pump (mL).
DEFAULT_RESERVOIR_ML = 1000.0

_EPS = 1e-9


class PumpError(RuntimeError):
    """A pump cannot do what was asked (for example start with an empty reservoir)."""


class Pump:
    """A syringe/HPLC pump with a finite reservoir.

    ``flow`` (the readback, mL/min) equals the setpoint while running and 0 otherwise.
    When the reservoir runs empty the pump stops and ``dry`` is set until ``refill()``.
    """

    def __init__(self, name: str, *, max_flow: float = PUMP_MAX_FLOW_ML_MIN,
                 capacity_ml: float = DEFAULT_RESERVOIR_ML) -> None:
        self.name = name
        self.max_flow = finite(f"pump {name} max_flow", max_flow, low=0.0, low_open=True,
                                unit="mL/min")
        self._capacity = DEFAULT_RESERVOIR_ML
        self.capacity_ml = capacity_ml
        self.volume_left = self._capacity
        self.dispensed = 0.0
        self.setpoint = 0.0
        self.running = False
        self.dry = False

    @property
    def capacity_ml(self) -> float:
        """Reservoir volume a refill fills to (mL)."""
        return self._capacity

    @capacity_ml.setter
    def capacity_ml(self, value: float) -> None:
        self._capacity = finite(f"pump {self.name} capacity", value, low=0.0, low_open=True,
                                 high=1e6, unit="mL")

    @property
    def flow(self) -> float:
        """Flow readback in mL/min."""
        return self.setpoint if (self.running and not self.dry) else 0.0

    def set_setpoint(self, value: float) -> None:
        """Set the flow (mL/min), 0..max_flow; NaN/inf refused with ValueError."""
        self.setpoint = finite(f"pump {self.name} flow setpoint", value, low=0.0,
                                high=self.max_flow, unit="mL/min")

    def start(self) -> None:
        """Start pumping; raises :class:`PumpError` when the reservoir is empty."""
        if self.dry or self.volume_left <= _EPS:
            raise PumpError(f"pump {self.name}: reservoir empty; put refill=1 before run=1")
        self.running = True

    def stop(self) -> None:
        """Stop pumping."""
        self.running = False

    def refill(self) -> None:
        """Fill the reservoir to ``capacity_ml`` and clear the dry alarm (does not start)."""
        self.volume_left = self._capacity
        self.dry = False

    def time_to_empty(self) -> float:
        """Seconds until the reservoir is empty at the current flow (inf if not pumping)."""
        q = self.flow
        return self.volume_left / (q / 60.0) if q > 0 else math.inf

    def advance(self, dt: float) -> float:
        """Pump for ``dt`` seconds; return the volume dispensed (mL)."""
        q = self.flow
        if dt <= 0 or q <= 0:
            return 0.0
        volume = q / 60.0 * dt
        if volume >= self.volume_left - 1e-12:
            volume = self.volume_left
            self.volume_left = 0.0
            self.dry = True
            self.running = False
        else:
            self.volume_left -= volume
        self.dispensed += volume
        return volume

