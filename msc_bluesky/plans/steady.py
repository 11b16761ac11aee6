"""Steady state from the signal: wait until successive measurements stop drifting.

The fixed wait (``steady="fixed"``) flushes ``residence_volumes`` reactor + transfer
volumes after the heaters settle. The signal wait (``steady="signal"``) flushes
:data:`MIN_VOLUMES` volume, then takes a spectrum (and a SAXS curve, when SAXS is
measured) every :data:`STEP_VOLUMES` volume and stops as soon as two successive ones
agree within their noise; it never flushes more than ``residence_volumes``.

Drift criterion (:func:`drift_statistic`), for each measured curve ``y`` with noise
``σ`` (UV-Vis: the noise model of :mod:`msc_bluesky.analysis.spectral_noise`, fitted to
each spectrum's own point-to-point scatter; SAXS: the detector's ``intensity_sigma``):

- per point ``z = (y₂ − y₁) / sqrt(σ₁² + σ₂²)``, which is N(0, 1) when only noise differs;
- ``z`` summed over bins of :data:`BIN_POINTS` neighbouring points and divided by
  ``sqrt(n)``: still N(0, 1) for noise, but a smooth change (spectral features are
  tens of points wide) adds up;
- the curves agree when every bin has ``|z_bin| <= DRIFT_LIMIT`` (4) and the mean of
  ``z_bin²`` is at most ``1 + DRIFT_LIMIT·sqrt(2 / bins)`` (a broad change that stays
  under the limit in each bin).

Each measurement is taken while the next step is pumped (the wait ends when both are
done), so a step costs the longer of the two. Volumes are counted from the pumps'
``dispensed`` totals since the heaters were found settled (the flush's baseline,
``FlowReactor.flush.settled_total_ml``): when a measurement lasts longer than a step's
flow (short residence times, such as the nucleation series at 1.5 s), successive
measurements are simply further apart, and when the next comparison could only end
after the fixed count (predicted from the shortest step so far), the rest of it is
pumped at once. A :class:`SteadyPace` carries what a step cost from one condition of a
scan to the next (scaled by the flow); when, after two observed steps, two measurements
after :data:`MIN_VOLUMES` could not end before the fixed count, the condition takes the
fixed wait without measuring. The wait ends at the latest once the fixed count is
pumped, or, while the pace is not known, once the measurement running at that moment
is read.

Nothing of the simulator is read: only the detectors' data and the pumps' totals. The
rule that ended the wait is recorded in the event by the :class:`SteadyRecord` device:
``steady_rule`` (``"signal"`` or ``"max_volumes"``), ``steady_volumes`` (volumes
flushed after the temperatures settled) and ``steady_drift`` (the largest ``|z_bin|``
of the last comparison). After a wait the signal ended, the event's detector data are
the measurement that ended it (:class:`SteadyRecord` triggers the detectors only when
they do not hold it, :func:`trigger_and_read_steady`).
"""

from __future__ import annotations

import functools
import logging
import math
import operator
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import bluesky.plan_stubs as bps
import numpy as np
from bluesky.utils import Msg, short_uid
from ophyd import Component as Cpt
from ophyd import Device, Signal
from ophyd.status import StatusBase

from msc_bluesky.limits import ConditionError

logger = logging.getLogger(__name__)

#: Rules for the wait after the temperatures settle.
STEADY_RULES: tuple[str, ...] = ("fixed", "signal")
#: Residence volumes always flushed before the first comparison.
MIN_VOLUMES: float = 1.0
#: Residence volumes between successive measurements of the signal wait.
STEP_VOLUMES: float = 0.25
#: Neighbouring points summed into one bin of the drift test.
BIN_POINTS: int = 16
#: Largest accepted ``|z_bin|`` (standard deviations of the noise).
DRIFT_LIMIT: float = 4.0


