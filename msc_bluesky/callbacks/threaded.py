"""Run a document callback on a thread of its own, so the RunEngine never waits for it.

:class:`ThreadedCallback` queues documents and hands them, in order, to the wrapped
callback on a worker thread (the live analysis: its fits then overlap the reactor's
waits). :class:`SerializedCallback` lets two threads share one callback that is not
thread-safe (the storage writer, fed by the RunEngine and by the analysis thread).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

Callback = Callable[[str, dict], Any]


class SerializedCallback:
    """``callback(name, doc)`` called under a lock: one caller at a time.

    Parameters
    ----------
    callback : callable
    """

    def __init__(self, callback: Callback) -> None:
        self.callback = callback
        self._lock = threading.Lock()

    def __call__(self, name: str, doc: dict) -> Any:
        """Pass the document on, holding the lock."""
        with self._lock:
            return self.callback(name, doc)


class ThreadedCallback:
    """Feed ``callback`` from a queue on a daemon thread; documents keep their order.

    Exceptions of the callback are logged, never raised to the caller.

    Parameters
    ----------
    callback : callable
        ``callback(name, doc)``.
    name : str
        Name of the worker thread.
    before_first : callable, optional
        Called once on the worker thread before the first document is handed on
        (documents queue meanwhile); an exception it raises is logged and ignored.
    """

    def __init__(self, callback: Callback, name: str = "msc-callback",
                 before_first: Callable[[], Any] | None = None) -> None:
        self.callback = callback
        self._before_first = before_first
        self._queue: queue.Queue = queue.Queue()
        self._idle = threading.Condition()
        self._in_flight = 0
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def __call__(self, name: str, doc: dict) -> None:
        """Queue a document (returns at once)."""
        if self._closed:
            raise RuntimeError("ThreadedCallback is closed")
        with self._idle:
            self._in_flight += 1
        self._queue.put((name, doc))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._before_first is not None:
                before, self._before_first = self._before_first, None
                try:
                    before()
                except Exception:
                    logger.exception("%r: waiting before the first document failed", self)
            try:
                self.callback(*item)
            except Exception:
                logger.exception("%r failed on a %r document", self.callback, item[0])
            finally:
                with self._idle:
                    self._in_flight -= 1
                    self._idle.notify_all()

    def flush(self, timeout: float | None = 60.0) -> bool:
        """Wait until every queued document has been handled; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._in_flight, timeout)

    def close(self, timeout: float | None = 60.0) -> bool:
        """Handle what is queued, then stop the thread; False if it did not drain."""
        if self._closed:
            return True
        drained = self.flush(timeout)
        self._closed = True
        self._queue.put(None)
        if drained:
            self._thread.join(timeout)
        return drained
