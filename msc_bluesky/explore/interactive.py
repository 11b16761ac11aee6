"""Exploration from IPython, with a person deciding on every proposal.

::

    In [1]: explore(session, budget=15)      # shows the first proposal, moves nothing
    In [2]: approve()                         # measure it; the next proposal is shown
    In [3]: reject("oven being cleaned")      # never propose that condition again
    In [4]: approve(t_nuc=285)                # measure an edited condition instead
    In [5]: summary = stop_exploration()      # stored with the runs; the summary dict

Each measurement runs the ordinary ``condition_scan`` through the session's RunEngine,
so Ctrl-C, suspenders and the safe-state finaliser behave as for any plan.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from msc_bluesky.explore.agent import Proposal, make_agent
from msc_bluesky.explore.gate import Decision, current_user
from msc_bluesky.explore.loop import Exploration
from msc_bluesky.explore.record import ExplorationRecorder
from msc_bluesky.explore.space import ExplorationSpace
from msc_bluesky.explore.summary import format_exploration, summarize_exploration

_active: InteractiveExploration | None = None


class InteractiveExploration:
    """An exploration that waits for :meth:`approve` / :meth:`reject` on every proposal.

    Parameters
    ----------
    session : msc_bluesky.session.Session
        Its RunEngine measures; its writer stores the record.
    objective : {"map", "optimum"}
    space : ExplorationSpace, optional
        Default: T_nuc 250–330 °C, growth 90 °C below, 14 s, 10 °C steps.
    budget : int
        At most this many conditions measured.
    operator : str, optional
        Who decides (default: the login name).
    detectors : tuple of str
        Session device names read at each point.
    echo : callable
        Where proposals and results are shown.
    **agent_options
        ``seed``, ``n_initial``, ``nc_ceiling``, ``confidence_gap``, ``tolerance``.
    """

    def __init__(
        self,
        session: Any,
        *,
        objective: str = "map",
        space: ExplorationSpace | None = None,
        budget: int = 25,
        operator: str | None = None,
        detectors: tuple[str, ...] = ("uvvis",),
        echo: Callable[[str], None] = print,
        measure: Callable | None = None,
        **agent_options: Any,
    ) -> None:
        from msc_bluesky.explore.measure import session_measure

        space = space or ExplorationSpace(t_nuc_range=(250.0, 330.0))
        self.agent = make_agent(objective, space, **agent_options)
        self.operator = operator or current_user()
        self.exploration_id = uuid.uuid4().hex[:12]
        self.echo = echo
        self.recorder = ExplorationRecorder(
            session.writer,
            {"exploration_id": self.exploration_id, "objective": objective,
             "space": space.to_dict(), "budget": budget, "approve": True,
             "operator": self.operator},
        )
        measure = measure or session_measure(session, self.exploration_id, detectors=detectors)
        self.exploration = Exploration(
            self.agent, measure, budget=budget, recorder=self.recorder, echo=echo
        )
        self.proposal: Proposal | None = None
        self.summary: dict[str, Any] | None = None

    def next(self) -> Proposal | None:
        """Show the next proposal (None, and the summary, when the exploration is done)."""
        done, why = self.exploration.finished()
        proposal = None if done else self.exploration.propose()
        if proposal is None:
            self.proposal = None
            self.stop(why if done else "no candidate left to propose")
            return None
        self.proposal = proposal
        self.echo(f"proposal: {proposal.describe()}")
        self.echo("approve(), approve(t_nuc=…, t_growth=…, reaction_time=…), reject('why') "
                  "or stop_exploration()")
        return proposal

    def _require_proposal(self) -> Proposal:
        if self.proposal is None:
            raise RuntimeError("no proposal is waiting; start one with explore(session)")
        return self.proposal

    def approve(self, **edits: float):
        """Measure the waiting proposal, or the condition with ``edits`` applied."""
        proposal = self._require_proposal()
        unknown = set(edits) - set(proposal.condition)
        if unknown:
            raise ValueError(f"cannot edit {sorted(unknown)}; only t_nuc, t_growth, reaction_time")
        condition = {**proposal.condition, **edits}
        action = "edit" if edits else "accept"
        observation = self.exploration.decide(
            proposal, Decision(action, condition, "edited" if edits else "", self.operator)
        )
        mark = "CdSe-437" if observation.msc437 else "no CdSe-437"
        self.echo(f"measured {observation.condition}: {mark}")
        self.next()
        return observation

    def reject(self, reason: str) -> None:
        """Refuse the waiting proposal for ``reason``; it is never proposed again."""
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("reject() needs a reason, e.g. reject('oven being cleaned')")
        proposal = self._require_proposal()
        self.exploration.decide(proposal, Decision("reject", {}, reason.strip(), self.operator))
        self.next()

    def stop(self, reason: str = "stopped by the operator") -> dict[str, Any]:
        """End the exploration: store the record's stop document and show the summary."""
        if self.summary is not None:
            return self.summary
        self.proposal = None
        self.summary = summarize_exploration(
            self.agent, self.exploration.points, exploration_id=self.exploration_id,
            stop_reason=reason, decisions=self.exploration.decisions,
        )
        self.recorder.stop("success", reason, conditions_used=self.summary["conditions_used"],
                           msc437_window_c=self.summary["msc437_window_c"])
        self.echo(format_exploration(self.summary))
        return self.summary


def explore(session: Any, **options: Any) -> InteractiveExploration:
    """Start an exploration in IPython and show its first proposal (nothing moves yet).

    Options are those of :class:`InteractiveExploration`. Then call :func:`approve`,
    :func:`reject` or :func:`stop_exploration`.
    """
    global _active
    if _active is not None and _active.summary is None:
        _active.stop("replaced by a new exploration")
    _active = InteractiveExploration(session, **options)
    _active.next()
    return _active


def _current() -> InteractiveExploration:
    if _active is None:
        raise RuntimeError("no exploration is running; start one with explore(session)")
    return _active


def approve(**edits: float):
    """Measure the waiting proposal (optionally edited: ``approve(t_nuc=285)``)."""
    return _current().approve(**edits)


def reject(reason: str) -> None:
    """Refuse the waiting proposal, saying why."""
    _current().reject(reason)


def stop_exploration(reason: str = "stopped by the operator") -> dict[str, Any]:
    """End the running exploration and return its summary."""
    return _current().stop(reason)
