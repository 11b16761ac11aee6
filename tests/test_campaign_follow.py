"""``follow_queue``: what ``campaign --queue --wait`` reports while the queue runs (fake API)."""

from __future__ import annotations

from msc_bluesky.campaign.runner import follow_queue


class ScriptedQueue:
    """A stand-in for REManagerAPI whose history grows by one item per status call."""

    def __init__(self, results: list[tuple[str, dict]], queued_after: list[str]) -> None:
        self.results = results
        self.history: list[dict] = []
        self.queued_after = queued_after

    def status(self):
        if self.results:
            uid, result = self.results.pop(0)
            self.history.append({"item_uid": uid, "name": "condition_scan", "result": result,
                                 "kwargs": {"md": {"campaign_step": f"step {uid}"}}})  # fmt: skip
        state = "executing_queue" if self.results else "idle"
        return {"plan_history_uid": str(len(self.history)), "manager_state": state}

    def history_get(self):
        return {"items": [{"item_uid": "other", "name": "count", "result": {}}, *self.history]}

    def queue_get(self):
        return {"items": [{"item_uid": u} for u in self.queued_after]}


def test_every_item_completed_gives_the_run_uids_in_order():
    api = ScriptedQueue([("a", {"exit_status": "completed", "run_uids": ["r1"]}),
                         ("b", {"exit_status": "completed", "run_uids": ["r2", "r3"]})], [])
    lines: list[str] = []
    outcome = follow_queue(api, ["a", "b"], "c1", echo=lines.append, poll_s=0)
    assert outcome.error == "" and outcome.completed_steps == 2
    assert outcome.run_uids == ["r1", "r2", "r3"]
    assert lines == ["[1/2] step a: completed", "[2/2] step b: completed"]


def test_a_failed_item_ends_following_with_its_message():
    api = ScriptedQueue([("a", {"exit_status": "completed", "run_uids": ["r1"]}),
                         ("b", {"exit_status": "failed", "msg": "Traceback ...\n"
                                "ValueError: t_nuc 500 is outside 20–360 °C"})], ["b", "c"])
    outcome = follow_queue(api, ["a", "b", "c"], "c1", echo=lambda line: None, poll_s=0)
    assert outcome.completed_steps == 1 and outcome.run_uids == ["r1"]
    assert outcome.error == "condition_scan failed: ValueError: t_nuc 500 is outside 20–360 °C"


def test_a_queue_stopped_by_hand_is_reported_not_waited_for_forever():
    api = ScriptedQueue([("a", {"exit_status": "completed", "run_uids": ["r1"]})], ["b"])
    outcome = follow_queue(api, ["a", "b"], "c1", echo=lambda line: None, poll_s=0)
    assert "1 of the campaign's items not run" in outcome.error
    assert "still queued" in outcome.error
