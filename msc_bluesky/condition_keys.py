"""Flat, searchable condition keys for start documents.

Plans record the conditions of a run as ``start["conditions"]``, a list of
``{t_nuc, t_growth, reaction_time}``. A list is not searchable with tiled's ``Key``
queries, so every raw run's start document also carries flat keys:

- per-run bounds ``t_nuc_min``/``t_nuc_max``, ``t_growth_min``/``t_growth_max``,
  ``reaction_time_min``/``reaction_time_max`` (every run with conditions);
- ``t_nuc``, ``t_growth``, ``reaction_time`` when the quantity has a single value in the
  run (always so for a run with one condition).

A key is left out when no condition carries a finite value of that quantity.
"""

from __future__ import annotations

import math
from typing import Any

#: The condition quantities, in the order of the contract.
CONDITION_NAMES: tuple[str, ...] = ("t_nuc", "t_growth", "reaction_time")


def _finite(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def condition_search_keys(conditions: Any) -> dict[str, float]:
    """The flat searchable keys of a run's conditions.

    Parameters
    ----------
    conditions : list of dict
        The run's conditions (``start["conditions"]``); anything else gives ``{}``.

    Returns
    -------
    dict
        ``{name}_min``, ``{name}_max`` for each quantity with a finite value, and
        ``{name}`` when all the run's values of that quantity are equal.

    Examples
    --------
    >>> keys = condition_search_keys([{"t_nuc": 280, "t_growth": 200, "reaction_time": 2}])
    >>> keys["t_nuc"], keys["t_nuc_min"], keys["reaction_time_max"]
    (280.0, 280.0, 2.0)
    """
    items = [c for c in conditions if isinstance(c, dict)] if isinstance(conditions, list) else []
    keys: dict[str, float] = {}
    for name in CONDITION_NAMES:
        values = [v for v in (_finite(c.get(name)) for c in items) if v is not None]
        if not values:
            continue
        low, high = min(values), max(values)
        if low == high:
            keys[name] = low
        keys[f"{name}_min"] = low
        keys[f"{name}_max"] = high
    return keys
