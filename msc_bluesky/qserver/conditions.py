"""The type of one ``condition_scan`` condition, as the queue server checks it.

``bluesky-queueserver`` validates a submitted item with pydantic against the plan's
parameter annotations. A condition is a mapping with exactly the keys ``t_nuc``,
``t_growth`` (°C, within the heater limits) and ``reaction_time`` (s, > 0); each value
a finite number: pydantic's strict mode refuses ``true`` and ``"300"`` instead of
converting them. The annotation string of ``conditions`` names :class:`Condition`
through ``__import__``, so the RE Manager can evaluate it from
``existing_plans_and_devices.yaml`` (this module imports only pydantic and
:mod:`msc_bluesky.limits`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AllowInfNan, ConfigDict, Field, Strict, with_config
from typing_extensions import TypedDict

from msc_bluesky.limits import TEMPERATURE_LIMITS_C

#: Reaction times the queue accepts (s). The lower bound rejects zero and negative
#: times; whether a time is reachable with the actual reactor volumes and pumps is
#: checked by the plan. The upper bound (10 min) is a sanity limit: the paper's
#: reaction times are 1.5–14 s.
REACTION_TIME_RANGE_S: tuple[float, float] = (0.01, 600.0)

_T_LOW, _T_HIGH = TEMPERATURE_LIMITS_C

#: A heater temperature (°C): a finite number, not a bool or string, within the limits.
Temperature = Annotated[float, Strict(), AllowInfNan(False), Field(ge=_T_LOW, le=_T_HIGH)]
#: A reaction time (s): a finite number, not a bool or string, in REACTION_TIME_RANGE_S.
ReactionTime = Annotated[
    float,
    Strict(),
    AllowInfNan(False),
    Field(ge=REACTION_TIME_RANGE_S[0], le=REACTION_TIME_RANGE_S[1]),
]


@with_config(ConfigDict(extra="forbid"))
class Condition(TypedDict):
    """One reactor condition ``{t_nuc: °C, t_growth: °C, reaction_time: s}``; all keys
    required, no others."""

    t_nuc: Temperature
    t_growth: Temperature
    reaction_time: ReactionTime


#: The annotation ``type`` string of one condition for ``parameter_annotation_decorator``.
CONDITION_ANNOTATION = "__import__('msc_bluesky.qserver.conditions', fromlist=['_']).Condition"
