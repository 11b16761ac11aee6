"""ThreadedCallback keeps order and never raises to the caller; Session drains it."""

from __future__ import annotations

import threading

from msc_bluesky.callbacks.threaded import SerializedCallback, ThreadedCallback


def test_documents_arrive_in_order_on_another_thread():
    seen, threads = [], set()
    release = threading.Event()

    def slow(name, doc):
        release.wait(5)
        threads.add(threading.current_thread().name)
        seen.append((name, doc["i"]))

    cb = ThreadedCallback(slow, name="worker")
    for i in range(20):
        cb("event", {"i": i})  # returns at once although the callback blocks
    assert seen == []
    release.set()
    assert cb.flush(10)
    assert seen == [("event", i) for i in range(20)]
    assert threads == {"worker"}
    assert cb.close(5)


def test_a_failing_callback_is_logged_not_raised(caplog):
    def boom(name, doc):
        raise ValueError("bad document")

    cb = ThreadedCallback(boom)
    cb("start", {})
    assert cb.flush(5)
    assert "bad document" in caplog.text
    cb.close(5)


def test_serialized_callback_lets_one_caller_in_at_a_time():
    inside, most = [0], [0]
    lock = threading.Lock()

    def count(name, doc):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        threading.Event().wait(0.001)
        with lock:
            inside[0] -= 1

    cb = SerializedCallback(count)
    workers = [threading.Thread(target=lambda: [cb("event", {}) for _ in range(20)])
               for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(10)
    assert most[0] == 1
