"""Check a plan's request before anything moves.

Conditions are plain mappings ``{"t_nuc": °C, "t_growth": °C, "reaction_time": s}`` so
that queue-server submissions stay JSON. Temperatures and times are checked with
:mod:`msc_bluesky.limits`; flows against the pumps' maximum flow and the reactor
geometry, which :func:`read_reactor_configuration` reads from the IOC with ``bps.rd``.
"""

from __future__ import annotations

import difflib
import inspect
import math
import types
from collections import abc
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin, get_type_hints

import bluesky.plan_stubs as bps
from bluesky.utils import Msg

from msc_bluesky.devices.reactor import (
    FlowReactor,
    flows_for_reaction_time,
    reaction_time_range,
)
from msc_bluesky.limits import (
    ConditionError,
    check_reaction_time,
    check_temperature,
    is_number,
)
from msc_bluesky.plans.steady import check_steady

#: Keys of one condition, in order.
CONDITION_KEYS: tuple[str, ...] = ("t_nuc", "t_growth", "reaction_time")


@dataclass(frozen=True)
class ReactorConfiguration:
    """Geometry and pump limits of the reactor, as read from the IOC.

    Attributes
    ----------
    volume_nuc_ml, volume_growth_ml, volume_transfer_ml : float
        Nucleation chamber, growth oven and transfer line volumes (mL).
    max_flow_cd, max_flow_se : float
        Pump maxima (mL/min).
    flow_ratio : float
        Cd:Se flow ratio kept when setting a reaction time.
    """

    volume_nuc_ml: float
    volume_growth_ml: float
    volume_transfer_ml: float
    max_flow_cd: float
    max_flow_se: float
    flow_ratio: float = 1.0

    @property
    def reaction_volume_ml(self) -> float:
        """Nucleation chamber plus growth oven (mL)."""
        return self.volume_nuc_ml + self.volume_growth_ml

    @property
    def residence_volume_ml(self) -> float:
        """Volume from the reactor inlet to the flow cells (mL): one flush."""
        return self.reaction_volume_ml + self.volume_transfer_ml

    @property
    def shortest_reaction_time_s(self) -> float:
        """Shortest reaction time the pumps can reach (s)."""
        return reaction_time_range(
            self.reaction_volume_ml, self.max_flow_cd, self.max_flow_se, self.flow_ratio
        )

    def geometry(self) -> dict[str, float]:
        """The ``reactor_geometry`` start metadata (keys of ``sim.ReactorGeometry``)."""
        return {
            "nucleation_volume_ml": self.volume_nuc_ml,
            "growth_volume_ml": self.volume_growth_ml,
            "transfer_volume_ml": self.volume_transfer_ml,
        }


def read_reactor_configuration(
    reactor: FlowReactor,
) -> Generator[Msg, Any, ReactorConfiguration]:
    """Read geometry, pump maxima and flow ratio with ``bps.rd`` (no movement).

    Returns
    -------
    ReactorConfiguration
    """
    values = []
    for signal in (
        reactor.volume_nuc,
        reactor.volume_growth,
        reactor.volume_transfer,
        reactor.pump_cd.max_flow,
        reactor.pump_se.max_flow,
        reactor.flow_ratio,
    ):
        value = yield from bps.rd(signal)
        values.append(float(value))
    config = ReactorConfiguration(*values)
    for name, value in zip(
        ("volume_nuc", "volume_growth", "volume_transfer", "pump_cd max_flow",
         "pump_se max_flow", "flow_ratio"),
        values,
        strict=True,
    ):
        if not (math.isfinite(value) and value >= 0):
            raise ConditionError(f"reactor {name} = {value!r} read from the IOC is not usable")
    if config.reaction_volume_ml <= 0 or config.flow_ratio <= 0:
        raise ConditionError(
            f"reactor volume {config.reaction_volume_ml!r} mL and flow ratio "
            f"{config.flow_ratio!r} must be > 0"
        )
    return config


