"""Agents that propose the next reactor condition from what has been measured.

Each agent has the small interface of the field's optimisation layers (blop,
bluesky-adaptive): :meth:`suggest` gives the next :class:`Proposal`, :meth:`ingest`
takes measured :class:`Observation` s, :meth:`reject` drops a proposal a person refused,
and :meth:`done` says whether the answer is known well enough.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from msc_bluesky.explore.model import GPSurrogate, PresenceModel
from msc_bluesky.explore.space import CONDITION_KEYS, ExplorationSpace

#: Objectives ``msc-bluesky explore --objective`` accepts.
OBJECTIVES: tuple[str, ...] = ("map", "optimum")


@dataclass
class Observation:
    """What was measured at one condition (from its stored analysis run).

    Attributes
    ----------
    condition : dict
        ``t_nuc``, ``t_growth``, ``reaction_time`` as measured (requested setpoints).
    msc437 : bool
        CdSe-437 detected.
    msc437_absorbance : float
        Absorbance of the 437 band (NaN when not fitted).
    nc_absorbance : float
        NC absorbance at its first exciton (0 when there is no NC, NaN when unknown).
    fit_ok : bool
        The live fit succeeded; a failed fit is not used by the models.
    raw_uid : str
        Raw run the observation came from.
    """

    condition: dict[str, float]
    msc437: bool
    msc437_absorbance: float = math.nan
    nc_absorbance: float = math.nan
    fit_ok: bool = True
    raw_uid: str = ""


@dataclass
class Proposal:
    """A condition the agent wants measured, with its prediction and the reason."""

    condition: dict[str, float]
    reason: str
    probability: float
    uncertainty: float
    predicted: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for a person: the condition, predicted outcome and why."""
        c = self.condition
        return (
            f"T_nuc {c['t_nuc']:.0f} °C, T_growth {c['t_growth']:.0f} °C, "
            f"t {c['reaction_time']:g} s — predicted P(CdSe-437) = {self.probability:.2f} "
            f"(latent σ {self.uncertainty:.2f}); {self.reason}"
        )


class Agent(Protocol):
    """What the exploration loop needs of an agent."""

    space: ExplorationSpace

    def suggest(self) -> Proposal | None: ...

    def ingest(self, observations: list[Observation]) -> None: ...

    def reject(self, proposal: Proposal) -> None: ...

    def done(self) -> tuple[bool, str]: ...


