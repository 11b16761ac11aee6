"""Flat, searchable condition keys added to start documents when they are stored.

Plans record the conditions of a run as ``start["conditions"]``, a list of
``{t_nuc, t_growth, reaction_time}``. A list is not searchable with tiled's ``Key``
queries, so the writer adds ``start["condition_bounds"]``::

    {"t_nuc_min": ..., "t_nuc_max": ..., "t_growth_min": ..., "t_growth_max": ...,
     "reaction_time_min": ..., "reaction_time_max": ..., "n_conditions": n}

(a key is left out when no condition carries that quantity). Queries narrow runs on the
server with the bounds; :func:`msc_bluesky.storage.browse.find_runs` then checks the
individual conditions.
"""

from __future__ import annotations

import math
from typing import Any

#: The condition quantities, in the order of the contract.
CONDITION_NAMES: tuple[str, ...] = ("t_nuc", "t_growth", "reaction_time")
#: Start-document key of the bounds.
BOUNDS_KEY = "condition_bounds"


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def condition_bounds(conditions: Any) -> dict[str, float | int]:
    """Minimum and maximum of each condition quantity.

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
    """A copy of a start document with ``condition_bounds`` added.

    Used as the TiledWriter ``start`` patch; a start document without ``conditions`` is
    returned unchanged.
    """
    if "conditions" not in start:
        return start
    return {**start, BOUNDS_KEY: condition_bounds(start["conditions"])}
