"""The reactor in time: heaters that ramp and settle, pumps that empty, a flow cell.

:class:`ReactorWorld` is pure numpy. It never reads a clock: the caller moves it with
``advance(t_s)``. It never uses the global random state: noise comes from the
``numpy.random.Generator`` it is given.

The flow cell
-------------
Every bit of liquid is labelled by the cumulative pumped volume ``u`` at the moment it
entered the nucleation chamber. A label's reaction conditions follow from the history
as if the reactor were a plug-flow tube: it spent ``t(u + V_nuc) - t(u)`` in the chamber,
``t(u + V_r) - t(u + V_nuc)`` in the oven (``V_r = V_nuc + V_growth``), at the heater
readbacks at the middle of each passage. Dispersion mixes labels: when the cumulative
volume is ``V``, the cell holds labels ``u = V - v`` with ``v`` drawn from a tanks-in-series
residence-volume distribution of mean ``V_r + V_transfer``, truncated at three times its
mean. So a change of temperature or flow reaches the cell after about one residence
volume and is complete after three; the steady state is exactly the kinetics at the
nominal conditions. When nothing flows the cell contents freeze.

The signal is a weighted sum of the noiseless signals of the (rounded, cached)
conditions of the labels; noise is added once, to the sum.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from msc_bluesky.limits import PUMP_MAX_FLOW_ML_MIN, TEMPERATURE_LIMITS_C, check_temperature
from msc_bluesky.sim.geometry import ReactorGeometry
from msc_bluesky.sim.kinetics import KineticParameters, simulate_kinetics
from msc_bluesky.sim.optics import absorbance_spectrum, add_spectrum_noise
from msc_bluesky.sim.scattering import saxs_counting_noise, saxs_curve

#: Heater zones and pumps, in the order the IOCs list them.
HEATER_ZONES: tuple[str, ...] = ("nucleation", "growth")
PUMP_NAMES: tuple[str, ...] = ("cd", "se")

#: Default reservoir volume of each pump (mL).
DEFAULT_RESERVOIR_ML = 1000.0
#: Number of tanks in series of the residence-volume distribution (relative width
#: 1/sqrt(n) ≈ 0.29).
DEFAULT_DISPERSION_TANKS = 12
#: The residence-volume distribution is cut at this many mean residence volumes.
FLUSH_VOLUMES = 3.0
#: Liquid that sat in the reactor longer than this is treated as this old (s).
MAX_LABEL_REACTION_TIME_S = 600.0
#: Shortest reaction time handed to the kinetics (s): liquid that never saw the reactor.
MIN_LABEL_REACTION_TIME_S = 0.05
#: Conditions are rounded before the kinetics is run (°C, relative time).
TEMPERATURE_ROUNDING_C = 0.1
REACTION_TIME_SIGNIFICANT_DIGITS = 3

_EPS = 1e-9


class PumpError(RuntimeError):
    """A pump cannot do what was asked (for example start with an empty reservoir)."""


def _finite(name: str, value: float, *, low: float | None = None, high: float | None = None,
            unit: str = "", low_open: bool = False) -> float:
    """Return ``value`` as a finite float within the bounds, or raise ValueError."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} = {value!r} is not a number") from None
    lo_txt = "" if low is None else (f"> {low:g}" if low_open else f">= {low:g}")
    hi_txt = "" if high is None else f"<= {high:g}"
    allowed = " and ".join(t for t in (lo_txt, hi_txt) if t) or "finite"
    bad = not math.isfinite(v)
    if low is not None:
        bad = bad or (v <= low if low_open else v < low)
    if high is not None:
        bad = bad or v > high
    if bad:
        raise ValueError(f"{name} = {value!r} {unit}".rstrip() + f" is not allowed; it must be "
                         f"finite and {allowed} {unit}".rstrip())
    return v


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
        self.cooling_time_constant = _finite("cooling_time_constant", cooling_time_constant,
                                             low=0.0, low_open=True, unit="s")
        self._in_band_for = 0.0

    # -- configuration -------------------------------------------------------------
    @property
    def ramp_rate(self) -> float:
        """Ramp rate in °C/s (> 0)."""
        return self._ramp_rate

    @ramp_rate.setter
    def ramp_rate(self, value: float) -> None:
        self._ramp_rate = _finite(f"{self.name} ramp_rate", value, low=0.0, low_open=True,
                                  high=1000.0, unit="°C/s")

    @property
    def tolerance(self) -> float:
        """At-temperature tolerance in °C (>= 0)."""
        return self._tolerance

    @tolerance.setter
    def tolerance(self, value: float) -> None:
        self._tolerance = _finite(f"{self.name} tolerance", value, low=0.0, high=100.0,
                                  unit="°C")

    @property
    def settle_time(self) -> float:
        """Seconds within tolerance before ``at_temperature`` (>= 0)."""
        return self._settle_time

    @settle_time.setter
    def settle_time(self, value: float) -> None:
        self._settle_time = _finite(f"{self.name} settle_time", value, low=0.0, high=1e5,
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


class Pump:
    """A syringe/HPLC pump with a finite reservoir.

    ``flow`` (the readback, mL/min) equals the setpoint while running and 0 otherwise.
    When the reservoir runs empty the pump stops and ``dry`` is set until ``refill()``.
    """

    def __init__(self, name: str, *, max_flow: float = PUMP_MAX_FLOW_ML_MIN,
                 capacity_ml: float = DEFAULT_RESERVOIR_ML) -> None:
        self.name = name
        self.max_flow = _finite(f"pump {name} max_flow", max_flow, low=0.0, low_open=True,
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
        self._capacity = _finite(f"pump {self.name} capacity", value, low=0.0, low_open=True,
                                 high=1e6, unit="mL")

    @property
    def flow(self) -> float:
        """Flow readback in mL/min."""
        return self.setpoint if (self.running and not self.dry) else 0.0

    def set_setpoint(self, value: float) -> None:
        """Set the flow (mL/min), 0..max_flow; NaN/inf refused with ValueError."""
        self.setpoint = _finite(f"pump {self.name} flow setpoint", value, low=0.0,
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


@dataclass(frozen=True)
class CellCondition:
    """Rounded reaction conditions of one label of liquid (°C, °C, s)."""

    t_nuc: float
    t_growth: float
    reaction_time: float


@dataclass(frozen=True)
class CellContents:
    """What the flow cell holds: weights (summing to 1), conditions and compositions."""

    weights: tuple[float, ...]
    conditions: tuple[CellCondition, ...]
    compositions: tuple[Any, ...]

    @property
    def dominant(self) -> Any:
        """Composition with the largest weight."""
        return self.compositions[int(np.argmax(self.weights))]

    @property
    def temperature_c(self) -> float:
        """Weighted mean of the growth-oven temperatures the liquid left at (°C)."""
        return float(sum(w * c.t_growth for w, c in zip(self.weights, self.conditions,
                                                         strict=True)))

    @property
    def mixed(self) -> Any:
        """The mixture as one composition (``Composition.mix`` of the parts)."""
        return type(self.compositions[0]).mix(self.compositions, self.weights)

    @property
    def is_steady(self) -> bool:
        """True when the cell holds liquid of one condition only."""
        return len(self.conditions) == 1


class _LRU:
    """A small least-recently-used cache."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        if key in self._data:
            self._data.move_to_end(key)
            return self._data[key]
        value = make()
        self._data[key] = value
        if len(self._data) > self.maxsize:
            self._data.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._data)


def _round_time(t: float) -> float:
    t = min(max(t, MIN_LABEL_REACTION_TIME_S), MAX_LABEL_REACTION_TIME_S)
    digits = REACTION_TIME_SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(t))
    return float(round(float(t), digits))


def _round_temperature(t: float) -> float:
    low, high = TEMPERATURE_LIMITS_C
    t = min(max(float(t), low), high)
    return float(round(round(t / TEMPERATURE_ROUNDING_C) * TEMPERATURE_ROUNDING_C, 6))


def _array_key(a: np.ndarray) -> tuple:
    a = np.ascontiguousarray(a, dtype=float)
    return (a.shape, hash(a.tobytes()))


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
        self.ambient_c = _finite("ambient_c", ambient_c, low=-50.0, high=100.0, unit="°C")
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
        # History of (time, cumulative volume, T_nuc readback, T_growth readback).
        self._hist_t: list[float] = [self.time]
        self._hist_v: list[float] = [0.0]
        self._hist_tn: list[float] = [self.heaters["nucleation"].readback]
        self._hist_tg: list[float] = [self.heaters["growth"].readback]
        self._last_flow_time = self.time
        self._last_flow_ml_s = 0.0
        # Safety state.
        self._watchdog_timeout = 0.0
        self._last_heartbeat = self.time
        self.watchdog_tripped = False
        self.standby_reason = ""
        # Caches of kinetics and noiseless signals.
        self._compositions = _LRU(4096)
        self._spectra = _LRU(4096)
        self._curves = _LRU(4096)

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
        self._watchdog_timeout = _finite("watchdog_timeout", value, low=0.0, unit="s")
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
            self._last_flow_time = self.time
            self._last_flow_ml_s = q_ml_s
        if (self._watchdog_timeout > 0 and not self.watchdog_tripped
                and any(h.enabled for h in self.heaters.values())
                and self.time >= self._last_heartbeat + self._watchdog_timeout - 1e-9):
            self.standby("watchdog")
            self.watchdog_tripped = True
        self._record()

    def _record(self) -> None:
        v = self.volume_pumped
        tn = self.heaters["nucleation"].readback
        tg = self.heaters["growth"].readback
        # Keep only the two ends of a run without flow.
        if len(self._hist_v) >= 2 and self._hist_v[-1] == v and self._hist_v[-2] == v:
            self._hist_t[-1], self._hist_tn[-1], self._hist_tg[-1] = self.time, tn, tg
        else:
            self._hist_t.append(self.time)
            self._hist_v.append(v)
            self._hist_tn.append(tn)
            self._hist_tg.append(tg)
        self._prune()

    def _prune(self) -> None:
        keep_from = self.volume_pumped - FLUSH_VOLUMES * self.residence_volume_ml * 1.5
        n = int(np.searchsorted(np.asarray(self._hist_v), keep_from, side="left")) - 1
        if n > 0:
            del self._hist_t[:n], self._hist_v[:n], self._hist_tn[:n], self._hist_tg[:n]

    # -- the flow cell -----------------------------------------------------------------
    def _kernel(self) -> tuple[np.ndarray, np.ndarray]:
        """Residence volumes ``v`` (mL) and weights of the labels in the cell."""
        mean = self.residence_volume_ml
        n = self.dispersion_tanks
        bins = 48
        edges = np.linspace(0.0, FLUSH_VOLUMES * mean, bins + 1)
        v = 0.5 * (edges[1:] + edges[:-1])
        x = v / mean
        log_pdf = (n - 1) * np.log(x) - n * x
        w = np.exp(log_pdf - log_pdf.max())
        w /= w.sum()
        return v, w

    def cell_conditions(self) -> tuple[np.ndarray, list[CellCondition]]:
        """Weights and rounded conditions of every label now in the flow cell.

        Labels with the same rounded condition are merged.
        """
        g = self.geometry
        v_nuc = float(g.nucleation_volume_ml)
        v_r = self.reaction_volume_ml
        v_now = self.volume_pumped
        hist_t = np.asarray(self._hist_t)
        hist_v = np.asarray(self._hist_v) + 1e-10 * np.arange(len(self._hist_v))
        flowing = self.total_flow > 0
        t_ref = self.time if flowing else self._last_flow_time
        q_ref = self.total_flow / 60.0 if flowing else self._last_flow_ml_s

        def time_at_volume(vol: np.ndarray) -> np.ndarray:
            past = np.interp(vol, hist_v, hist_t)
            if q_ref > 0:
                future = t_ref + (vol - v_now) / q_ref
            else:
                future = np.full_like(vol, t_ref)
            return np.where(vol > v_now, future, np.minimum(past, t_ref))

        def temperature_at(times: np.ndarray, series: list[float]) -> np.ndarray:
            return np.interp(np.minimum(times, t_ref), hist_t, np.asarray(series))

        v, w = self._kernel()
        u = v_now - v
        t_in = time_at_volume(u)
        t_out = time_at_volume(u + v_r)
        t_mid_nuc = time_at_volume(u + 0.5 * v_nuc)
        t_mid_growth = time_at_volume(u + 0.5 * (v_nuc + v_r))
        t_nuc = temperature_at(t_mid_nuc, self._hist_tn)
        t_growth = temperature_at(t_mid_growth, self._hist_tg)
        merged: dict[CellCondition, float] = {}
        for i in range(len(v)):
            cond = CellCondition(_round_temperature(t_nuc[i]), _round_temperature(t_growth[i]),
                                 _round_time(t_out[i] - t_in[i]))
            merged[cond] = merged.get(cond, 0.0) + float(w[i])
        conditions = list(merged)
        weights = np.array([merged[c] for c in conditions])
        return weights / weights.sum(), conditions

    def _geometry_key(self) -> tuple[float, float, float]:
        g = self.geometry
        return (float(g.nucleation_volume_ml), float(g.growth_volume_ml),
                float(g.transfer_volume_ml))

    def composition_for(self, condition: CellCondition) -> Any:
        """The (cached) kinetics result for one rounded condition."""
        def make() -> Any:
            kwargs: dict[str, Any] = {"geometry": self.geometry}
            if self.kinetic_params is not None:
                kwargs["params"] = self.kinetic_params
            return simulate_kinetics(condition.t_nuc, condition.t_growth,
                                     condition.reaction_time, **kwargs)

        return self._compositions.get((condition, self._geometry_key()), make)

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
        wl_key = _array_key(wl)
        weights, conditions = self.cell_conditions() if mix is None else mix
        total = np.zeros_like(wl)
        for w, cond in zip(weights, conditions, strict=True):
            key = (cond, self._geometry_key(), wl_key, float(path_length_cm))
            spectrum = self._spectra.get(key, lambda c=cond: np.asarray(absorbance_spectrum(
                self.composition_for(c), wl, path_length_cm=path_length_cm), dtype=float))
            total += w * spectrum
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
        exposure_s = _finite("exposure_s", exposure_s, low=0.0, low_open=True, unit="s")
        q_key = _array_key(q)
        weights, conditions = self.cell_conditions() if mix is None else mix
        intensity = np.zeros_like(q)
        for w, cond in zip(weights, conditions, strict=True):
            key = (cond, self._geometry_key(), q_key)

            def make(c: CellCondition = cond) -> np.ndarray:
                i, _ = saxs_curve(self.composition_for(c), q, temperature_c=c.t_growth)
                return np.asarray(i, dtype=float)

            intensity += w * self._curves.get(key, make)
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
