"""The human gate: a person accepts, edits or rejects each proposal before anything moves."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from msc_bluesky.explore.agent import Proposal
from msc_bluesky.explore.space import CONDITION_KEYS

#: Decisions a gate can return.
ACTIONS: tuple[str, ...] = ("accept", "edit", "reject", "stop")


@dataclass
class Decision:
    """What a person (or the automatic gate) decided about one proposal.

    Attributes
    ----------
    action : {"accept", "edit", "reject", "stop"}
    condition : dict
        The condition to measure (the proposal's, or the edited one).
    reason : str
        Why (required for a rejection, optional otherwise).
    decided_by : str
        Who decided: a user name, or ``"auto"`` without a gate.
    """

    action: str
    condition: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    decided_by: str = "auto"

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"decision {self.action!r} is not one of {', '.join(ACTIONS)}")


class Gate(Protocol):
    """Reviews a proposal; returns the decision."""

    def review(self, proposal: Proposal) -> Decision: ...


class AutoGate:
    """No person in the loop: every proposal is accepted as it is."""

    def review(self, proposal: Proposal) -> Decision:
        return Decision("accept", dict(proposal.condition), "", "auto")


def current_user() -> str:
    """The operator's login name (``"unknown"`` when it cannot be found)."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


class TerminalGate:
    """Ask at the terminal: ``a`` accept, ``e`` edit, ``r`` reject (with a reason), ``q`` stop.

    Parameters
    ----------
    ask : callable
        Reads one answer for a prompt (default :func:`input`).
    echo : callable
        Shows text to the person (default :func:`print`).
    operator : str, optional
        Recorded as who decided (default: the login name).
    """

    def __init__(
        self,
        ask: Callable[[str], str] = input,
        echo: Callable[[str], None] = print,
        operator: str | None = None,
    ) -> None:
        self.ask = ask
        self.echo = echo
        self.operator = operator or current_user()

    def review(self, proposal: Proposal) -> Decision:
        self.echo(f"proposal: {proposal.describe()}")
        while True:
            try:
                answer = self.ask("accept [a], edit [e], reject [r] or stop [q]? ").strip().lower()
            except EOFError:
                return Decision("stop", {}, "no answer (end of input)", self.operator)
            if answer in ("a", "accept", "y", "yes"):
                return Decision("accept", dict(proposal.condition), "", self.operator)
            if answer in ("r", "reject", "n", "no"):
                reason = self.ask("reason for rejecting: ").strip() or "rejected by the operator"
                return Decision("reject", {}, reason, self.operator)
            if answer in ("q", "stop", "quit"):
                return Decision("stop", {}, "stopped by the operator", self.operator)
            if answer in ("e", "edit"):
                edited = self._edit(proposal)
                if edited is not None:
                    return Decision("edit", edited, "edited by the operator", self.operator)
                continue
            self.echo(f"{answer!r} is not an answer: type a, e, r or q")

    def _edit(self, proposal: Proposal) -> dict[str, float] | None:
        condition = dict(proposal.condition)
        for key in CONDITION_KEYS:
            text = self.ask(f"{key} [{condition[key]:g}]: ").strip()
            if not text:
                continue
            try:
                condition[key] = float(text)
            except ValueError:
                self.echo(f"{key} = {text!r} is not a number; proposal unchanged")
                return None
        return condition


class PendingGate:
    """A gate answered later, from IPython: ``approve()``, ``reject(reason)``, ``edit(...)``.

    :class:`~msc_bluesky.explore.interactive.InteractiveExploration` holds the
    proposal until one of its methods is called; this gate only carries the answer.
    """

    def __init__(self, decision: Decision) -> None:
        self.decision = decision

    def review(self, proposal: Proposal) -> Decision:
        return self.decision
