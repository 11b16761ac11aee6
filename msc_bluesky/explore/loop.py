"""The exploration loop: suggest → (a person decides) → measure → ingest, until known.

Measuring is a callable, so the same loop drives a session's RunEngine, the queue server
or, in tests, anything that returns an :class:`~msc_bluesky.explore.agent.Observation`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from msc_bluesky.explore.agent import Agent, Observation, Proposal
from msc_bluesky.explore.gate import AutoGate, Decision, Gate
from msc_bluesky.explore.measure import ProposalWithdrawn
from msc_bluesky.explore.summary import diagonal_window
from msc_bluesky.limits import ConditionError

#: ``measure(condition, step, reason) -> Observation``
Measure = Callable[[dict[str, float], int, str], Observation]


def check_condition(condition: dict[str, float]) -> dict[str, float]:
    """Validate a condition exactly as the plans do (limits, types, reachable time).

    Raises
    ------
    ConditionError
        Saying what is wrong and what is allowed.
    """
    from msc_bluesky.plans.validation import normalise_condition

    return normalise_condition(condition, where="proposal")


@dataclass
class Exploration:
    """State of one exploration: the agent, how to measure, the gate, what happened.

    Attributes
    ----------
    points : list of dict
        Every measured point: its condition, the reason it was chosen, its outcome.
    decisions : list of dict
        Every proposal with its decision and who made it.
    stop_reason : str
        Why :meth:`run` ended ("" while running).
    """

    agent: Agent
    measure: Measure
    gate: Gate = field(default_factory=AutoGate)
    budget: int = 25
    recorder: Any = None
    echo: Callable[[str], None] = print
    points: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = ""
    max_rejections: int = 50
    history: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if isinstance(self.budget, bool) or not isinstance(self.budget, int) or self.budget < 1:
            raise ConditionError(
                f"budget = {self.budget!r}: give a whole number of conditions >= 1"
            )

    @property
    def conditions_used(self) -> int:
        """Conditions measured so far."""
        return len(self.points)

    def finished(self) -> tuple[bool, str]:
        """Whether the loop should stop, and why (budget, stopping rule)."""
        if self.conditions_used >= self.budget:
            return True, f"budget of {self.budget} conditions used"
        known, why = self.agent.done()
        return known, why

    def propose(self) -> Proposal | None:
        """The agent's next proposal (None when it has none left)."""
        return self.agent.suggest()

    def decide(self, proposal: Proposal, decision: Decision) -> Observation | None:
        """Carry out a decision on a proposal: measure it, or record the refusal.

        Returns
        -------
        Observation or None
            What was measured; None for a rejection or a stop.

        Raises
        ------
        ConditionError
            When an accepted or edited condition fails the plans' validation; nothing
            moved and the proposal stays open.
        """
        record = {
            "proposal": dict(proposal.condition),
            "reason": proposal.reason,
            "probability": proposal.probability,
            "decision": decision.action,
            "decision_reason": decision.reason,
            "decided_by": decision.decided_by,
        }
        if decision.action in ("reject", "stop"):
            if decision.action == "reject":
                self.agent.reject(proposal)
                self.echo(f"rejected by {decision.decided_by}: {decision.reason}")
            self.decisions.append(record)
            if self.recorder is not None:
                self.recorder.proposal(proposal, decision)
            return None
        condition = check_condition(decision.condition or proposal.condition)
        step = self.conditions_used + 1
        reason = proposal.reason if decision.action == "accept" else (
            f"{proposal.reason}; edited by {decision.decided_by}"
        )
        try:
            observation = self.measure(condition, step, reason)
        except ProposalWithdrawn as err:
            withdrawn = Decision("reject", {}, str(err), "queue")
            record.update(decision="reject", decision_reason=str(err), decided_by="queue")
            self.agent.reject(proposal)
            self.decisions.append(record)
            if self.recorder is not None:
                self.recorder.proposal(proposal, withdrawn)
            self.echo(f"rejected in the queue: {err}")
            return None
        self.agent.ingest([observation])
        self.points.append(
            {
                **condition,
                "reason": reason,
                "msc437": bool(observation.msc437),
                "msc437_absorbance": observation.msc437_absorbance,
                "nc_absorbance": observation.nc_absorbance,
                "fit_ok": observation.fit_ok,
                "raw_uid": observation.raw_uid,
                "predicted_probability": proposal.probability,
            }
        )
        window, uncertainty = diagonal_window(self.agent)
        self.history.append(
            {"conditions_used": self.conditions_used, "window": window, "uncertainty": uncertainty}
        )
        record["measured"] = condition
        record["raw_uid"] = observation.raw_uid
        self.decisions.append(record)
        if self.recorder is not None:
            self.recorder.proposal(proposal, decision, observation)
        return observation

    def run(self) -> str:
        """Loop until the stopping rule, the budget, the person or the agent ends it.

        Returns
        -------
        str
            Why it stopped (also in :attr:`stop_reason`).
        """
        rejections = 0
        while True:
            done, why = self.finished()
            if done:
                self.stop_reason = why
                break
            proposal = self.propose()
            if proposal is None:
                self.stop_reason = "no candidate left to propose"
                break
            decision = self.gate.review(proposal)
            if decision.action == "stop":
                self.decide(proposal, decision)
                self.stop_reason = f"stopped by {decision.decided_by}: {decision.reason}"
                break
            try:
                observation = self.decide(proposal, decision)
            except ConditionError as err:
                self.echo(f"not measured: {err}")
                rejections += 1
                if rejections > self.max_rejections:
                    self.stop_reason = "too many refused proposals"
                    break
                continue
            if observation is None:
                rejections += 1
                if rejections > self.max_rejections:
                    self.stop_reason = "too many refused proposals"
                    break
                continue
            mark = "CdSe-437" if observation.msc437 else "no CdSe-437"
            self.echo(
                f"[{self.conditions_used}/{self.budget}] T_nuc {observation.condition['t_nuc']:.0f}"
                f" T_growth {observation.condition['t_growth']:.0f}"
                f" t {observation.condition['reaction_time']:g} s: {mark}"
                f" (predicted P = {proposal.probability:.2f})"
            )
        return self.stop_reason
