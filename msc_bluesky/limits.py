"""Operating limits shared by the simulator, the IOCs and the plans.

One place defines what the reactor may be asked to do, so that the command line,
the IOC drive limits and the plan validation all refuse the same inputs with the
same words.
"""

from __future__ import annotations

import math
import numbers

#: Allowed heater setpoints in degrees Celsius (inclusive).
TEMPERATURE_LIMITS_C: tuple[float, float] = (20.0, 360.0)
#: Maximum flow of one pump in mL/min (minimum is 0).
PUMP_MAX_FLOW_ML_MIN: float = 10.0


class ConditionError(ValueError):
    """A requested reactor condition is outside what the reactor can do."""


def is_number(value: object) -> bool:
    """True for real numbers (int, float, numpy numbers); False for bool, str and the rest.

    ``True`` and ``"300"`` convert to floats in Python, but a request that holds them is
    a mistake (a YAML ``yes``, a quoted number): they are refused, not converted.
    """
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return False
    return isinstance(value, numbers.Real)


def _not_a_number(name: str, value: object, allowed: str) -> ConditionError:
    what = type(value).__name__
    return ConditionError(f"{name} = {value!r} ({what}) is not a number; {allowed}")


def check_temperature(name: str, value: float) -> float:
    """Return ``value`` as float if it is an allowed heater temperature.

    Parameters
    ----------
    name : str
        What the value is, used in the error message (e.g. ``"t_nuc"``).
    value : float
        Temperature in degrees Celsius.

    Raises
    ------
    ConditionError
        If the value is not a finite number within :data:`TEMPERATURE_LIMITS_C`
        (booleans and strings are not numbers).
    """
    low, high = TEMPERATURE_LIMITS_C
    if not is_number(value):
        raise _not_a_number(name, value, f"allowed range is {low:g}–{high:g} °C")
    v = float(value)
    if not math.isfinite(v) or not (low <= v <= high):
        raise ConditionError(
            f"{name} = {value!r} °C is outside the allowed range {low:g}–{high:g} °C"
        )
    return v


def check_reaction_time(value: float, name: str = "reaction_time") -> float:
    """Return ``value`` as float if it is a finite, positive time in seconds.

    Raises
    ------
    ConditionError
        If the value is not a finite number greater than zero (booleans and strings
        are not numbers).
    """
    if not is_number(value):
        raise _not_a_number(name, value, "it must be a finite time > 0 s")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ConditionError(f"{name} = {value!r} s is not allowed; it must be a finite time > 0 s")
    return v
