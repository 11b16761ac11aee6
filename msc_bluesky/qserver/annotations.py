"""The msc plans, annotated for bluesky-queueserver.

The queue server validates an item against the plan's signature before it accepts it.
Python type hints give it the types; ``parameter_annotation_decorator`` adds what hints
cannot say: numeric ranges (temperatures within the heater limits, positive times) and
which devices a parameter may name (``reactor`` only the reactor, ``detectors`` only
``uvvis`` and ``saxs``). An item that breaks them is refused at submission and the
queue is left unchanged.

Annotations are chosen by parameter name (:data:`PARAMETER_RULES`), so they follow the
plans' signatures: a rule whose name a plan does not have is simply not used. Numbers
are strict finite floats (no bools, strings, NaN); each ``condition_scan`` condition
is the typed dict :class:`msc_bluesky.qserver.conditions.Condition` (per-field
ranges). The plans validate their inputs again (:mod:`msc_bluesky.limits`).

The wrapped plans behave exactly like the originals (same generator, same signature);
only the wrapper carries the annotation, the plans in :mod:`msc_bluesky.plans` are not
modified.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bluesky_queueserver import parameter_annotation_decorator

from msc_bluesky import plans as _plans
from msc_bluesky.limits import PUMP_MAX_FLOW_ML_MIN, TEMPERATURE_LIMITS_C
from msc_bluesky.plans.steady import STEADY_RULES
from msc_bluesky.qserver.conditions import CONDITION_ANNOTATION, REACTION_TIME_RANGE_S

#: Names of the instrument's devices that plans may receive.
REACTOR_DEVICES: tuple[str, ...] = ("reactor",)
DETECTOR_DEVICES: tuple[str, ...] = ("uvvis", "saxs")
#: Other durations (settling, timeouts, exposures), s.
DURATION_RANGE_S: tuple[float, float] = (0.0, 3600.0)
#: Band around a heater setpoint within which a run goes on (°C).
TEMPERATURE_BAND_RANGE_C: tuple[float, float] = (0.1, 100.0)
#: Smallest temperature step of a grid (°C).
TEMPERATURE_STEP_MIN_C: float = 0.1
#: Residence volumes flushed before a measurement.
RESIDENCE_VOLUMES_RANGE: tuple[float, float] = (0.0, 1000.0)
#: Drift tolerances and other small positive numbers.
TOLERANCE_RANGE: tuple[float, float] = (1e-9, 1e6)
#: Counts of points, steps, repeats (at least one).
COUNT_RANGE: tuple[int, int] = (1, 10_000)

#: Optional plan parameters that take Python objects (not JSON) and are not offered to
#: queue users; callers in Python can still pass them.
QUEUE_HIDDEN_PARAMETERS: frozenset[str] = frozenset({"configuration"})

#: The plans offered to users, in the order they are listed.
PLAN_NAMES: tuple[str, ...] = (
    "temperature_grid",
    "condition_scan",
    "reaction_time_series",
    "nucleation_series",
    "precursor_blank",
    "equilibrate",
)

#: A finite number, not a bool or string. The queue server evaluates annotation types
#: with only ``typing``/``collections``/``enum`` in scope, and its min/max checks let NaN
#: through; pydantic's strict mode refuses ``true`` and ``"300"`` (lax mode converts
#: them) and ``AllowInfNan(False)`` refuses NaN and inf, at submission.
FINITE_FLOAT = (
    "typing.Annotated[float, __import__('pydantic').Strict(), "
    "__import__('pydantic').AllowInfNan(False)]"
)
#: Keys of one condition of ``condition_scan`` (see :mod:`msc_bluesky.plans.validation`).
CONDITION_KEYS: tuple[str, ...] = ("t_nuc", "t_growth", "reaction_time")


@dataclass(frozen=True)
class ParameterRule:
    """Annotation for every plan parameter whose name matches ``pattern`` (full match).

    Attributes
    ----------
    pattern : str
        Regular expression for the parameter name.
    description : str
        Short description shown by queue clients.
    type : str or None
        Type of one value as the queue server spells it (``"float"``, an enum name from
        ``devices``); None keeps the plan's own type hint. A parameter that takes a
        list (hint or default is a sequence) gets ``typing.List[type]``; one whose
        default is None gets ``typing.Optional[...]``.
    limits : (min, max) or None
        Range every number in the value must be in.
    devices : dict
        Device enums used by ``type``: ``{"Detectors": ["uvvis", "saxs"]}``.
    enums : dict
        String enums used by ``type``: ``{"SteadyRules": ["fixed", "signal"]}``.
    """

    pattern: str
    description: str
    type: str | None = None
    limits: tuple[float, float] | None = None
    devices: dict[str, list[str]] = field(default_factory=dict)
    enums: dict[str, list[str]] = field(default_factory=dict)


_T_LOW, _T_HIGH = TEMPERATURE_LIMITS_C
#: One condition: exactly the three keys, each a finite number in its own range
#: (:class:`msc_bluesky.qserver.conditions.Condition`).
_CONDITION = CONDITION_ANNOTATION

#: First matching rule wins.
PARAMETER_RULES: tuple[ParameterRule, ...] = (
    ParameterRule(
        r"reactor",
        "the flow reactor (device name)",
        "Reactors",
        devices={"Reactors": list(REACTOR_DEVICES)},
    ),
    ParameterRule(
        r"detectors?|dets?",
        f"detector(s) to read, from {list(DETECTOR_DEVICES)}",
        "Detectors",
        devices={"Detectors": list(DETECTOR_DEVICES)},
    ),
    ParameterRule(
        r"uvvis|spectrometer",
        "the UV-Vis spectrometer (device name)",
        "Spectrometers",
        devices={"Spectrometers": ["uvvis"]},
    ),
    ParameterRule(
        r"saxs",
        "the SAXS detector (device name)",
        "SaxsDetectors",
        devices={"SaxsDetectors": ["saxs"]},
    ),
    ParameterRule(
        r"steady",
        f"wait for steady state: one of {list(STEADY_RULES)}",
        "SteadyRules",
        enums={"SteadyRules": list(STEADY_RULES)},
    ),
    ParameterRule(
        r"conditions?",
        f"conditions {{t_nuc: °C, t_growth: °C ({_T_LOW:g}–{_T_HIGH:g}), reaction_time: s "
        f"({REACTION_TIME_RANGE_S[0]:g}–{REACTION_TIME_RANGE_S[1]:g})}}",
        _CONDITION,
    ),
    ParameterRule(
        r"\w*_band",
        "half-width of the accepted temperature band in °C",
        FINITE_FLOAT,
        TEMPERATURE_BAND_RANGE_C,
    ),
    ParameterRule(
        r"\w*_step",
        "temperature step in °C",
        FINITE_FLOAT,
        (TEMPERATURE_STEP_MIN_C, _T_HIGH - _T_LOW),
    ),
    ParameterRule(
        r"t_nuc|t_growth|\w*temperatures?(_c)?",
        f"temperature(s) in °C, {_T_LOW:g}–{_T_HIGH:g}",
        FINITE_FLOAT,
        TEMPERATURE_LIMITS_C,
    ),
    ParameterRule(
        r"reaction_times?|t_reaction|times?",
        f"reaction time(s) in s, {REACTION_TIME_RANGE_S[0]:g}–{REACTION_TIME_RANGE_S[1]:g}",
        FINITE_FLOAT,
        REACTION_TIME_RANGE_S,
    ),
    ParameterRule(
        r"\w*flow\w*",
        f"flow in mL/min, 0–{PUMP_MAX_FLOW_ML_MIN:g}",
        FINITE_FLOAT,
        (0.0, PUMP_MAX_FLOW_ML_MIN),
    ),
    ParameterRule(
        r"\w*(_time|timeout|duration|delay|dwell|exposure|_period|_s)",
        f"duration in s, {DURATION_RANGE_S[0]:g}–{DURATION_RANGE_S[1]:g}",
        FINITE_FLOAT,
        DURATION_RANGE_S,
    ),
    ParameterRule(r"\w*(tolerance|_tol)", "tolerance, > 0", FINITE_FLOAT, TOLERANCE_RANGE),
    ParameterRule(
        r"\w*_volumes",
        f"residence volumes, {RESIDENCE_VOLUMES_RANGE[0]:g}–{RESIDENCE_VOLUMES_RANGE[1]:g}",
        FINITE_FLOAT,
        RESIDENCE_VOLUMES_RANGE,
    ),
    ParameterRule(
        r"num\w*|n_\w+|\w*(_steps|repeats|averages|count|checks|points)",
        f"a count, {COUNT_RANGE[0]}–{COUNT_RANGE[1]}",
        None,
        COUNT_RANGE,
    ),
)


def _signature(plan: Callable) -> inspect.Signature:
    """The plan's signature with string annotations evaluated where possible."""
    try:
        return inspect.signature(plan, eval_str=True)
    except (NameError, TypeError, SyntaxError):  # hints naming TYPE_CHECKING-only imports
        return inspect.signature(plan)