class _GridAgent:
    """Shared bookkeeping: candidates, what was measured, what was refused."""

    def __init__(self, space: ExplorationSpace, *, seed: int = 0, n_initial: int = 5) -> None:
        if not isinstance(n_initial, int) or isinstance(n_initial, bool) or n_initial < 1:
            raise ValueError(f"n_initial = {n_initial!r}: give a whole number >= 1")
        self.space = space
        self.seed = seed
        self.n_initial = n_initial
        self.rng = np.random.default_rng(seed)
        self.observations: list[Observation] = []
        self._excluded = np.zeros(len(space), dtype=bool)
        self._x = space.scale(space.candidates)

    # -- bookkeeping ---------------------------------------------------------------
    def _index_of(self, condition: dict[str, float]) -> int | None:
        row = np.array([float(condition[k]) for k in CONDITION_KEYS])
        hits = np.flatnonzero(np.all(np.isclose(self.space.candidates, row, atol=1e-6), axis=1))
        return int(hits[0]) if len(hits) else None

    def ingest(self, observations: list[Observation]) -> None:
        """Add measured observations; their candidates are not proposed again."""
        for obs in observations:
            self.observations.append(obs)
            index = self._index_of(obs.condition)
            if index is not None:
                self._excluded[index] = True
        self._refit()

    def reject(self, proposal: Proposal) -> None:
        """A person refused the proposal: never propose that condition again."""
        index = self._index_of(proposal.condition)
        if index is not None:
            self._excluded[index] = True

    def _usable(self) -> list[Observation]:
        return [o for o in self.observations if o.fit_ok]

    def _observed_x(self, usable_only: bool = True) -> np.ndarray:
        chosen = self._usable() if usable_only else self.observations
        rows = [[o.condition[k] for k in CONDITION_KEYS] for o in chosen]
        return self.space.scale(np.array(rows, dtype=float)) if rows else np.empty((0, 3))

    def _open(self) -> np.ndarray:
        return np.flatnonzero(~self._excluded)

    def _initial(self) -> Proposal | None:
        """Space-filling start: the open candidate farthest from everything measured."""
        open_ = self._open()
        if len(open_) == 0:
            return None
        measured = self._observed_x(usable_only=False)
        if len(measured) == 0:
            centre = self._x.mean(axis=0)
            distance = -np.linalg.norm(self._x[open_] - centre, axis=1)  # start mid-space
        else:
            gaps = np.linalg.norm(self._x[open_, None, :] - measured[None, :, :], axis=2)
            distance = gaps.min(axis=1)
        jitter = self.rng.uniform(0, 1e-6, size=len(open_))
        best = open_[int(np.argmax(distance + jitter))]
        p, s = self.presence(self.space.candidates[best : best + 1])
        return Proposal(
            condition=self.space.as_conditions([self.space.candidates[best]])[0],
            reason=f"initial design: space-filling point {len(self._usable()) + 1} "
            f"of {self.n_initial}",
            probability=float(p[0]),
            uncertainty=float(s[0]),
        )

    # -- models -------------------------------------------------------------------
    def _refit(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def presence(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P(CdSe-437) and latent σ at condition rows (n, 3)."""
        raise NotImplementedError


class MapAgent(_GridAgent):
    """Map the region where CdSe-437 persists: sample where the class is least certain.

    After a space-filling start of ``n_initial`` points, each proposal is the open
    candidate whose predicted class is least certain (``P`` closest to 0.5 relative to
    the model's spread). The map is known when every open candidate's class is decided
    with probability at least ``1 − confidence_gap`` (so the boundary is placed to the
    grid's resolution).

    Parameters
    ----------
    space : ExplorationSpace
    seed : int
    n_initial : int
        Space-filling points before the model steers.
    confidence_gap : float
        Stop when ``min(P, 1 − P) < confidence_gap`` at every open candidate.
    """

    objective = "map"

    def __init__(
        self,
        space: ExplorationSpace,
        *,
        seed: int = 0,
        n_initial: int = 5,
        confidence_gap: float = 0.05,
    ) -> None:
        super().__init__(space, seed=seed, n_initial=n_initial)
        if not 0.0 < confidence_gap < 0.5:
            raise ValueError(f"confidence_gap = {confidence_gap!r} must lie in (0, 0.5)")
        self.confidence_gap = confidence_gap
        self.model = PresenceModel(seed)

    def _refit(self) -> None:
        usable = self._usable()
        self.model.fit(self._observed_x(), np.array([o.msc437 for o in usable], dtype=bool))

    def presence(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.model.probability(self.space.scale(rows))

    def suggest(self) -> Proposal | None:
        """The next condition to measure, or None when no open candidate is left."""
        if len(self._usable()) < self.n_initial:
            return self._initial()
        open_ = self._open()
        if len(open_) == 0:
            return None
        p, s = self.presence(self.space.candidates[open_])
        ambiguity = np.minimum(p, 1.0 - p)
        jitter = self.rng.uniform(0, 1e-9, size=len(open_))
        k = int(np.argmax(ambiguity + jitter))
        best = open_[k]
        return Proposal(
            condition=self.space.as_conditions([self.space.candidates[best]])[0],
            reason=f"least certain boundary point: P(CdSe-437) = {p[k]:.2f} "
            f"({int(np.sum(ambiguity > self.confidence_gap))} candidates still undecided)",
            probability=float(p[k]),
            uncertainty=float(s[k]),
        )

    def done(self) -> tuple[bool, str]:
        """Whether the map is known; with the reason."""
        if len(self._usable()) < self.n_initial:
            return False, "initial design not complete"
        open_ = self._open()
        if len(open_) == 0:
            return True, "every candidate measured or refused"
        p, _ = self.presence(self.space.candidates[open_])
        undecided = int(np.sum(np.minimum(p, 1.0 - p) >= self.confidence_gap))
        if undecided == 0:
            return True, (
                f"boundary known to the grid resolution ({self.space.resolution_c:g} °C): every "
                f"open candidate decided with P ≥ {1 - self.confidence_gap:.2f}"
            )
        return False, f"{undecided} candidates undecided"


class OptimumAgent(_GridAgent):
    """Find the condition of highest CdSe-437 absorbance with NC absorbance below a ceiling.

    Two GP surrogates (437 band absorbance, NC absorbance) and expected improvement
    weighted by the probability that the NC ceiling holds. The optimum is known when
    the largest weighted expected improvement is below ``tolerance`` (absorbance units).

    Parameters
    ----------
    space : ExplorationSpace
    nc_ceiling : float
        Largest acceptable NC absorbance at its first exciton.
    seed, n_initial
        As for :class:`MapAgent`.
    tolerance : float
        Stop when no open candidate is expected to improve the best by more than this.
    """

    objective = "optimum"

    def __init__(
        self,
        space: ExplorationSpace,
        *,
        nc_ceiling: float = 0.5,
        seed: int = 0,
        n_initial: int = 5,
        tolerance: float = 0.002,
    ) -> None:
        super().__init__(space, seed=seed, n_initial=n_initial)
        if isinstance(nc_ceiling, bool) or not math.isfinite(float(nc_ceiling)) or nc_ceiling <= 0:
            raise ValueError(f"nc_ceiling = {nc_ceiling!r} must be a finite absorbance > 0")
        self.nc_ceiling = float(nc_ceiling)
        self.tolerance = float(tolerance)
        self.presence_model = PresenceModel(seed)
        self.band = GPSurrogate(seed)
        self.nc = GPSurrogate(seed)
        self._band_scale = 1.0
        self._nc_scale = 1.0

    def _refit(self) -> None:
        usable = self._usable()
        x = self._observed_x()
        self.presence_model.fit(x, np.array([o.msc437 for o in usable], dtype=bool))
        band = np.array([_zero_nan(o.msc437_absorbance) for o in usable])
        nc = np.array([_zero_nan(o.nc_absorbance) for o in usable])
        self._band_scale = max(float(np.max(band, initial=0.0)), 1e-3)
        self._nc_scale = max(float(np.max(nc, initial=0.0)), self.nc_ceiling)
        self.band.fit(x, band / self._band_scale)
        self.nc.fit(x, nc / self._nc_scale)

    def presence(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.presence_model.probability(self.space.scale(rows))

    def _feasible_best(self) -> float:
        values = [
            _zero_nan(o.msc437_absorbance)
            for o in self._usable()
            if o.msc437 and _zero_nan(o.nc_absorbance) <= self.nc_ceiling
        ]
        return max(values, default=0.0)

    def _acquisition(self, rows_index: np.ndarray) -> np.ndarray:
        from scipy.stats import norm

        x = self._x[rows_index]
        mu, sd = self.band.predict(x)
        mu, sd = mu * self._band_scale, sd * self._band_scale
        nc_mu, nc_sd = self.nc.predict(x)
        feasible = norm.cdf((self.nc_ceiling - nc_mu * self._nc_scale) / (nc_sd * self._nc_scale))
        z = (mu - self._feasible_best()) / sd
        expected = sd * (z * norm.cdf(z) + norm.pdf(z))
        return expected * feasible

    def suggest(self) -> Proposal | None:
        """The next condition to measure, or None when no open candidate is left."""
        if len(self._usable()) < self.n_initial:
            return self._initial()
        open_ = self._open()
        if len(open_) == 0:
            return None
        gain = self._acquisition(open_)
        k = int(np.argmax(gain + self.rng.uniform(0, 1e-12, size=len(open_))))
        best = open_[k]
        p, s = self.presence(self.space.candidates[best : best + 1])
        return Proposal(
            condition=self.space.as_conditions([self.space.candidates[best]])[0],
            reason=f"largest expected gain in CdSe-437 absorbance under the NC ceiling "
            f"{self.nc_ceiling:g}: {gain[k]:.4f}",
            probability=float(p[0]),
            uncertainty=float(s[0]),
            predicted={"expected_improvement": float(gain[k])},
        )

    def done(self) -> tuple[bool, str]:
        """Whether the optimum is known to ``tolerance``; with the reason."""
        if len(self._usable()) < self.n_initial:
            return False, "initial design not complete"
        open_ = self._open()
        if len(open_) == 0:
            return True, "every candidate measured or refused"
        gain = float(np.max(self._acquisition(open_)))
        if gain < self.tolerance:
            return True, f"no candidate expected to improve the optimum by ≥ {self.tolerance:g}"
        return False, f"expected improvement {gain:.4f} ≥ {self.tolerance:g}"

    def best(self) -> Observation | None:
        """The measured condition of highest CdSe-437 absorbance under the NC ceiling."""
        feasible = [
            o
            for o in self._usable()
            if o.msc437 and _zero_nan(o.nc_absorbance) <= self.nc_ceiling
        ]
        return max(feasible, key=lambda o: _zero_nan(o.msc437_absorbance), default=None)


def make_agent(objective: str, space: ExplorationSpace, **options) -> MapAgent | OptimumAgent:
    """The agent for an objective name (``"map"`` or ``"optimum"``)."""
    if objective == "map":
        options.pop("nc_ceiling", None)
        return MapAgent(space, **options)
    if objective == "optimum":
        return OptimumAgent(space, **options)
    raise ValueError(f"objective {objective!r} is not one of {', '.join(OBJECTIVES)}")


def _zero_nan(value: float) -> float:
    v = float(value)
    return 0.0 if not math.isfinite(v) else v