def check_steady(name: str, value: Any) -> str:
    """Return ``value`` if it is one of :data:`STEADY_RULES`, else raise ConditionError."""
    if not isinstance(value, str) or value not in STEADY_RULES:
        raise ConditionError(
            f"{name} = {value!r} is not allowed; it must be one of {', '.join(STEADY_RULES)}"
        )
    return value


@dataclass(frozen=True)
class SteadyOutcome:
    """How a wait for steady state ended.

    Attributes
    ----------
    rule : str
        ``"signal"`` (successive measurements agreed) or ``"max_volumes"`` (the cap).
    volumes : float
        Residence volumes flushed after the temperatures settled.
    drift : float
        Largest ``|z_bin|`` of the last comparison (nan when none was made).
    checks : int
        Measurements taken for the comparisons.
    """

    rule: str
    volumes: float
    drift: float = math.nan
    checks: int = 0


class SteadyRecord(Device):
    """Soft device read in each event: how the wait before it ended.

    Data keys (device name ``steady``): ``steady_rule``, ``steady_volumes``,
    ``steady_drift``.

    It also triggers the event's detectors (:func:`trigger_and_read_steady`): after a
    wait the signal ended, the detectors still hold the measurement that ended it, taken
    at the condition after at least :data:`MIN_VOLUMES`; that measurement is the event's
    (no new acquisition). Otherwise (the cap ended the wait, or the measurement was
    already used once: a point re-taken after a pause or a suspension whose recovery
    did not end by the signal) the detectors acquire anew, so every event is a real
    reading taken after the wait before it.

    Parameters
    ----------
    detectors : sequence, optional
        The detectors the signal wait compares (:func:`signal_detectors`): triggered
        for the event unless they hold the measurement that ended the wait. Other
        detectors of the event are triggered as usual.
    """

    rule = Cpt(Signal, value="", kind="normal")
    volumes = Cpt(Signal, value=math.nan, kind="normal")
    drift = Cpt(Signal, value=math.nan, kind="normal")

    def __init__(self, *args: Any, detectors: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.detectors = list(detectors)
        self._measured = False
        #: Events that used the measurement ending the wait / that acquired anew.
        self.reused = 0
        self.acquired = 0

    def record(self, outcome: SteadyOutcome) -> None:
        """Hold ``outcome`` for the next read.

        With the rule ``"signal"`` the detectors hold the measurement that ended the
        wait: the next :meth:`trigger` uses it instead of acquiring.
        """
        self.rule.put(outcome.rule)
        self.volumes.put(float(outcome.volumes))
        self.drift.put(float(outcome.drift))
        self._measured = outcome.rule == "signal" and outcome.checks > 0

    def trigger(self) -> StatusBase:
        """Acquire with :attr:`detectors`, unless they hold the measurement ending the wait.

        That measurement is used once: a replayed trigger (resume after a pause or a
        suspension) acquires anew unless a recovery's wait ended by the signal again.
        """
        if self._measured or not self.detectors:
            self._measured = False
            self.reused += bool(self.detectors)
            status = StatusBase()
            status.set_finished()
            return status
        self.acquired += 1
        return functools.reduce(operator.and_, (det.trigger() for det in self.detectors))


def _binned(z: np.ndarray, points: int) -> np.ndarray:
    z = z[np.isfinite(z)]
    if z.size == 0:
        return z
    bins = max(1, z.size // points)
    used = z[: bins * points].reshape(bins, -1)
    return used.sum(axis=1) / math.sqrt(used.shape[1])


def drift_statistic(
    first: np.ndarray, second: np.ndarray, sigma_first: np.ndarray, sigma_second: np.ndarray,
    *, bin_points: int = BIN_POINTS,
) -> tuple[float, float]:
    """Largest ``|z_bin|`` and mean ``z_bin²`` of the change between two curves.

    Parameters
    ----------
    first, second : numpy.ndarray
        The same curve measured twice (same points).
    sigma_first, sigma_second : numpy.ndarray
        Their noise (standard deviation) at each point.
    bin_points : int
        Points per bin.

    Returns
    -------
    (float, float)
        ``max |z_bin|`` and ``mean z_bin²`` (``inf`` when the curves cannot be compared).
    """
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if a.shape != b.shape or a.size == 0:
        return math.inf, math.inf
    noise = np.sqrt(np.asarray(sigma_first, dtype=float) ** 2
                    + np.asarray(sigma_second, dtype=float) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(noise > 0, (b - a) / noise, np.nan)
    zb = _binned(z, int(bin_points))
    if zb.size == 0:
        return math.inf, math.inf
    return float(np.max(np.abs(zb))), float(np.mean(zb**2))


def agrees(max_z: float, mean_z2: float, bins: int, limit: float = DRIFT_LIMIT) -> bool:
    """The drift criterion: no bin beyond ``limit`` and no broad excess over the noise."""
    return max_z <= limit and mean_z2 <= 1.0 + limit * math.sqrt(2.0 / max(bins, 1))


def spectrum_sigma(absorbance: np.ndarray) -> np.ndarray:
    """Noise of an absorbance spectrum from its own scatter (spectral_noise model)."""
    from msc_bluesky.analysis.spectral_noise import noise_model, sigma_of

    y = np.asarray(absorbance, dtype=float)
    return sigma_of(y, noise_model(y))


@dataclass
class _Curve:
    name: str
    values: np.ndarray
    sigma: np.ndarray


def compare(previous: Sequence[_Curve], current: Sequence[_Curve]) -> tuple[bool, float]:
    """Whether every curve agrees with its previous measurement; and the largest |z_bin|."""
    steady, worst = True, 0.0
    for old, new in zip(previous, current, strict=True):
        max_z, mean_z2 = drift_statistic(old.values, new.values, old.sigma, new.sigma)
        bins = max(1, int(np.isfinite(new.values).sum()) // BIN_POINTS)
        worst = max(worst, max_z)
        steady = steady and agrees(max_z, mean_z2, bins)
        logger.debug("steady check %s: max |z_bin| %.2f, mean z_bin² %.2f (%d bins)",
                     new.name, max_z, mean_z2, bins)
    return steady, worst


def signal_detectors(detectors: Sequence[Any]) -> list[Any]:
    """The detectors the signal wait compares: UV-Vis spectrometers and SAXS detectors."""
    from msc_bluesky.devices.saxs import SAXSDetector
    from msc_bluesky.devices.uvvis import UVVisSpectrometer

    return [d for d in detectors if isinstance(d, UVVisSpectrometer | SAXSDetector)]


def _read_curves(detectors: Sequence[Any]) -> Generator[Msg, Any, list[_Curve]]:
    """Read the detectors' curves after a trigger (no event is emitted)."""
    from msc_bluesky.devices.uvvis import UVVisSpectrometer

    curves = []
    for det in detectors:
        if isinstance(det, UVVisSpectrometer):
            a = np.asarray((yield from bps.rd(det.absorbance)), dtype=float)
            curves.append(_Curve(det.name, a, spectrum_sigma(a)))
        else:
            i = np.asarray((yield from bps.rd(det.intensity)), dtype=float)
            s = np.asarray((yield from bps.rd(det.intensity_sigma)), dtype=float)
            curves.append(_Curve(det.name, i, s))
    return curves


def trigger_and_read_steady(
    readables: Sequence[Any], record: SteadyRecord, name: str = "primary",
) -> Generator[Msg, Any, dict]:
    """``bps.trigger_and_read(readables)``, with the detectors triggered by ``record``.

    The detectors in ``record.detectors`` are not triggered directly: ``record``'s
    trigger acquires with them only when they do not hold the measurement that ended
    the signal wait (:meth:`SteadyRecord.trigger`). The trigger is a message after the
    point's checkpoint, so a point replayed after a pause or a suspension decides again.
    Every readable is read into one event, as ``trigger_and_read`` does.

    Yields
    ------
    Msg

    Returns
    -------
    dict
        The readings.
    """
    from bluesky.preprocessors import contingency_wrapper

    skip = {id(d) for d in record.detectors}
    group = short_uid("trigger")
    for obj in readables:
        if id(obj) not in skip and hasattr(obj, "trigger"):
            yield from bps.trigger(obj, group=group)
    yield from bps.wait(group=group)
    yield from bps.create(name)

    def read_plan() -> Generator[Msg, Any, dict]:
        readings: dict = {}
        for obj in readables:
            reading = yield from bps.read(obj)
            if reading is not None:
                readings.update(reading)
        return readings

    def standard_path() -> Generator[Msg, Any, None]:
        yield from bps.save()

    def exception_path(exp: BaseException) -> Generator[Msg, Any, None]:
        yield from bps.drop()
        raise exp

    return (yield from contingency_wrapper(read_plan(), except_plan=exception_path,
                                           else_plan=standard_path))


@dataclass
class SteadyPace:
    """What a measurement step of the signal wait cost, remembered across the conditions
    of one scan.

    A step costs the longer of the flush of ``step_volumes`` and the measurement (the
    detectors' exposure and read-out, the round trips of the plan). The latter is a
    time, so its cost in volumes grows with the flow: ``volumes_per_flow`` is the
    smallest observed step (residence volumes) divided by the total flow (mL/min)
    it ran at, and :meth:`predict` scales it to another flow. One observation is not
    enough (the first measurement after a large change can be slow once, e.g. while a
    simulated IOC computes the new liquid's kinetics): :meth:`predict` needs
    :attr:`MIN_OBSERVATIONS`.
    """

    volumes_per_flow: float = math.inf
    observations: int = 0
    #: Steps observed before :meth:`predict` trusts the pace.
    MIN_OBSERVATIONS: ClassVar[int] = 2

    def observe(self, volumes: float, flow_ml_min: float) -> None:
        """Note that a step cost ``volumes`` at a total flow of ``flow_ml_min``."""
        if flow_ml_min > 0 and math.isfinite(volumes) and volumes > 0:
            self.volumes_per_flow = min(self.volumes_per_flow, volumes / flow_ml_min)
            self.observations += 1

    def predict(self, flow_ml_min: float) -> float:
        """Volumes one step is expected to cost at ``flow_ml_min`` (0 when unknown)."""
        if (self.observations < self.MIN_OBSERVATIONS
                or not math.isfinite(self.volumes_per_flow) or flow_ml_min <= 0):
            return 0.0
        return self.volumes_per_flow * flow_ml_min


def wait_for_signal(
    reactor: Any,
    detectors: Sequence[Any],
    *,
    one_volume_ml: float,
    max_volumes: float,
    min_volumes: float = MIN_VOLUMES,
    step_volumes: float = STEP_VOLUMES,
    pace: SteadyPace | None = None,
) -> Generator[Msg, Any, SteadyOutcome]:
    """Flush until successive measurements agree within their noise, at most ``max_volumes``.

    ``reactor.flush`` first waits for both heaters to settle, so every volume counted
    here is pumped at the new temperatures.

    Parameters
    ----------
    reactor : FlowReactor
    detectors : sequence
        Detectors compared (see :func:`signal_detectors`); none: the fixed wait.
    one_volume_ml : float
        One residence volume (reactor + transfer line), mL.
    max_volumes : float
        The cap: the fixed wait.
    min_volumes : float
        Flushed before the first measurement (at most ``max_volumes``).
    step_volumes : float
        Flushed from the start of one measurement to the start of the next.
    pace : SteadyPace, optional
        What steps cost at earlier conditions of the scan (updated here). When two
        measurements after ``min_volumes`` could not end before the cap, none is taken:
        the fixed wait (at short residence times, when the measurements take longer
        than the flow needs for several volumes).

    Yields
    ------
    Msg

    Returns
    -------
    SteadyOutcome
    """
    detectors = signal_detectors(detectors)
    first = min(min_volumes, max_volumes)
    pace = pace if pace is not None else SteadyPace()
    flow = yield from _flow(reactor)
    expected = max(step_volumes, pace.predict(flow))
    if not detectors or max_volumes - first < 2 * expected - 1e-9:
        yield from bps.mv(reactor.flush, max_volumes * one_volume_ml)
        volumes = yield from _volumes_since_settled(reactor, one_volume_ml, max_volumes)
        return SteadyOutcome("max_volumes", round(max(volumes, max_volumes), 3))
    yield from bps.mv(reactor.flush, first * one_volume_ml)
    # From here the pumps' totals count the volumes, from the moment the heaters were
    # found settled (the flush's baseline; the first flush ends on a PV update, which
    # may come a good part of a volume after ``first`` at short residence times). Each
    # measurement runs while the next step is pumped (both are waited for), so a step
    # costs the longer of the two.
    pumped = yield from _pumped(reactor)
    origin = _settled_origin(reactor, pumped)
    if origin is None:
        origin = pumped - first * one_volume_ml
    waited = (pumped - origin) / one_volume_ml
    previous: list[_Curve] | None = None
    checks, worst, shortest = 0, math.nan, math.inf
    while waited < max_volumes - 1e-9:
        step = min(step_volumes, max_volumes - waited)
        group = f"steady-{checks}-{id(detectors)}"
        for det in detectors:
            yield from bps.trigger(det, group=group)
        yield from bps.abs_set(reactor.flush, step * one_volume_ml, group=group)
        yield from bps.wait(group)
        current = yield from _read_curves(detectors)
        checks += 1
        before, waited = waited, ((yield from _pumped(reactor)) - origin) / one_volume_ml
        logger.debug("steady: measurement %d from %.3f to %.3f volumes", checks, before, waited)
        if step >= step_volumes - 1e-9:
            pace.observe(waited - before, flow)
        if previous is not None:
            steady, worst = compare(previous, current)
            logger.debug("steady: %.3f volumes flushed: %s", waited,
                         "steady" if steady else "drifting")
            if steady and waited < max_volumes:
                return SteadyOutcome("signal", round(waited, 3), worst, checks)
        previous = current
        # The shortest step so far predicts the next: one slow measurement (a stalled
        # process, the first signal of a new condition) does not give up the comparison.
        shortest = min(shortest, waited - before)
        if waited + shortest >= max_volumes and waited < max_volumes - 1e-9:
            # the next comparison would end after the cap: pump the rest at once
            yield from bps.mv(reactor.flush, (max_volumes - waited) * one_volume_ml)
            waited = max(max_volumes, ((yield from _pumped(reactor)) - origin) / one_volume_ml)
    return SteadyOutcome("max_volumes", round(waited, 3), worst, checks)


def _flow(reactor: Any) -> Generator[Msg, Any, float]:
    """Total flow (mL/min) of both pumps' readbacks."""
    total = 0.0
    for pump in (reactor.pump_cd, reactor.pump_se):
        total += float((yield from bps.rd(pump.readback)))
    return total


def _volumes_since_settled(reactor: Any, one_volume_ml: float,
                           default: float) -> Generator[Msg, Any, float]:
    """Residence volumes pumped since the last flush found the heaters settled."""
    pumped = yield from _pumped(reactor)
    origin = _settled_origin(reactor, pumped)
    if origin is None:
        return default
    return (pumped - origin) / one_volume_ml


def _settled_origin(reactor: Any, pumped: float) -> float | None:
    """Pumped total (mL) when the last flush found the heaters settled, if it is known."""
    origin = getattr(reactor.flush, "settled_total_ml", math.nan)
    if not math.isfinite(origin) or origin > pumped:
        return None
    return origin


def _pumped(reactor: Any) -> Generator[Msg, Any, float]:
    """Total volume (mL) both pumps have dispensed so far."""
    total = 0.0
    for pump in (reactor.pump_cd, reactor.pump_se):
        total += float((yield from bps.rd(pump.dispensed)))
    return total