def _takes_sequence(parameter: inspect.Parameter) -> bool:
    hint = parameter.annotation
    if hint is not inspect.Parameter.empty:
        text = hint if isinstance(hint, str) else repr(hint)
        if re.search(r"(Sequence|List|list|Iterable|tuple|Tuple|Collection)\b", text):
            return True
    return isinstance(parameter.default, (list, tuple))


def _documented(plan: Callable, name: str) -> bool:
    """True if the plan's numpydoc docstring describes parameter ``name``."""
    return re.search(rf"^\s*{re.escape(name)}\s*:", plan.__doc__ or "", re.MULTILINE) is not None


def _entry(plan: Callable, rule: ParameterRule, parameter: inspect.Parameter) -> dict[str, Any]:
    """The decorator entry of one parameter from the rule it matched.

    The rule's description is used only where the plan's docstring has none.
    """
    entry: dict[str, Any] = {}
    if not _documented(plan, parameter.name):
        entry["description"] = rule.description
    if rule.type is not None:
        text = rule.type
        if _takes_sequence(parameter):
            text = f"typing.List[{text}]"
        if parameter.default is None:
            text = f"typing.Optional[{text}]"
        entry["annotation"] = text
        if rule.devices:
            entry["devices"] = copy.deepcopy(rule.devices)
        if rule.enums:
            entry["enums"] = copy.deepcopy(rule.enums)
    if rule.limits is not None:
        entry["min"], entry["max"] = rule.limits
    return entry


