"""The signal wait on the simulated IOC over real Channel Access: the events say which
rule ended each wait, and the reactor watch still ends a faulty wait within seconds."""

from __future__ import annotations

import numpy as np
import pytest
from faults_support import Rig

from msc_bluesky.plans import condition_scan

pytestmark = pytest.mark.integration

#: A growth-temperature step of the paper grid at 14 s (one volume ~0.16 s of wall time).
CONDITIONS = [
    {"t_nuc": 280.0, "t_growth": 280.0, "reaction_time": 14.0},
    {"t_nuc": 280.0, "t_growth": 270.0, "reaction_time": 14.0},
]


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.close()


def test_signal_wait_records_the_rule_in_each_event(RE, rig):  # noqa: N803
    out = rig.run(RE, condition_scan([rig.uvvis, rig.saxs], rig.reactor, CONDITIONS,
                                     steady="signal", progress=False))
    assert out.error is None, out.error
    assert out.stop["exit_status"] == "success"
    events = [doc for name, doc in out.docs if name == "event"]
    assert len(events) == len(CONDITIONS)
    for event in events:
        data = event["data"]
        assert data["steady_rule"] in ("signal", "max_volumes")
        assert data["steady_volumes"] >= 1.0
        if data["steady_rule"] == "signal":
            assert data["steady_drift"] <= 4.0
    # After a 10 °C step of the growth oven the cap holds (plus what flows during the
    # last measurement). From cold (the first condition) the simulator computes the
    # mixed cell of a long ramp, which takes seconds while the liquid keeps flowing.
    assert events[1]["data"]["steady_volumes"] <= 3.5
    assert rig.reactor_safe()


def test_frozen_ioc_during_the_signal_wait_ends_the_run(RE, rig):  # noqa: N803
    out = rig.run(RE, condition_scan([rig.uvvis, rig.saxs], rig.reactor, CONDITIONS[:1],
                                     steady="signal", progress=False),
                  at="flush", fault=rig.freeze, delay=0.2)
    assert out.detect_s <= 10.0, out.detect_s
    assert out.stop["exit_status"] == "fail"
    assert out.stop["reason"].startswith(f"reactor IOC not responding ({rig.prefix}reactor:)")
    assert "during the flush" in out.stop["reason"]
    rig.thaw()


def test_an_event_after_a_signal_ended_wait_is_its_last_measurement(RE, rig):  # noqa: N803
    # The same condition twice: the second wait starts in a steady cell, so the signal
    # ends it. Its event holds the measurement that ended the wait (no new acquisition);
    # an event after the cap acquires anew. Counted on the IOC's own array counters.
    conditions = [CONDITIONS[0], CONDITIONS[0]]
    counters = {d.name: int(d.array_counter.get()) for d in (rig.uvvis, rig.saxs)}
    messages, docs = [], []
    RE.msg_hook = messages.append
    try:
        RE(condition_scan([rig.uvvis, rig.saxs], rig.reactor, conditions, steady="signal",
                          progress=False), lambda name, doc: docs.append((name, doc)))
    finally:
        RE.msg_hook = None
    events = [doc["data"] for name, doc in docs if name == "event"]
    assert len(events) == 2
    assert events[1]["steady_rule"] == "signal", events[1]
    capped = sum(e["steady_rule"] == "max_volumes" for e in events)
    for det in (rig.uvvis, rig.saxs):
        in_waits = sum(m.command == "trigger" and m.obj is det for m in messages)
        assert int(det.array_counter.get()) - counters[det.name] == in_waits + capped
    # no acquisition between the second wait's last comparison and its event
    create = max(i for i, m in enumerate(messages) if m.command == "create")
    compared = max(i for i, m in enumerate(messages[:create])
                   if m.command == "read" and m.obj is rig.uvvis.absorbance)
    assert not [m for m in messages[compared:create] if m.command == "trigger"
                and m.obj in (rig.uvvis, rig.saxs)]
    # the second event's spectrum is the one the IOC measured last
    last = rig.uvvis.absorbance.get()
    np.testing.assert_array_equal(np.asarray(events[1]["uvvis_absorbance"]), last)
    assert rig.reactor_safe()