def normalise_condition(condition: Any, where: str = "condition") -> dict[str, float]:
    """Check one condition mapping and return it with float values.

    Parameters
    ----------
    condition : mapping
        ``{"t_nuc": °C, "t_growth": °C, "reaction_time": s}``.
    where : str
        How to name the condition in error messages (e.g. ``"conditions[3]"``).

    Raises
    ------
    ConditionError
        Not a mapping, missing or unknown keys, temperatures outside
        :data:`~msc_bluesky.limits.TEMPERATURE_LIMITS_C`, a non-positive or non-finite
        reaction time.
    """
    if not isinstance(condition, Mapping):
        raise ConditionError(
            f"{where} = {condition!r} is not a mapping; expected keys {list(CONDITION_KEYS)}"
        )
    missing = [k for k in CONDITION_KEYS if k not in condition]
    unknown = [k for k in condition if k not in CONDITION_KEYS]
    if missing or unknown:
        raise ConditionError(
            f"{where} has missing keys {missing} / unknown keys {unknown}; "
            f"expected exactly {list(CONDITION_KEYS)}"
        )
    return {
        "t_nuc": check_temperature(f"{where}.t_nuc", condition["t_nuc"]),
        "t_growth": check_temperature(f"{where}.t_growth", condition["t_growth"]),
        "reaction_time": check_reaction_time(
            condition["reaction_time"], f"{where}.reaction_time"
        ),
    }


def normalise_conditions(conditions: Iterable[Mapping[str, float]]) -> list[dict[str, float]]:
    """Check a list of conditions (see :func:`normalise_condition`); refuse an empty list."""
    if isinstance(conditions, Mapping) or isinstance(conditions, str | bytes):
        raise ConditionError(
            "conditions must be a list of mappings {t_nuc, t_growth, reaction_time}, "
            f"got {type(conditions).__name__}"
        )
    try:
        items = list(conditions)
    except TypeError:
        raise ConditionError(
            f"conditions must be a list of mappings, got {type(conditions).__name__}"
        ) from None
    if not items:
        raise ConditionError(
            "conditions is empty; give at least one {t_nuc, t_growth, reaction_time}"
        )
    return [normalise_condition(c, f"conditions[{i}]") for i, c in enumerate(items)]


def check_flows(conditions: list[dict[str, float]], config: ReactorConfiguration) -> None:
    """Refuse reaction times whose flows the pumps cannot reach.

    Raises
    ------
    ConditionError
        Naming the condition, the flows it needs, the pump maxima and the reachable
        range of reaction times.
    """
    shortest = config.shortest_reaction_time_s
    for i, condition in enumerate(conditions):
        q_cd, q_se = flows_for_reaction_time(
            condition["reaction_time"], config.reaction_volume_ml, config.flow_ratio
        )
        if q_cd > config.max_flow_cd * (1 + 1e-9) or q_se > config.max_flow_se * (1 + 1e-9):
            raise ConditionError(
                f"conditions[{i}].reaction_time = {condition['reaction_time']:g} s needs "
                f"flows Cd {q_cd:.3g} / Se {q_se:.3g} mL/min, above the pump maxima "
                f"({config.max_flow_cd:g} / {config.max_flow_se:g} mL/min); with a reactor "
                f"volume of {config.reaction_volume_ml:g} mL the allowed reaction times "
                f"are >= {shortest:.3g} s"
            )


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """Return ``value`` as float if it is a finite number > 0 (or >= 0 with ``allow_zero``).

    Booleans and strings are refused, not converted (``True`` is not 1 s).
    """
    bound = ">= 0" if allow_zero else "> 0"
    if not is_number(value):
        raise ConditionError(
            f"{name} = {value!r} ({type(value).__name__}) is not a number; "
            f"it must be finite and {bound}"
        )
    v = float(value)
    ok = math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        raise ConditionError(f"{name} = {value!r} is not allowed; it must be finite and {bound}")
    return v