def annotation_for(plan: Callable) -> dict[str, Any]:
    """Build the ``parameter_annotation_decorator`` argument for ``plan``.

    Parameters
    ----------
    plan : callable
        A plan (generator function).

    Returns
    -------
    dict
        ``{"parameters": {name: entry}}`` for every parameter some rule matches.
    """
    parameters: dict[str, Any] = {}
    for p in _signature(plan).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name == "md":
            continue
        for rule in PARAMETER_RULES:
            if re.fullmatch(rule.pattern, p.name):
                parameters[p.name] = _entry(plan, rule, p)
                break
    return {"parameters": parameters}


def annotate(plan: Callable) -> Callable:
    """Return ``plan`` wrapped with its queue-server annotation.

    The wrapper has the plan's name and docstring, and its signature with type hints
    resolved (the queue server then sees real types even where the plan's module
    postpones evaluation of annotations), minus :data:`QUEUE_HIDDEN_PARAMETERS`: those
    take Python objects, not JSON, and keep their defaults when the plan is queued.
    """
    wrapped = parameter_annotation_decorator(annotation_for(plan))(plan)
    signature = _signature(plan)
    exposed = [
        p
        for p in signature.parameters.values()
        if not (p.name in QUEUE_HIDDEN_PARAMETERS and p.default is not p.empty)
    ]
    wrapped.__signature__ = signature.replace(parameters=exposed)
    return wrapped


temperature_grid = annotate(_plans.temperature_grid)
condition_scan = annotate(_plans.condition_scan)
reaction_time_series = annotate(_plans.reaction_time_series)
nucleation_series = annotate(_plans.nucleation_series)
precursor_blank = annotate(_plans.precursor_blank)
equilibrate = annotate(_plans.equilibrate)
