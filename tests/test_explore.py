"""The exploration core on arrays: space, agents, stopping rules, gate, record, summary.

The agents are driven here by a stand-in outcome (a window in T_nuc, like the paper's);
the real reactor, analysis and store are in tests/test_explore_integration.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from msc_bluesky.explore.agent import MapAgent, Observation, OptimumAgent, make_agent
from msc_bluesky.explore.gate import Decision, TerminalGate
from msc_bluesky.explore.loop import Exploration
from msc_bluesky.explore.record import EXPLORATION_PLAN_NAME, ExplorationRecorder
from msc_bluesky.explore.space import ExplorationSpace, paper_grid
from msc_bluesky.explore.summary import diagonal_window, summarize_exploration
from msc_bluesky.limits import ConditionError


def window_truth(low: float = 270.0, high: float = 300.0):
    def truth(condition):
        return low <= condition["t_nuc"] <= high

    return truth


def fake_measure(truth):
    def measure(condition, step, reason):
        present = truth(condition)
        return Observation(
            dict(condition),
            present,
            msc437_absorbance=0.05 if present else 0.0,
            nc_absorbance=0.2,
            raw_uid=f"raw-{step}",
        )

    return measure


def test_space_is_the_fig1_pattern_and_within_limits():
    space = ExplorationSpace(t_nuc_range=(260, 320), growth_span_c=90, resolution_c=10)
    rows = space.candidates
    assert len(space) == 70
    assert {(r["t_nuc"], r["t_growth"]) for r in paper_grid()} == {
        (float(r[0]), float(r[1])) for r in rows
    }
    assert np.all(rows[:, 1] <= rows[:, 0])


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"t_nuc_range": (250, 400)}, "outside the allowed range"),
        ({"t_nuc_range": (300, 250)}, "must not exceed"),
        ({"t_nuc_range": ("250", 300)}, "not a number"),
        ({"resolution_c": 0}, "resolution_c"),
        ({"resolution_c": True}, "not a number"),
        ({"reaction_times": ()}, "reaction_times is empty"),
        ({"reaction_times": (14, -1)}, "finite time > 0"),
        ({"t_nuc_range": (30, 40), "growth_span_c": 30}, "t_growth"),
    ],
)
def test_space_refuses_bad_options(kwargs, words):
    with pytest.raises(ConditionError, match=words):
        ExplorationSpace(**kwargs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map_agent_finds_the_window_with_a_fraction_of_the_grid(seed):
    truth = window_truth()
    agent = MapAgent(ExplorationSpace(t_nuc_range=(250, 330)), seed=seed)
    exploration = Exploration(agent, fake_measure(truth), budget=25, echo=lambda s: None)
    exploration.run()
    grid = paper_grid()
    rows = np.array([[g["t_nuc"], g["t_growth"], g["reaction_time"]] for g in grid])
    p, _ = agent.presence(rows)
    accuracy = np.mean([(pi > 0.5) == truth(g) for pi, g in zip(p, grid, strict=True)])
    window, uncertainty = diagonal_window(agent)
    assert exploration.conditions_used <= 25
    assert accuracy >= 0.95
    assert abs(window[0] - 270) <= 5 and abs(window[1] - 300) <= 5
    assert all(u >= 5 for u in uncertainty)  # no finer than half the 10 °C grid


def test_map_agent_stops_when_the_boundary_is_known_not_at_the_budget():
    agent = MapAgent(ExplorationSpace(t_nuc_range=(250, 330)), seed=0)
    exploration = Exploration(agent, fake_measure(window_truth()), budget=60, echo=lambda s: None)
    reason = exploration.run()
    assert "boundary known" in reason
    assert exploration.conditions_used < 60


def test_a_rejected_condition_is_never_proposed_again():
    agent = MapAgent(ExplorationSpace(), seed=0, n_initial=2)
    first = agent.suggest()
    agent.reject(first)
    for _ in range(5):
        nxt = agent.suggest()
        assert nxt.condition != first.condition
        agent.ingest([Observation(nxt.condition, False)])


def test_failed_fits_are_not_learned_from_but_not_measured_again():
    agent = MapAgent(ExplorationSpace(), seed=0, n_initial=2)
    p = agent.suggest()
    agent.ingest([Observation(p.condition, True, fit_ok=False)])
    assert agent.suggest().condition != p.condition
    assert not agent.model.surrogate.fitted


def test_optimum_agent_respects_the_nc_ceiling():
    def measure(condition, step, reason):
        tn, tg = condition["t_nuc"], condition["t_growth"]
        band = max(0.0, 0.1 - abs(tn - 290) / 300 - abs(tg - 280) / 600)
        nc = 0.1 + (tg - 190) / 100  # hotter ovens make more NC
        return Observation(dict(condition), band > 0.02, band, nc, raw_uid=str(step))

    agent = OptimumAgent(ExplorationSpace(), nc_ceiling=0.8, seed=0)
    Exploration(agent, measure, budget=25, echo=lambda s: None).run()
    best = agent.best()
    assert best is not None
    assert best.nc_absorbance <= 0.8
    # the unconstrained optimum (290, 280) has NC 1.0: the constrained one sits below it
    assert best.condition["t_growth"] <= 260


def test_make_agent_refuses_an_unknown_objective():
    with pytest.raises(ValueError, match="not one of map, optimum"):
        make_agent("fastest", ExplorationSpace())


def test_budget_must_be_a_positive_whole_number():
    agent = MapAgent(ExplorationSpace())
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ConditionError, match="budget"):
            Exploration(agent, fake_measure(window_truth()), budget=bad)


def test_terminal_gate_accept_edit_reject_stop():
    agent = MapAgent(ExplorationSpace(), seed=0)
    proposal = agent.suggest()
    shown = []

    def gate(answers):
        it = iter(answers)
        return TerminalGate(ask=lambda prompt: next(it), echo=shown.append, operator="ada")

    assert gate(["a"]).review(proposal).action == "accept"
    rejected = gate(["r", "oven needs cleaning"]).review(proposal)
    assert (rejected.action, rejected.reason, rejected.decided_by) == (
        "reject", "oven needs cleaning", "ada"
    )
    edited = gate(["e", "285", "", ""]).review(proposal)
    assert edited.action == "edit" and edited.condition["t_nuc"] == 285.0
    assert edited.condition["t_growth"] == proposal.condition["t_growth"]
    assert gate(["x", "q"]).review(proposal).action == "stop"
    assert any("predicted P(CdSe-437)" in line for line in shown)
    assert any("not an answer" in line for line in shown)


def test_an_edit_outside_the_limits_is_refused_before_anything_moves():
    measured = []
    agent = MapAgent(ExplorationSpace(), seed=0)
    exploration = Exploration(
        agent, lambda c, s, r: measured.append(c), budget=3, echo=lambda s: None
    )
    proposal = agent.suggest()
    bad = dict(proposal.condition, t_nuc=900.0)
    with pytest.raises(ConditionError, match="t_nuc"):
        exploration.decide(proposal, Decision("edit", bad, "", "ada"))
    assert measured == []


def test_loop_records_decisions_and_who_made_them():
    docs = []
    recorder = ExplorationRecorder(lambda name, doc: docs.append((name, doc)), {"x": 1})
    answers = iter(["accept", "reject", "accept", "stop"])

    class Scripted:
        def review(self, proposal):
            action = next(answers)
            return Decision(action, dict(proposal.condition), f"{action} it", "grace")

    agent = MapAgent(ExplorationSpace(), seed=0)
    exploration = Exploration(
        agent, fake_measure(window_truth()), Scripted(), budget=10, recorder=recorder,
        echo=lambda s: None,
    )
    reason = exploration.run()
    recorder.stop("success", reason)
    assert "stopped by grace" in reason
    assert [d["decision"] for d in exploration.decisions] == ["accept", "reject", "accept", "stop"]
    events = [doc for name, doc in docs if name == "event"]
    assert [e["data"]["decision"] for e in events] == ["accept", "reject", "accept", "stop"]
    assert {e["data"]["decided_by"] for e in events} == {"grace"}
    assert events[1]["data"]["raw_uid"] == "" and events[0]["data"]["raw_uid"] == "raw-1"
    start = docs[0][1]
    assert start["plan_name"] == EXPLORATION_PLAN_NAME
    from event_model import DocumentNames, schema_validators

    for name, doc in docs:
        schema_validators[DocumentNames[name]].validate(doc)


def test_summary_holds_what_the_issue_names():
    agent = MapAgent(ExplorationSpace(t_nuc_range=(250, 330)), seed=0)
    exploration = Exploration(agent, fake_measure(window_truth()), budget=12, echo=lambda s: None)
    exploration.run()
    summary = summarize_exploration(
        agent, exploration.points, exploration_id="abc", stop_reason=exploration.stop_reason
    )
    assert summary["conditions_used"] == exploration.conditions_used
    assert len(summary["phase_map"]) == 70
    assert set(summary["phase_map"][0]) == {"t_nuc", "t_growth", "msc437", "probability"}
    assert all(0.0 <= g["probability"] <= 1.0 for g in summary["phase_map"])
    assert all(pt["reason"] for pt in summary["points"])
    low, high = summary["msc437_window_c"]
    assert low < high
    assert len(summary["msc437_window_uncertainty_c"]) == 2


def test_ipython_approve_reject_edit_and_stop():
    from types import SimpleNamespace

    from msc_bluesky.explore import interactive

    docs, shown = [], []
    session = SimpleNamespace(writer=lambda name, doc: docs.append((name, doc)))
    ex = interactive.explore(
        session, budget=5, operator="ada", echo=shown.append,
        measure=fake_measure(window_truth()), seed=0,
    )
    first = ex.proposal
    assert first is not None and any("approve()" in s for s in shown)
    interactive.approve()
    second = ex.proposal
    interactive.reject("oven being cleaned")
    assert ex.proposal.condition != second.condition
    with pytest.raises(ValueError, match="needs a reason"):
        interactive.reject("")
    with pytest.raises(ValueError, match="cannot edit"):
        interactive.approve(pressure=2)
    interactive.approve(t_nuc=285.0)
    summary = interactive.stop_exploration()
    assert summary["conditions_used"] == 2
    assert summary["points"][1]["t_nuc"] == 285.0
    events = [d for n, d in docs if n == "event"]
    assert [e["data"]["decision"] for e in events] == ["accept", "reject", "edit"]
    assert [n for n, _ in docs][-1] == "stop"
    with pytest.raises(RuntimeError, match="no proposal is waiting"):
        interactive.approve()