def check_count(name: str, value: Any) -> int:
    """Return ``value`` if it is a whole number >= 1 (not a bool, string or 2.5)."""
    if not is_number(value) or not float(value).is_integer() or value < 1:
        raise ConditionError(f"{name} = {value!r} is not allowed; it must be a whole number >= 1")
    return int(value)


#: Range checks of plan options, by parameter name (all plans use the same names).
OPTION_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "residence_volumes": lambda n, v: check_positive(n, v, allow_zero=True),
    "temperature_band": check_positive,
    "recovery_timeout": check_positive,
    "growth_step": check_positive,
    "growth_steps": check_count,
    "drift_tolerance": lambda n, v: None if v is None else check_positive(n, v),
    "steady": check_steady,
}

#: Parameters a caller of :func:`check_arguments` supplies itself (devices, metadata).
SUPPLIED_PARAMETERS: tuple[str, ...] = ("detectors", "reactor", "md")


def _describe(hint: Any) -> str:
    origin, args = get_origin(hint), get_args(hint)
    if hint is type(None):
        return "null"
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin in (list, tuple, abc.Sequence, abc.Iterable):
        return f"a list of {_describe(args[0]).removeprefix('a ')}s" if args else "a list"
    if origin in (dict, abc.Mapping):
        return "a mapping"
    return {float: "a number", int: "a whole number", bool: "true or false",
            str: "a string"}.get(hint, str(hint))  # fmt: skip


def _matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` (from JSON/YAML) has the type ``hint`` names; unknown hints pass."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if origin in (Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if hint is float:
        return is_number(value)
    if hint is int:
        return is_number(value) and float(value).is_integer()
    if hint is bool:
        return isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple, abc.Sequence, abc.Iterable):
        if not isinstance(value, list | tuple):
            return False
        return not args or all(_matches(v, args[0]) for v in value)
    if origin in (dict, abc.Mapping):
        return isinstance(value, Mapping)  # contents: the plan's own checks
    return True


def check_arguments(plan: Callable, kwargs: Mapping[str, Any]) -> None:
    """Check a plan call's arguments by name, type and range, before anything runs.

    Names must be parameters of ``plan`` (other than :data:`SUPPLIED_PARAMETERS`) and
    every required one must be given; values must have the type of the plan's hint
    (numbers are numbers: booleans and strings are refused); options named in
    :data:`OPTION_CHECKS` must be in range. Conditions (temperatures, times, flows)
    are checked by :func:`normalise_conditions` and :func:`check_flows`.

    Parameters
    ----------
    plan : callable
        A plan of :mod:`msc_bluesky.plans`.
    kwargs : mapping
        Its arguments after ``detectors`` and ``reactor``, by name.

    Raises
    ------
    ConditionError
        Naming the argument, what was given and what is allowed.
    """
    if not isinstance(kwargs, Mapping):
        raise ConditionError(f"arguments must be a mapping of names to values, got {kwargs!r}")
    signature = inspect.signature(plan)
    hints = get_type_hints(plan)
    allowed = [n for n in signature.parameters if n not in SUPPLIED_PARAMETERS]
    for name in kwargs:
        if name not in allowed:
            close = difflib.get_close_matches(str(name), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConditionError(
                f"unknown argument {name!r} for {plan.__name__}{hint}; allowed: "
                + ", ".join(allowed)
            )
    missing = [
        n for n in allowed
        if signature.parameters[n].default is inspect.Parameter.empty and n not in kwargs
    ]  # fmt: skip
    if missing:
        raise ConditionError(f"{plan.__name__} needs the argument(s) {', '.join(missing)}")
    for name, value in kwargs.items():
        hint = hints.get(name, Any)
        if not _matches(value, hint):
            raise ConditionError(
                f"{name} = {value!r} ({type(value).__name__}) is not allowed; it must be "
                f"{_describe(hint)}"
            )
        if name in OPTION_CHECKS:
            OPTION_CHECKS[name](name, value)
