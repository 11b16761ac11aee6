"""Flat, searchable condition keys in start documents when they are stored.

Plans record the conditions of a run as ``start["conditions"]``, a list of
``{t_nuc, t_growth, reaction_time}``, and the flat keys of
:func:`msc_bluesky.condition_keys.condition_search_keys` (``t_nuc_min``, ``t_nuc_max``, ...,
and ``t_nuc`` etc. when a quantity has one value in the run). The writer's start patch
:func:`add_condition_bounds` adds any of those keys a start document lacks (runs made by
other plans, journals written before the keys existed, runs migrated from the old layout),
so tiled ``Key("t_nuc_min") <= 250`` narrows runs on the server and
:func:`msc_bluesky.storage.browse.find_runs` then checks the individual conditions.

Stores written before this layout carry ``start["condition_bounds"]``
(:func:`condition_bounds`), a nested form that readers of the old layout still use.
"""

from __future__ import annotations

import math
from typing import Any

from msc_bluesky.condition_keys import CONDITION_NAMES, condition_search_keys

__all__ = [
    "BOUNDS_KEY",
    "CONDITION_NAMES",
    "add_condition_bounds",
    "condition_bounds",
    "condition_search_keys",
]

#: Start-document key of the nested bounds of the old layout.
BOUNDS_KEY = "condition_bounds"


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def condition_bounds(conditions: Any) -> dict[str, float | int]:
    """Minimum and maximum of each condition quantity (the old layout's nested form).

    Parameters
    ----------
    conditions : list of dict
        ``start["conditions"]``; anything else gives ``{"n_conditions": 0}``.

    Returns
    -------
    dict
    """
    items = [c for c in conditions if isinstance(c, dict)] if isinstance(conditions, list) else []
    bounds: dict[str, float | int] = {"n_conditions": len(items)}
    for name in CONDITION_NAMES:
        values = [v for v in (_finite(c.get(name)) for c in items) if v is not None]
        if values:
            bounds[f"{name}_min"] = min(values)
            bounds[f"{name}_max"] = max(values)
    return bounds


def add_condition_bounds(start: dict) -> dict:
    """A copy of a start document with the flat condition keys it lacks.

    Used as the TiledWriter ``start`` patch; a start document without ``conditions`` is
    returned unchanged, and keys already present (set by the plan or by ``md``) win.
    """
    if "conditions" not in start:
        return start
    keys = condition_search_keys(start["conditions"])
    missing = {k: v for k, v in keys.items() if k not in start}
    return {**start, **missing} if missing else start
