"""Condition scans of the flow reactor: one run, one event per condition.

:func:`condition_scan` is the general primitive; the others build its condition list:
:func:`temperature_grid` (paper Fig. 1), :func:`reaction_time_series`,
:func:`nucleation_series` (paper Fig. 2, SAXS) and :func:`precursor_blank` (Fig. 3).

Per condition: checkpoint; set both heaters and the reaction time together; equilibrate
(settled temperatures, N flushed residence volumes, optional drift check); install the
process suspenders; checkpoint; trigger and read detectors + reactor (never with the
heaters in standby, e.g. when a long pause put them there; with ``steady="signal"`` a
wait ended by the signal gives its last measurement as the event, see
:class:`~msc_bluesky.plans.steady.SteadyRecord`); remove the suspenders.
Everything is validated before the first movement, and the whole run is wrapped so
that heaters go to standby and pumps stop on every exit.

Every wait (settle, flush, acquisition, recovery) is watched by a
:class:`~msc_bluesky.plans.watch.ReactorWatch`: a lost or frozen IOC, a pump running
dry or the IOC's watchdog/interlock tripping ends the run within seconds with
``exit_status`` ``fail`` and a reason naming the device and the cause.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping, Sequence
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import Msg

from msc_bluesky.condition_keys import condition_search_keys
from msc_bluesky.devices.reactor import FlowReactor
from msc_bluesky.devices.uvvis import UVVisSpectrometer
from msc_bluesky.limits import TEMPERATURE_LIMITS_C, ConditionError, check_temperature
from msc_bluesky.plans.calibration import take_dark_and_reference
from msc_bluesky.plans.connection import wait_for_connection
from msc_bluesky.plans.equilibrate import equilibrate
from msc_bluesky.plans.progress import ConditionProgress
from msc_bluesky.plans.reasons import run_decorator_with_reasons
from msc_bluesky.plans.safety import reactor_safety_wrapper
from msc_bluesky.plans.steady import (
    SteadyPace,
    SteadyRecord,
    check_steady,
    signal_detectors,
    trigger_and_read_steady,
    wait_for_signal,
)
from msc_bluesky.plans.suspenders import (
    RECOVERY_TIMEOUT_S,
    TEMPERATURE_BAND_C,
    reactor_suspenders,
)
from msc_bluesky.plans.validation import (
    check_flows,
    check_positive,
    normalise_conditions,
    read_reactor_configuration,
)
from msc_bluesky.plans.watch import ReactorWatch, watching

PlanGenerator = Generator[Msg, Any, str]

_DATA_KEYS = {
    "t_nuc": "reactor_t_nuc",
    "t_growth": "reactor_t_growth",
    "reaction_time": "reactor_reaction_time",
}


def _dimensions(conditions: list[dict[str, float]]) -> list[tuple[list[str], str]]:
    varying = [k for k in _DATA_KEYS if len({c[k] for c in conditions}) > 1]
    if not varying:
        return [(["time"], "primary")]
    return [([_DATA_KEYS[k]], "primary") for k in varying]


def _device_repr(obj: Any) -> str:
    return repr(obj)


def condition_scan(
    detectors: Sequence[Any],
    reactor: FlowReactor,
    conditions: Iterable[Mapping[str, float]],
    *,
    residence_volumes: float = 3,
    steady: str = "fixed",
    drift_tolerance: float | None = None,
    temperature_band: float = TEMPERATURE_BAND_C,
    recovery_timeout: float = RECOVERY_TIMEOUT_S,
    suspend: bool = True,
    take_references: bool = False,
    progress: bool | None = None,
    md: dict[str, Any] | None = None,
) -> PlanGenerator:
    """Measure the detectors at each reactor condition: one run, one event per condition.

    Parameters
    ----------
    detectors : list of readable devices
        E.g. ``[uvvis, saxs]``; read together with ``reactor`` in every event.
    reactor : FlowReactor
    conditions : list of dict
        Each ``{"t_nuc": °C, "t_growth": °C, "reaction_time": s}``.
    residence_volumes : float
        Reactor + transfer volumes flushed after the temperatures settle (default 3);
        with ``steady="signal"`` the most that is flushed.
    steady : str
        ``"fixed"`` (default): flush ``residence_volumes``. ``"signal"``: flush at
        least one volume, then stop as soon as successive spectra (and SAXS curves)
        agree within their noise (:mod:`msc_bluesky.plans.steady`); each event then
        records ``steady_rule`` (``"signal"`` or ``"max_volumes"``),
        ``steady_volumes`` and ``steady_drift``.
    drift_tolerance : float, optional
        With a UV-Vis spectrometer among the detectors, also wait until the RMS
        absorbance change between spectra one volume apart is below this.
    temperature_band : float
        Half-width (°C) of the band around each setpoint watched by the suspenders.
    recovery_timeout : float
        Wall-clock seconds a suspension may last before the run ends safely.
    suspend : bool
        Install the process suspenders during acquisition (default True).
    take_references : bool
        Record dark and reference spectra (streams ``dark``/``reference``) first.
    progress : bool or None
        Progress bar per condition; ``None``: only when stderr is a terminal.
    md : dict, optional
        Extra start metadata.

    Yields
    ------
    Msg

    Returns
    -------
    str
        The run's start uid.

    Raises
    ------
    ConditionError
        Before anything moves: an empty list, temperatures outside
        :data:`~msc_bluesky.limits.TEMPERATURE_LIMITS_C`, non-finite or non-positive
        times, flows above the pumps' maxima.

    See Also
    --------
    temperature_grid, reaction_time_series, nucleation_series, precursor_blank
    """
    detectors = list(detectors)
    conds = normalise_conditions(conditions)
    residence_volumes = check_positive("residence_volumes", residence_volumes, allow_zero=True)
    steady = check_steady("steady", steady)
    temperature_band = check_positive("temperature_band", temperature_band)
    recovery_timeout = check_positive("recovery_timeout", recovery_timeout)
    if drift_tolerance is not None:
        drift_tolerance = check_positive("drift_tolerance", drift_tolerance)
        if steady == "signal":
            raise ConditionError(
                "drift_tolerance is the drift check of steady='fixed'; with steady='signal' "
                "the noise sets the tolerance: give one or the other"
            )
    yield from wait_for_connection([reactor, *detectors])
    config = yield from read_reactor_configuration(reactor)
    check_flows(conds, config)
    spectrometer = next((d for d in detectors if isinstance(d, UVVisSpectrometer)), None)

    _md: dict[str, Any] = {
        "detectors": [d.name for d in detectors],
        "reactor": reactor.name,
        "plan_name": "condition_scan",
        "plan_args": {
            "detectors": [_device_repr(d) for d in detectors],
            "reactor": _device_repr(reactor),
            "conditions": conds,
            "residence_volumes": residence_volumes,
            "steady": steady,
            "drift_tolerance": drift_tolerance,
            "temperature_band": temperature_band,
            "recovery_timeout": recovery_timeout,
            "suspend": suspend,
            "take_references": take_references,
        },
        "reactor_geometry": config.geometry(),
        "conditions": conds,
        **condition_search_keys(conds),  # flat keys: Key("t_nuc") == 280 finds the run
        "num_points": len(conds),
        "hints": {"dimensions": _dimensions(conds)},
    }
    _md.update(md or {})
    bar = ConditionProgress(len(conds), str(_md["plan_name"]), progress)
    watch = ReactorWatch(reactor)
    # with the signal wait, the measurement that ended it is the event's (SteadyRecord)
    # (the detectors it compares; any other detector is triggered for every event)
    record = (SteadyRecord(name="steady", detectors=signal_detectors(detectors))
              if steady == "signal" else None)
    pace = SteadyPace()  # what a step of the signal wait costs, learnt from condition to condition
    readables = [*detectors, reactor] + ([record] if record is not None else [])

    def set_condition(cond: dict[str, float]) -> Generator[Msg, Any, Any]:
        return (
            yield from watching(
                bps.mv(
                    reactor.t_nuc, cond["t_nuc"],
                    reactor.t_growth, cond["t_growth"],
                    reactor.reaction_time, cond["reaction_time"],
                ),
                watch, "settle",
            )
        )

    def settle_and_flush() -> Generator[Msg, Any, Any]:
        if record is not None:
            outcome = yield from watching(
                wait_for_signal(reactor, detectors, one_volume_ml=config.residence_volume_ml,
                                max_volumes=residence_volumes, pace=pace),
                watch, "flush",
            )
            record.record(outcome)
            return True
        return (
            yield from watching(
                equilibrate(
                    reactor,
                    residence_volumes=residence_volumes,
                    spectrometer=spectrometer if drift_tolerance is not None else None,
                    drift_tolerance=drift_tolerance,
                    configuration=config,
                ),
                watch, "flush",
            )
        )

    def recover(cond: dict[str, float]) -> Generator[Msg, Any, Any]:
        yield from set_condition(cond)
        return (yield from settle_and_flush())

    def measure() -> Generator[Msg, Any, Any]:
        # The watch starts after the checkpoint, so a re-taken point is watched too.
        yield from bps.checkpoint()
        # needs_heat: a point re-taken with the heaters in standby (a resume after a long
        # pause) fails instead of measuring an unsettled reactor
        read = (bps.trigger_and_read(readables) if record is None
                else trigger_and_read_steady(readables, record))
        return (
            yield from watching(read, watch, "acquisition", pumps=not suspend, needs_heat=True)
        )

    def one_condition(cond: dict[str, float]) -> Generator[Msg, Any, None]:
        bar.start(cond)
        yield from bps.checkpoint()
        yield from set_condition(cond)
        yield from settle_and_flush()
        if suspend:
            suspenders = reactor_suspenders(
                reactor, cond, band=temperature_band, recovery_timeout=recovery_timeout,
                post_plan=lambda: recover(cond), watch=watch,
            )
            yield from bpp.suspend_wrapper(measure(), suspenders)
        else:
            yield from measure()
        bar.done()

    @bpp.stage_decorator(detectors)
    @run_decorator_with_reasons(md=_md)
    def scan() -> Generator[Msg, Any, None]:
        if take_references and spectrometer is not None:
            yield from watching(take_dark_and_reference(spectrometer), watch, "calibration",
                                pumps=False, heaters=False)
        for cond in conds:
            yield from one_condition(cond)

    try:
        return (yield from reactor_safety_wrapper(scan(), reactor, watch=watch))
    finally:
        watch.close()
        bar.close()



def temperature_grid(
    detectors: Sequence[Any],
    reactor: FlowReactor,
    nucleation_temperatures: Sequence[float],
    reaction_time: float,
    *,
    growth_steps: int = 10,
    growth_step: float = 10.0,
    residence_volumes: float = 3,
    steady: str = "fixed",
    drift_tolerance: float | None = None,
    temperature_band: float = TEMPERATURE_BAND_C,
    recovery_timeout: float = RECOVERY_TIMEOUT_S,
    suspend: bool = True,
    take_references: bool = False,
    progress: bool | None = None,
    md: dict[str, Any] | None = None,
) -> PlanGenerator:
    """Paper Fig. 1: for each T_nuc, growth temperatures from T_nuc downwards in steps.

    Conditions ``(T_nuc, T_nuc - k·growth_step, reaction_time)`` for
    ``k = 0 … growth_steps-1``. If any growth temperature would fall outside
    :data:`~msc_bluesky.limits.TEMPERATURE_LIMITS_C`, the plan refuses (nothing is
    skipped silently). Other options as :func:`condition_scan`.

    Examples
    --------
    >>> RE(temperature_grid([uvvis, saxs], reactor, [260, 280, 300], 14.0))  # doctest: +SKIP
    """
    steps = int(check_positive("growth_steps", growth_steps))
    if steps != growth_steps:
        raise ConditionError(f"growth_steps = {growth_steps!r} must be a whole number >= 1")
    step = check_positive("growth_step", growth_step)
    t_nucs = _temperatures("nucleation_temperatures", nucleation_temperatures)
    low, high = TEMPERATURE_LIMITS_C
    conditions = []
    for t_nuc in t_nucs:
        for k in range(steps):
            t_growth = t_nuc - k * step
            if t_growth < low:
                raise ConditionError(
                    f"temperature_grid: growth temperature {t_growth:g} °C (T_nuc {t_nuc:g} °C "
                    f"- {k} × {step:g} °C) is outside the allowed range {low:g}–{high:g} °C; "
                    "use fewer growth_steps or a smaller growth_step"
                )
            conditions.append(
                {"t_nuc": t_nuc, "t_growth": t_growth, "reaction_time": reaction_time}
            )
    _md = _plan_md(
        "temperature_grid", detectors, reactor,
        {"nucleation_temperatures": t_nucs, "reaction_time": reaction_time,
         "growth_steps": steps, "growth_step": step, "residence_volumes": residence_volumes,
         "steady": steady},
        ("reactor_t_nuc", "reactor_t_growth"), md,
    )
    return (
        yield from condition_scan(
            detectors, reactor, conditions,
            residence_volumes=residence_volumes, steady=steady, drift_tolerance=drift_tolerance,
            temperature_band=temperature_band, recovery_timeout=recovery_timeout,
            suspend=suspend, take_references=take_references, progress=progress,
            md=_md,
        )
    )


def reaction_time_series(
    detectors: Sequence[Any],
    reactor: FlowReactor,
    t_nuc: float,
    t_growth: float,
    reaction_times: Sequence[float],
    *,
    residence_volumes: float = 3,
    steady: str = "fixed",
    drift_tolerance: float | None = None,
    temperature_band: float = TEMPERATURE_BAND_C,
    recovery_timeout: float = RECOVERY_TIMEOUT_S,
    suspend: bool = True,
    take_references: bool = False,
    progress: bool | None = None,
    md: dict[str, Any] | None = None,
) -> PlanGenerator:
    """Fixed temperatures, several reaction times (set by the pump flows).

    Examples
    --------
    >>> RE(reaction_time_series([uvvis, saxs], reactor, 280, 280, [4.5, 7.6, 14]))  # doctest: +SKIP
    """
    times = _sequence("reaction_times", reaction_times)
    conditions = [{"t_nuc": t_nuc, "t_growth": t_growth, "reaction_time": t} for t in times]
    _md = _plan_md(
        "reaction_time_series", detectors, reactor,
        {"t_nuc": t_nuc, "t_growth": t_growth, "reaction_times": times,
         "residence_volumes": residence_volumes, "steady": steady},
        ("reactor_reaction_time",), md,
    )
    return (
        yield from condition_scan(
            detectors, reactor, conditions,
            residence_volumes=residence_volumes, steady=steady, drift_tolerance=drift_tolerance,
            temperature_band=temperature_band, recovery_timeout=recovery_timeout,
            suspend=suspend, take_references=take_references, progress=progress, md=_md,
        )
    )


def nucleation_series(
    detectors: Sequence[Any],
    reactor: FlowReactor,
    nucleation_temperatures: Sequence[float],
    t_growth: float,
    reaction_time: float,
    *,
    residence_volumes: float = 3,
    steady: str = "fixed",
    drift_tolerance: float | None = None,
    temperature_band: float = TEMPERATURE_BAND_C,
    recovery_timeout: float = RECOVERY_TIMEOUT_S,
    suspend: bool = True,
    take_references: bool = False,
    progress: bool | None = None,
    md: dict[str, Any] | None = None,
) -> PlanGenerator:
    """Paper Fig. 2 (SAXS): T_nuc varied at fixed T_growth and reaction time.

    Examples
    --------
    >>> RE(nucleation_series([saxs], reactor, range(190, 290, 10), 230, 1.5))  # doctest: +SKIP
    """
    t_nucs = _temperatures("nucleation_temperatures", nucleation_temperatures)
    conditions = [
        {"t_nuc": t, "t_growth": t_growth, "reaction_time": reaction_time} for t in t_nucs
    ]
    _md = _plan_md(
        "nucleation_series", detectors, reactor,
        {"nucleation_temperatures": t_nucs, "t_growth": t_growth,
         "reaction_time": reaction_time, "residence_volumes": residence_volumes,
         "steady": steady},
        ("reactor_t_nuc",), md,
    )
    return (
        yield from condition_scan(
            detectors, reactor, conditions,
            residence_volumes=residence_volumes, steady=steady, drift_tolerance=drift_tolerance,
            temperature_band=temperature_band, recovery_timeout=recovery_timeout,
            suspend=suspend, take_references=take_references, progress=progress, md=_md,
        )
    )


def precursor_blank(
    detectors: Sequence[Any],
    reactor: FlowReactor,
    temperatures: Sequence[float],
    *,
    reaction_time: float = 1.5,
    residence_volumes: float = 3,
    steady: str = "fixed",
    temperature_band: float = TEMPERATURE_BAND_C,
    recovery_timeout: float = RECOVERY_TIMEOUT_S,
    suspend: bool = True,
    take_references: bool = False,
    progress: bool | None = None,
    md: dict[str, Any] | None = None,
) -> PlanGenerator:
    """Paper Fig. 3: the unreacted precursor (mesophase) at several temperatures.

    Both zones at the same temperature (``T_nuc = T_growth = T``).

    Examples
    --------
    >>> RE(precursor_blank([saxs], reactor, [25, 50, 100]))  # doctest: +SKIP
    """
    temps = _temperatures("temperatures", temperatures)
    conditions = [{"t_nuc": t, "t_growth": t, "reaction_time": reaction_time} for t in temps]
    _md = _plan_md(
        "precursor_blank", detectors, reactor,
        {"temperatures": temps, "reaction_time": reaction_time,
         "residence_volumes": residence_volumes, "steady": steady},
        ("reactor_t_nuc",), md,
    )
    return (
        yield from condition_scan(
            detectors, reactor, conditions,
            residence_volumes=residence_volumes, steady=steady,
            temperature_band=temperature_band, recovery_timeout=recovery_timeout, suspend=suspend,
            take_references=take_references, progress=progress, md=_md,
        )
    )


def _plan_md(
    plan_name: str,
    detectors: Sequence[Any],
    reactor: Any,
    plan_args: dict[str, Any],
    dimensions: Sequence[str],
    md: dict[str, Any] | None,
) -> dict[str, Any]:
    """Start metadata of a plan built on :func:`condition_scan`, updated by ``md``."""
    _md: dict[str, Any] = {
        "plan_name": plan_name,
        "plan_args": {
            "detectors": [_device_repr(d) for d in detectors],
            "reactor": _device_repr(reactor),
            **plan_args,
        },
        "hints": {"dimensions": [([key], "primary") for key in dimensions]},
    }
    _md.update(md or {})
    return _md


def _sequence(name: str, values: Any) -> list[Any]:
    if isinstance(values, str | bytes | Mapping):
        raise ConditionError(f"{name} must be a list of numbers, got {values!r}")
    try:
        items = list(values)
    except TypeError:
        raise ConditionError(f"{name} must be a list of numbers, got {values!r}") from None
    if not items:
        raise ConditionError(f"{name} is empty; give at least one value")
    return items


def _temperatures(name: str, values: Any) -> list[float]:
    items = _sequence(name, values)
    return [check_temperature(f"{name}[{i}]", v) for i, v in enumerate(items)]
