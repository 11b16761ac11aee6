"""Argument checks shared by the reactor parts: finite values within bounds."""

from __future__ import annotations

import math


def finite(name: str, value: float, *, low: float | None = None, high: float | None = None,
            unit: str = "", low_open: bool = False) -> float:
    """Return ``value`` as a finite float within the bounds, or raise ValueError.

    The message names the value, says what was given and what is allowed.
    """
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

