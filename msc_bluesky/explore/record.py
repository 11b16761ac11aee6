"""Proposals, decisions and who made them, stored in tiled next to the runs they led to.

An exploration is one run (``plan_name`` ``"msc_exploration"``) written through the
session's journalled writer: its start document holds the objective and the space, its
``proposals`` stream one event per proposal (the condition, the predicted outcome, the
reason, the decision, who decided, and the raw run it led to), and its stop document the
summary figures.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from msc_bluesky.explore.agent import Observation, Proposal
from msc_bluesky.explore.gate import Decision

#: ``start["plan_name"]`` of an exploration record.
EXPLORATION_PLAN_NAME = "msc_exploration"
#: Stream holding one event per proposal.
PROPOSALS_STREAM = "proposals"

_NUMBER = {"dtype": "number", "shape": [], "source": "explorer"}
_STRING = {"dtype": "string", "shape": [], "source": "explorer"}
_BOOL = {"dtype": "boolean", "shape": [], "source": "explorer"}
DATA_KEYS: dict[str, dict[str, Any]] = {
    "step": {"dtype": "integer", "shape": [], "source": "explorer"},
    "t_nuc": _NUMBER,
    "t_growth": _NUMBER,
    "reaction_time": _NUMBER,
    "probability": _NUMBER,
    "uncertainty": _NUMBER,
    "reason": _STRING,
    "decision": _STRING,
    "decision_reason": _STRING,
    "decided_by": _STRING,
    "measured_t_nuc": _NUMBER,
    "measured_t_growth": _NUMBER,
    "measured_reaction_time": _NUMBER,
    "raw_uid": _STRING,
    "msc437_detected": _BOOL,
    "msc437_absorbance": _NUMBER,
}


class ExplorationRecorder:
    """Writes an exploration's documents to ``emit(name, doc)`` (e.g. the session writer).

    Parameters
    ----------
    emit : callable
        Receives ``(name, doc)`` for every document, like a RunEngine subscriber.
    metadata : dict
        Start-document metadata (exploration id, objective, space, operator, ...).
    """

    def __init__(self, emit: Callable[[str, dict], Any], metadata: dict[str, Any]) -> None:
        from event_model import compose_run

        self.emit = emit
        self._run = compose_run(metadata={"plan_name": EXPLORATION_PLAN_NAME, **metadata})
        self.uid = self._run.start_doc["uid"]
        self.emit("start", self._run.start_doc)
        self._descriptor = self._run.compose_descriptor(
            name=PROPOSALS_STREAM, data_keys=DATA_KEYS
        )
        self.emit("descriptor", self._descriptor.descriptor_doc)
        self._step = 0
        self._stopped = False

    def proposal(
        self, proposal: Proposal, decision: Decision, observation: Observation | None = None
    ) -> None:
        """Record one proposal with its decision and, when measured, what came of it."""
        import time

        self._step += 1
        c, m = proposal.condition, (observation.condition if observation else {})
        data = {
            "step": self._step,
            "t_nuc": float(c["t_nuc"]),
            "t_growth": float(c["t_growth"]),
            "reaction_time": float(c["reaction_time"]),
            "probability": float(proposal.probability),
            "uncertainty": float(proposal.uncertainty),
            "reason": proposal.reason,
            "decision": decision.action,
            "decision_reason": decision.reason,
            "decided_by": decision.decided_by,
            "measured_t_nuc": float(m.get("t_nuc", math.nan)),
            "measured_t_growth": float(m.get("t_growth", math.nan)),
            "measured_reaction_time": float(m.get("reaction_time", math.nan)),
            "raw_uid": observation.raw_uid if observation else "",
            "msc437_detected": bool(observation.msc437) if observation else False,
            "msc437_absorbance": float(observation.msc437_absorbance) if observation else math.nan,
        }
        now = time.time()
        event = self._descriptor.compose_event(
            data=data, timestamps={k: now for k in data}, seq_num=self._step
        )
        self.emit("event", event)

    def stop(self, exit_status: str = "success", reason: str = "", **summary: Any) -> None:
        """Close the record once; ``summary`` keys go into the stop document."""
        if self._stopped:
            return
        self._stopped = True
        stop = self._run.compose_stop(exit_status=exit_status, reason=reason)
        stop.update(summary)
        self.emit("stop", stop)


def find_exploration(client: Any, exploration_id: str) -> Any:
    """The stored record of one exploration (a BlueskyRun client).

    Raises
    ------
    KeyError
        When no exploration with that id is in the store.
    """
    from tiled.queries import Key

    from msc_bluesky.storage.layout import ANALYSIS, sources

    runs = []
    for container, _ in sources(client, ANALYSIS).all():
        found = container.search(Key("start.plan_name") == EXPLORATION_PLAN_NAME).search(
            Key("start.exploration_id") == exploration_id
        )
        runs.extend(found.values())
    if not runs:
        raise KeyError(f"no exploration {exploration_id!r} in the store")
    return max(runs, key=lambda run: run.metadata["start"]["time"])
