"""The measured conditions of a campaign, read from its analysis table."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from msc_bluesky.limits import TEMPERATURE_LIMITS_C
from msc_bluesky.modelling.observables import (
    OBSERVABLES,
    measured_observables,
    uncertainty,
)

#: Condition columns: the analysis run's readbacks, else the raw run's readbacks.
CONDITION_COLUMNS: dict[str, tuple[str, ...]] = {
    "t_nuc": ("t_nuc", "reactor_t_nuc", "t_nuc_setpoint", "reactor_t_nuc_setpoint"),
    "t_growth": ("t_growth", "reactor_t_growth", "reactor_t_growth_setpoint"),
    "reaction_time": (
        "reaction_time",
        "reactor_reaction_time",
        "reactor_reaction_time_setpoint",
    ),
}


@dataclass(frozen=True)
class MeasuredCondition:
    """One measured condition: where, what was measured, how well.

    Attributes
    ----------
    t_nuc, t_growth : float
        Temperatures (°C).
    reaction_time : float
        Residence time (s).
    values, sigmas : dict
        Measured observables (finite only) and their standard uncertainties.
    raw_uid, analysis_uid : str or None
        Runs the row came from.
    row : dict
        The table row as read.
    """

    t_nuc: float
    t_growth: float
    reaction_time: float
    values: dict[str, float]
    sigmas: dict[str, float]
    raw_uid: str | None = None
    analysis_uid: str | None = None
    row: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def key(self) -> tuple[float, float, float]:
        """The condition rounded to 0.01 °C / 0.001 s (repeats share one model run)."""
        return (round(self.t_nuc, 2), round(self.t_growth, 2), round(self.reaction_time, 3))


def _number(value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan


def _rows(table: Any) -> list[dict[str, Any]]:
    if hasattr(table, "to_dict") and hasattr(table, "columns"):  # a pandas DataFrame
        return [dict(r) for r in table.to_dict("records")]
    if isinstance(table, Mapping):
        raise ValueError(
            "table must be a campaign table (pandas DataFrame) or a list of row dicts, "
            "not one mapping"
        )
    try:
        rows = [dict(r) for r in table]
    except (TypeError, ValueError):
        raise ValueError(
            "table must be a campaign table (pandas DataFrame from "
            "msc_bluesky.storage.browse.campaign_table) or a list of row dicts, "
            f"got {type(table).__name__}"
        ) from None
    return rows


def _condition(row: Mapping[str, Any], name: str) -> float:
    for column in CONDITION_COLUMNS[name]:
        v = _number(row.get(column))
        if math.isfinite(v):
            return v
    return math.nan


def measured_conditions(table: Any) -> list[MeasuredCondition]:
    """Every usable row of a campaign table as a :class:`MeasuredCondition`.

    A row is used when its conditions are finite and within the reactor's limits and
    it has at least one measured observable; rows of failed fits (``fit_ok`` False)
    carry no values and drop out.

    Parameters
    ----------
    table : pandas.DataFrame or iterable of dict
        :func:`msc_bluesky.storage.browse.campaign_table`, or rows of analysis fields
        with ``t_nuc``, ``t_growth``, ``reaction_time``.

    Raises
    ------
    ValueError
        If ``table`` is not a table.
    """
    out = []
    lo, hi = TEMPERATURE_LIMITS_C
    for row in _rows(table):
        tn, tg, t = (_condition(row, n) for n in ("t_nuc", "t_growth", "reaction_time"))
        if not (lo <= tn <= hi and lo <= tg <= hi and t > 0):
            continue
        measured = measured_observables(row)
        values = {o.name: measured[o.name] for o in OBSERVABLES if math.isfinite(measured[o.name])}
        if not values:
            continue
        sigmas = {n: uncertainty(n, row, v) for n, v in values.items()}
        raw = row.get("raw_uid")
        analysis = row.get("analysis_uid")
        out.append(
            MeasuredCondition(
                tn, tg, t, values, sigmas,
                raw_uid=raw if isinstance(raw, str) else None,
                analysis_uid=analysis if isinstance(analysis, str) else None,
                row=row,
            )
        )
    return out


def unique_conditions(
    conditions: Iterable[MeasuredCondition],
) -> tuple[list[tuple[float, float, float]], np.ndarray]:
    """Distinct model conditions and, per measured condition, its index among them."""
    keys: dict[tuple[float, float, float], int] = {}
    index = []
    for c in conditions:
        index.append(keys.setdefault(c.key, len(keys)))
    return list(keys), np.asarray(index, dtype=int)
