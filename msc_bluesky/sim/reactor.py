"""The reactor in time: heaters that ramp and settle, pumps that empty, a flow cell.

:class:`ReactorWorld` is pure numpy. It never reads a clock: the caller moves it with
``advance(t_s)``. It never uses the global random state: noise comes from the
``numpy.random.Generator`` it is given.

Its parts live in their own modules: :mod:`~msc_bluesky.sim.heaters`,
:mod:`~msc_bluesky.sim.pumps`, :mod:`~msc_bluesky.sim.flowcell` (what liquid the cell
holds, from the flow and temperature history) and :mod:`~msc_bluesky.sim.signal_cache`.
The signal is a weighted sum of the noiseless signals of the (rounded, cached)
conditions of the labels; noise is added once, to the sum.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from msc_bluesky.sim.checks import finite
from msc_bluesky.sim.flowcell import (
    DEFAULT_DISPERSION_TANKS,
    FLUSH_VOLUMES,
    CellCondition,
    CellContents,
    FlowHistory,
)
from msc_bluesky.sim.geometry import ReactorGeometry
from msc_bluesky.sim.heaters import HEATER_ZONES, Heater
from msc_bluesky.sim.kinetics import KineticParameters
from msc_bluesky.sim.optics import add_spectrum_noise
from msc_bluesky.sim.pumps import DEFAULT_RESERVOIR_ML, PUMP_NAMES, Pump, PumpError
from msc_bluesky.sim.scattering import saxs_counting_noise
from msc_bluesky.sim.signal_cache import SignalCache

__all__ = [
    "DEFAULT_DISPERSION_TANKS",
    "DEFAULT_RESERVOIR_ML",
    "HEATER_ZONES",
    "PUMP_NAMES",
    "CellCondition",
    "CellContents",
    "Heater",
    "Pump",
    "PumpError",
    "ReactorWorld",
]


class ReactorWorld:
    """The simulated flow reactor in time.

    Parameters
    ----------
    geometry : ReactorGeometry, optional
        Volumes of chamber, oven and transfer line (default: ``ReactorGeometry()``).
    rng : numpy.random.Generator, optional
        Source of all noise (default: ``numpy.random.default_rng(0)``).
    ambient_c : float
        Ambient temperature (°C).
    reservoir_ml : float
        Reservoir volume of each pump (mL).
    dispersion_tanks : int
        Tanks in series of the residence-volume distribution (more = less dispersion).
    kinetic_params : KineticParameters, optional
        Passed to ``simulate_kinetics`` (default: its defaults).
    start_time : float
        Simulated clock at creation (s).

    Notes
    -----
    Heaters start enabled with the setpoint at ambient (so they do nothing); pumps start
    stopped at 0 mL/min. The watchdog is off (``watchdog_timeout = 0``) until set.
    """

    def __init__(self, geometry: ReactorGeometry | None = None, *,
                 rng: np.random.Generator | None = None,
                 ambient_c: float = 25.0, reservoir_ml: float = DEFAULT_RESERVOIR_ML,
                 dispersion_tanks: int = DEFAULT_DISPERSION_TANKS,
                 kinetic_params: KineticParameters | None = None,
                 start_time: float = 0.0) -> None:
        self.geometry: ReactorGeometry = geometry if geometry is not None else ReactorGeometry()
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.ambient_c = finite("ambient_c", ambient_c, low=-50.0, high=100.0, unit="°C")
        if int(dispersion_tanks) < 1:
            raise ValueError(f"dispersion_tanks = {dispersion_tanks!r} must be an integer >= 1")
        self.dispersion_tanks = int(dispersion_tanks)
        self.kinetic_params = kinetic_params
        self.time = float(start_time)
        self.heaters: dict[str, Heater] = {z: Heater(z, ambient_c=self.ambient_c)
                                           for z in HEATER_ZONES}
        self.pumps: dict[str, Pump] = {p: Pump(p, capacity_ml=reservoir_ml)
                                       for p in PUMP_NAMES}
        self.volume_pumped = 0.0
        self.history = FlowHistory(self.time, self.heaters["nucleation"].readback,
                                   self.heaters["growth"].readback)
        # Safety state.
        self._watchdog_timeout = 0.0
        self._last_heartbeat = self.time
        self.watchdog_tripped = False
        self.standby_reason = ""
        self._signals = SignalCache(kinetic_params)

    # -- derived quantities ------------------------------------------------------------
    @property
    def total_flow(self) -> float:
        """Sum of the pump flow readbacks (mL/min)."""
        return float(sum(p.flow for p in self.pumps.values()))

    @property
    def reaction_volume_ml(self) -> float:
        """Nucleation chamber plus growth oven (mL)."""
        g = self.geometry
        return float(g.nucleation_volume_ml + g.growth_volume_ml)

    @property
    def residence_volume_ml(self) -> float:
        """Volume from the reactor inlet to the flow cells (mL)."""
        return self.reaction_volume_ml + float(self.geometry.transfer_volume_ml)

    @property
    def reaction_time(self) -> float:
        """``(V_nuc + V_growth) / total flow`` in s; ``inf`` when nothing flows."""
        q = self.total_flow
        return self.reaction_volume_ml / (q / 60.0) if q > 0 else math.inf

    # -- safety ------------------------------------------------------------------------
    @property
    def watchdog_timeout(self) -> float:
        """Simulated seconds without heartbeat before heaters go to standby; 0 = off."""
        return self._watchdog_timeout

    @watchdog_timeout.setter
    def watchdog_timeout(self, value: float) -> None:
        self._watchdog_timeout = finite("watchdog_timeout", value, low=0.0, unit="s")
        self._last_heartbeat = self.time

    def heartbeat(self) -> None:
        """A client is alive: restart the watchdog timer."""
        self._last_heartbeat = self.time

    def enable_heater(self, zone: str, on: bool = True) -> None:
        """Switch a heater on or off; switching on clears a watchdog trip and its timer."""
        heater = self._heater(zone)
        heater.enable(on)
        if on:
            self.watchdog_tripped = False
            self.standby_reason = ""
            self._last_heartbeat = self.time

    def start_pump(self, name: str, on: bool = True) -> None:
        """Start (``on``) or stop a pump; starting an empty pump raises PumpError."""
        pump = self._pump(name)
        if on:
            pump.start()
            self.standby_reason = ""
        else:
            pump.stop()

    def standby(self, reason: str = "requested") -> None:
        """Safe state: heaters disabled (they cool toward ambient), pumps stopped."""
        for h in self.heaters.values():
            h.enable(False)
        for p in self.pumps.values():
            p.stop()
        self.standby_reason = reason

    @property
    def alarm(self) -> int:
        """0 OK, 1 watchdog tripped, 2 a pump ran dry."""
        if any(p.dry for p in self.pumps.values()):
            return 2
        if self.watchdog_tripped:
            return 1
        return 0

    @property
    def status(self) -> str:
        """Human-readable state or alarm reason, at most 39 characters."""
        dry = [n for n, p in self.pumps.items() if p.dry]
        if dry:
            text = f"PUMP DRY: {'+'.join(dry)} reservoir empty"
        elif self.watchdog_tripped:
            text = f"WATCHDOG: no heartbeat {self._watchdog_timeout:g} s"
        else:
            on = [h for h in self.heaters.values() if h.enabled]
            running = sum(p.flow > 0 for p in self.pumps.values())
            if not on and not running and self.standby_reason:
                text = f"standby ({self.standby_reason})"
            else:
                if not on:
                    heat = "heaters off"
                elif all(h.at_temperature for h in on):
                    heat = "at temperature"
                else:
                    heat = "heating"
                text = f"OK: {heat}, {running} pump(s) running"
        return text[:39]

    # -- time --------------------------------------------------------------------------
    def advance(self, t_s: float) -> None:
        """Move the simulated clock to ``t_s`` (s), which must not lie in the past.

        Heaters ramp, pumps pump and drain their reservoirs (stopping when dry), the
        watchdog is checked, and the history the flow cell is computed from is recorded.
        Steps are split at every kink (a ramp reaching its setpoint, a reservoir running
        empty, the watchdog deadline) so the result does not depend on how often
        ``advance`` is called.
        """
        t_s = float(t_s)
        if not math.isfinite(t_s):
            raise ValueError(f"advance(t_s={t_s!r}): the time must be finite")
        if t_s < self.time - 1e-9:
            raise ValueError(f"advance(t_s={t_s!r}) lies before the current time {self.time!r}")
        for _ in range(100_000):
            remaining = t_s - self.time
            if remaining <= 1e-12:
                break
            dt = min(remaining, self._time_to_next_event())
            dt = max(dt, min(remaining, 1e-9))
            self._step(dt)
        self.time = max(self.time, t_s)

    def _time_to_next_event(self) -> float:
        events = [h.time_to_kink() for h in self.heaters.values()]
        events += [p.time_to_empty() for p in self.pumps.values()]
        for h in self.heaters.values():
            if not h.enabled and abs(h.readback - h.ambient_c) > 0.5:
                events.append(h.cooling_time_constant / 8.0)
        if self._watchdog_timeout > 0 and any(h.enabled for h in self.heaters.values()):
            events.append(self._last_heartbeat + self._watchdog_timeout - self.time)
        positive = [e for e in events if e > 1e-12]
        return min(positive) if positive else math.inf

    def _step(self, dt: float) -> None:
        for h in self.heaters.values():
            h.advance(dt)
        q_ml_s = sum(p.flow for p in self.pumps.values()) / 60.0
        dispensed = sum(p.advance(dt) for p in self.pumps.values())
        self.time += dt
        self.volume_pumped += dispensed
        if dispensed > 0:
            self.history.flowed(self.time, q_ml_s)
        if (self._watchdog_timeout > 0 and not self.watchdog_tripped
                and any(h.enabled for h in self.heaters.values())
                and self.time >= self._last_heartbeat + self._watchdog_timeout - 1e-9):
            self.standby("watchdog")
            self.watchdog_tripped = True
        self.history.record(self.time, self.volume_pumped, self.heaters["nucleation"].readback,
                            self.heaters["growth"].readback,
                            keep_volume_ml=FLUSH_VOLUMES * self.residence_volume_ml * 1.5)

    # -- the flow cell -----------------------------------------------------------------
    def cell_conditions(self, *, final_only: bool = False,
                        ) -> tuple[np.ndarray, list[CellCondition]]:
        """Weights and rounded conditions of every label now in the flow cell.

        Labels with the same rounded condition are merged. With ``final_only``, only
        the labels that have left the growth oven (see ``FlowHistory.cell_conditions``).
        """
        return self.history.cell_conditions(
            geometry=self.geometry, tanks=self.dispersion_tanks,
            volume_now=self.volume_pumped, time_now=self.time,
            flow_ml_s=self.total_flow / 60.0, final_only=final_only)

    def composition_for(self, condition: CellCondition) -> Any:
        """The (cached) kinetics result for one rounded condition."""
        return self._signals.composition(condition, self.geometry)

    def cell_composition(self) -> CellContents:
        """What the flow cell holds now: a weighted mix of labels of liquid."""
        weights, conditions = self.cell_conditions()
        return CellContents(tuple(float(x) for x in weights), tuple(conditions),
                            tuple(self.composition_for(c) for c in conditions))

    @property
    def cell_temperature_c(self) -> float:
        """Weighted temperature (°C) at which the cell's liquid left the growth oven."""
        weights, conditions = self.cell_conditions()
        return float(sum(w * c.t_growth for w, c in zip(weights, conditions, strict=True)))

    def cell_spectrum(self, wavelength_nm: np.ndarray, rng: np.random.Generator | None = None,
                      *, path_length_cm: float = 0.1,
                      mix: tuple[np.ndarray, list[CellCondition]] | None = None) -> np.ndarray:
        """Absorbance of the flow cell's contents; noiseless when ``rng`` is None.

        ``mix`` is a ``cell_conditions()`` result taken earlier (default: now); with it,
        this method does not read the world's history, so it may run in another thread.
        """
        wl = np.asarray(wavelength_nm, dtype=float)
        weights, conditions = self.cell_conditions() if mix is None else mix
        total = np.zeros_like(wl)
        for w, cond in zip(weights, conditions, strict=True):
            total += w * self._signals.spectrum(cond, self.geometry, wl, path_length_cm)
        if rng is None:
            return total
        return np.asarray(add_spectrum_noise(total, rng), dtype=float)

    def cell_saxs(self, q_per_nm: np.ndarray, exposure_s: float = 1.0,
                  rng: np.random.Generator | None = None, *,
                  mix: tuple[np.ndarray, list[CellCondition]] | None = None,
                  ) -> tuple[np.ndarray, np.ndarray]:
        """``(I, sigma)`` in cm^-1 of the flow cell's contents; noiseless when ``rng`` is None.

        ``mix`` as for :meth:`cell_spectrum`.
        """
        q = np.asarray(q_per_nm, dtype=float)
        exposure_s = finite("exposure_s", exposure_s, low=0.0, low_open=True, unit="s")
        weights, conditions = self.cell_conditions() if mix is None else mix
        intensity = np.zeros_like(q)
        for w, cond in zip(weights, conditions, strict=True):
            intensity += w * self._signals.curve(cond, self.geometry, q)
        i_out, sigma = saxs_counting_noise(intensity, q, exposure_s, rng)
        return np.asarray(i_out, dtype=float), np.asarray(sigma, dtype=float)

    # -- lookups -----------------------------------------------------------------------
    def _heater(self, zone: str) -> Heater:
        try:
            return self.heaters[zone]
        except KeyError:
            raise ValueError(f"unknown heater zone {zone!r}; allowed: {HEATER_ZONES}") from None

    def _pump(self, name: str) -> Pump:
        try:
            return self.pumps[name]
        except KeyError:
            raise ValueError(f"unknown pump {name!r}; allowed: {PUMP_NAMES}") from None
