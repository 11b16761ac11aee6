"""The flow cell: which liquid it holds, from the reactor's flow and temperature history.

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

The labels are parcels of liquid at fixed places of the pumped volume (multiples of
``3 (V_r + V_transfer) / KERNEL_BINS``), weighted by the distribution at their distance
from the current volume (:func:`label_kernel`). A label keeps its conditions as the
liquid moves on, so successive measurements of a washout share their labels and the
kinetics of each label is simulated once: the signal of the next measurement costs only
the labels that entered since. (Sampling at fixed distances behind the current volume
would pick new points of a heater ramp at every measurement, each a new kinetics run:
tens to hundreds of ms per acquisition, during which the simulated liquid flows on.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from msc_bluesky.limits import TEMPERATURE_LIMITS_C
from msc_bluesky.sim.geometry import ReactorGeometry

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
#: Bins of the residence-volume distribution.
KERNEL_BINS = 48


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




def round_time(t: float) -> float:
    """Reaction time (s) clipped to the label limits and rounded to 3 significant digits."""
    t = min(max(t, MIN_LABEL_REACTION_TIME_S), MAX_LABEL_REACTION_TIME_S)
    digits = REACTION_TIME_SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(t))
    return float(round(float(t), digits))


def round_temperature(t: float) -> float:
    """Temperature (°C) clipped to the heater limits and rounded to 0.1 °C."""
    low, high = TEMPERATURE_LIMITS_C
    t = min(max(float(t), low), high)
    return float(round(round(t / TEMPERATURE_ROUNDING_C) * TEMPERATURE_ROUNDING_C, 6))


def label_kernel(volume_now: float, residence_volume_ml: float,
                 tanks: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels ``u`` (mL of pumped volume) in the flow cell and their weights (sum 1).

    The labels lie on a grid fixed in the pumped volume (``KERNEL_BINS`` steps per
    ``FLUSH_VOLUMES`` mean residence volumes); those within ``FLUSH_VOLUMES`` mean
    residence volumes behind ``volume_now`` are weighted by the tanks-in-series density
    at their distance ``volume_now - u``.
    """
    mean = float(residence_volume_ml)
    step = FLUSH_VOLUMES * mean / KERNEL_BINS
    top = FLUSH_VOLUMES * mean
    k_high = math.floor(volume_now / step + 1e-9)
    k_low = math.ceil((volume_now - top) / step - 1e-9)
    u = np.arange(k_low, k_high + 1, dtype=float) * step
    x = np.clip((volume_now - u) / mean, 1e-12, FLUSH_VOLUMES)
    log_pdf = (tanks - 1) * np.log(x) - tanks * x
    w = np.exp(log_pdf - log_pdf.max())
    return u, w / w.sum()


class FlowHistory:
    """What the reactor did: time, cumulative pumped volume and both heater readbacks.

    Only as much is kept as the flow cell can still hold (``FLUSH_VOLUMES`` residence
    volumes and a margin); a stretch without flow is kept as its two ends.
    """

    def __init__(self, time: float, t_nuc: float, t_growth: float) -> None:
        self.t: list[float] = [time]
        self.v: list[float] = [0.0]
        self.tn: list[float] = [t_nuc]
        self.tg: list[float] = [t_growth]
        self.last_flow_time = time
        self.last_flow_ml_s = 0.0

    def record(self, time: float, volume: float, t_nuc: float, t_growth: float,
               keep_volume_ml: float) -> None:
        """Append a point; forget what lies more than ``keep_volume_ml`` behind."""
        if len(self.v) >= 2 and self.v[-1] == volume and self.v[-2] == volume:
            self.t[-1], self.tn[-1], self.tg[-1] = time, t_nuc, t_growth
        else:
            self.t.append(time)
            self.v.append(volume)
            self.tn.append(t_nuc)
            self.tg.append(t_growth)
        n = int(np.searchsorted(np.asarray(self.v), volume - keep_volume_ml, side="left")) - 1
        if n > 0:
            del self.t[:n], self.v[:n], self.tn[:n], self.tg[:n]

    def flowed(self, time: float, flow_ml_s: float) -> None:
        """Note that liquid was pumped at ``flow_ml_s`` up to ``time``."""
        self.last_flow_time = time
        self.last_flow_ml_s = flow_ml_s

    def cell_conditions(self, *, geometry: ReactorGeometry, tanks: int, volume_now: float,
                        time_now: float, flow_ml_s: float, final_only: bool = False,
                        ) -> tuple[np.ndarray, list[CellCondition]]:
        """Weights and rounded conditions of every label now in the flow cell.

        ``flow_ml_s`` is the total flow now (0 when nothing flows: the contents freeze
        as they were when the flow stopped). Labels with the same rounded condition are
        merged. With ``final_only``, only the labels that have left the growth oven
        (whose conditions no longer change) are returned (possibly none).
        """
        v_nuc = float(geometry.nucleation_volume_ml)
        v_r = float(geometry.nucleation_volume_ml + geometry.growth_volume_ml)
        hist_t = np.asarray(self.t)
        hist_v = np.asarray(self.v) + 1e-10 * np.arange(len(self.v))
        flowing = flow_ml_s > 0
        t_ref = time_now if flowing else self.last_flow_time
        q_ref = flow_ml_s if flowing else self.last_flow_ml_s

        def time_at_volume(vol: np.ndarray) -> np.ndarray:
            past = np.interp(vol, hist_v, hist_t)
            if q_ref > 0:
                future = t_ref + (vol - volume_now) / q_ref
            else:
                future = np.full_like(vol, t_ref)
            return np.where(vol > volume_now, future, np.minimum(past, t_ref))

        def temperature_at(times: np.ndarray, series: list[float]) -> np.ndarray:
            return np.interp(np.minimum(times, t_ref), hist_t, np.asarray(series))

        u, w = label_kernel(volume_now, v_r + float(geometry.transfer_volume_ml), tanks)
        if final_only:
            keep = u + v_r <= volume_now
            u, w = u[keep], w[keep]
            if u.size == 0:
                return np.zeros(0), []
        t_in = time_at_volume(u)
        t_out = time_at_volume(u + v_r)
        t_nuc = temperature_at(time_at_volume(u + 0.5 * v_nuc), self.tn)
        t_growth = temperature_at(time_at_volume(u + 0.5 * (v_nuc + v_r)), self.tg)
        merged: dict[CellCondition, float] = {}
        for i in range(len(u)):
            cond = CellCondition(round_temperature(t_nuc[i]), round_temperature(t_growth[i]),
                                 round_time(t_out[i] - t_in[i]))
            merged[cond] = merged.get(cond, 0.0) + float(w[i])
        conditions = list(merged)
        weights = np.array([merged[c] for c in conditions])
        return weights / weights.sum(), conditions
