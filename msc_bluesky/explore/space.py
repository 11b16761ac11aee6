"""The region an exploration may propose from: a grid of reactor conditions.

The explorer never proposes outside the operating limits: every candidate passes the
same checks as a plan's conditions (:mod:`msc_bluesky.limits`) when the space is built.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from msc_bluesky.limits import ConditionError, check_reaction_time, check_temperature

#: Keys of one condition, in the order of a candidate's coordinates.
CONDITION_KEYS: tuple[str, str, str] = ("t_nuc", "t_growth", "reaction_time")

#: The paper's Fig. 1 grid at 14 s: T_nuc 260–320 °C, T_growth T_nuc−90 … T_nuc.
PAPER_T_NUC_C: tuple[float, ...] = tuple(float(t) for t in range(260, 321, 10))
PAPER_GROWTH_SPAN_C: float = 90.0
PAPER_REACTION_TIME_S: float = 14.0


def paper_grid(reaction_time: float = PAPER_REACTION_TIME_S) -> list[dict[str, float]]:
    """The 70 conditions of the paper's Fig. 1 grid (T_growth ≤ T_nuc, 10 °C steps)."""
    return [
        {"t_nuc": tn, "t_growth": tn - dg, "reaction_time": float(reaction_time)}
        for tn in PAPER_T_NUC_C
        for dg in np.arange(0.0, PAPER_GROWTH_SPAN_C + 1.0, 10.0)
    ]


@dataclass(frozen=True)
class ExplorationSpace:
    """Conditions the explorer may propose.

    Candidates are T_nuc from ``t_nuc_range`` in steps of ``resolution_c``; for each, the
    growth temperatures T_nuc − ``growth_span_c`` … T_nuc (the Fig. 1 pattern) in the
    same steps; and each reaction time of ``reaction_times``.

    Parameters
    ----------
    t_nuc_range : (float, float)
        Lowest and highest nucleation temperature (°C).
    growth_span_c : float
        How far below T_nuc the growth oven may be (°C); 0 gives the diagonal only.
    reaction_times : sequence of float
        Reaction times (s) to explore.
    resolution_c : float
        Temperature step of the candidate grid (°C).

    Raises
    ------
    ConditionError
        When any candidate is outside the operating limits, or the options are not
        numbers in their allowed ranges.
    """

    t_nuc_range: tuple[float, float] = (260.0, 320.0)
    growth_span_c: float = PAPER_GROWTH_SPAN_C
    reaction_times: tuple[float, ...] = (PAPER_REACTION_TIME_S,)
    resolution_c: float = 10.0
    _candidates: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        low, high = (check_temperature("t_nuc", v) for v in _pair("t_nuc_range", self.t_nuc_range))
        if high < low:
            raise ConditionError(
                f"t_nuc_range {low:g}–{high:g} °C: the first must not exceed the second"
            )
        step = _number("resolution_c", self.resolution_c)
        if not 0.5 <= step <= 100.0:
            raise ConditionError(f"resolution_c = {step:g} °C is outside 0.5–100 °C")
        span = _number("growth_span_c", self.growth_span_c)
        if not 0.0 <= span <= 300.0:
            raise ConditionError(f"growth_span_c = {span:g} °C is outside 0–300 °C")
        times = tuple(check_reaction_time(t) for t in self.reaction_times)
        if not times:
            raise ConditionError("reaction_times is empty; give at least one reaction time (s)")
        object.__setattr__(self, "t_nuc_range", (low, high))
        object.__setattr__(self, "resolution_c", step)
        object.__setattr__(self, "growth_span_c", span)
        object.__setattr__(self, "reaction_times", times)
        rows = []
        for tn in _steps(low, high, step):
            for dg in _steps(0.0, span, step):
                tg = check_temperature("t_growth", tn - dg)
                rows.extend((tn, tg, t) for t in times)
        object.__setattr__(self, "_candidates", np.array(rows, dtype=float))

    @property
    def candidates(self) -> np.ndarray:
        """Array (n, 3) of ``(t_nuc, t_growth, reaction_time)``."""
        return self._candidates.copy()

    def __len__(self) -> int:
        return len(self._candidates)

    def as_conditions(
        self, rows: Iterable[Sequence[float]] | None = None
    ) -> list[dict[str, float]]:
        """Candidates (or the given rows) as condition dictionaries."""
        rows = self._candidates if rows is None else rows
        return [dict(zip(CONDITION_KEYS, map(float, r), strict=True)) for r in rows]

    def contains(self, condition: dict[str, float]) -> bool:
        """Whether a condition lies inside the space's bounds (not only on its grid)."""
        tn, tg, t = (float(condition[k]) for k in CONDITION_KEYS)
        low, high = self.t_nuc_range
        return (
            low <= tn <= high
            and tn - self.growth_span_c - 1e-9 <= tg <= tn + 1e-9
            and any(math.isclose(t, rt, rel_tol=1e-6) for rt in self.reaction_times)
        )

    def scale(self, rows: np.ndarray) -> np.ndarray:
        """Coordinates scaled for a model: temperatures / 100 °C, ln(reaction time)."""
        rows = np.atleast_2d(np.asarray(rows, dtype=float))
        return np.column_stack([rows[:, 0] / 100.0, rows[:, 1] / 100.0, np.log(rows[:, 2])])

    def to_dict(self) -> dict[str, object]:
        """JSON-able description (stored with the exploration)."""
        return {
            "t_nuc_range": list(self.t_nuc_range),
            "growth_span_c": self.growth_span_c,
            "reaction_times": list(self.reaction_times),
            "resolution_c": self.resolution_c,
            "n_candidates": len(self),
        }


def _steps(low: float, high: float, step: float) -> list[float]:
    n = int(math.floor((high - low) / step + 1e-9))
    return [low + i * step for i in range(n + 1)]


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConditionError(f"{name} = {value!r} is not a number")
    v = float(value)
    if not math.isfinite(v):
        raise ConditionError(f"{name} = {value!r} is not finite")
    return v


def _pair(name: str, value: object) -> tuple[float, float]:
    try:
        a, b = value  # type: ignore[misc]
    except (TypeError, ValueError):
        raise ConditionError(f"{name} = {value!r}: give two numbers, low and high") from None
    return _number(name, a), _number(name, b)
