"""Watch runs from a 0MQ document stream: BestEffortCallback table and plots, live analysis.

The documents of the queue worker or of any session that publishes (JSON, see
:mod:`msc_bluesky.callbacks.zmq_consumer`) arrive on a loopback 0MQ proxy. A receiver
thread subscribes with bluesky's ``RemoteDispatcher`` and hands the documents over a
queue to the main thread, which feeds the viewers and, when plots are on, lets
matplotlib process its GUI events between documents (GUI toolkits want the main thread).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from msc_bluesky.callbacks.analysis_run import PROBE_PLAN_NAME
from msc_bluesky.callbacks.zmq_consumer import check_address, deserialize

logger = logging.getLogger(__name__)

Viewer = Callable[[str, dict], Any]


class DocumentReceiver:
    """A thread that subscribes to a 0MQ proxy's output and queues ``(name, doc)`` pairs.

    Parameters
    ----------
    address : str
        ``host:port`` of the proxy's output.
    prefix : bytes
        Only documents published with this prefix (all when empty).
    """

    def __init__(self, address: str, prefix: bytes = b"") -> None:
        self.address = check_address(address)
        self.prefix = prefix
        self.documents: queue.Queue[tuple[str, dict]] = queue.Queue()
        self._dispatcher = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-receiver", daemon=True)

    def _run(self) -> None:
        from bluesky.callbacks.zmq import RemoteDispatcher

        self._dispatcher = RemoteDispatcher(
            self.address, prefix=self.prefix, deserializer=deserialize
        )
        self._dispatcher.subscribe(lambda name, doc: self.documents.put((name, doc)))
        self._ready.set()
        try:
            self._dispatcher.start()
        except (asyncio.CancelledError, RuntimeError):
            pass

    def start(self, timeout: float = 10.0) -> DocumentReceiver:
        """Start the thread and wait until it has subscribed."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"could not subscribe to tcp://{self.address} in {timeout} s")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel the dispatcher's polling (it then closes its socket) and join the thread."""
        if self._dispatcher is not None and not self._dispatcher.closed:
            loop = self._dispatcher.loop
            try:
                loop.call_soon_threadsafe(_cancel_tasks, loop)
            except RuntimeError:  # the loop is closed already
                pass
        self._thread.join(timeout)


def _cancel_tasks(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()


def best_effort_callback(*, plots: bool, table: bool = True):
    """bluesky's BestEffortCallback for documents fed from the main thread.

    Parameters
    ----------
    plots : bool
        Plot hinted fields (needs a display); tables only when False.
    table : bool
        Print the running table of hinted fields.
    """
    from bluesky.callbacks.best_effort import BestEffortCallback

    bec = BestEffortCallback(use_teleporter=False, table_enabled=table)
    if not plots:
        bec.disable_plots()
    return bec


def analysis_viewer(*, plots: bool, out: TextIO | None = None):
    """Live analysis of raw runs shown as a result table (and plots), stored nowhere."""
    from msc_bluesky.callbacks.analysis_run import LiveAnalysis
    from msc_bluesky.callbacks.live_table import LiveTable

    listeners: list[Any] = [LiveTable(file=out)]
    if plots:
        from msc_bluesky.callbacks.live_plot import LivePlot

        listeners.append(LivePlot())
    return LiveAnalysis(lambda name, doc: None, listeners=listeners)


def view_stream(
    receiver: DocumentReceiver,
    viewers: Sequence[Viewer],
    *,
    plots: bool = False,
    max_runs: int | None = None,
    stop: threading.Event | None = None,
    out: TextIO | None = None,
) -> int:
    """Feed every received document to ``viewers`` until ``max_runs`` runs have stopped.

    Probe runs (``plan_name`` "msc_probe", sent by publishers to check the path) are
    announced as ``probe <uid>`` and not shown. A viewer that raises is logged and
    skipped for that document; the stream goes on.

    Returns
    -------
    int
        Number of runs that stopped.
    """
    out = out or sys.stdout
    stop = stop or threading.Event()
    probes: set[str] = set()
    finished = 0
    if plots:
        import matplotlib.pyplot as plt

        plt.ion()
    while not stop.is_set():
        try:
            name, doc = receiver.documents.get(timeout=0.05)
        except queue.Empty:
            if plots:
                plt.pause(0.05)  # let the GUI draw and respond
            continue
        if name == "start" and doc.get("plan_name") == PROBE_PLAN_NAME:
            probes.add(doc["uid"])
            print(f"probe {doc['uid']}", file=out, flush=True)
            continue
        if doc.get("run_start") in probes:
            continue
        for viewer in viewers:
            try:
                viewer(name, doc)
            except Exception:
                logger.exception("live viewer %r failed on a %r document", viewer, name)
        if name == "start":
            print(
                f"run {doc['uid'][:8]} started: {doc.get('plan_name', '?')} "
                f"(scan {doc.get('scan_id', '?')})",
                file=out, flush=True,
            )  # fmt: skip
        if name == "stop":
            finished += 1
            print(
                f"run {doc['run_start'][:8]} stopped: {doc.get('exit_status')}",
                file=out, flush=True,
            )  # fmt: skip
            if max_runs is not None and finished >= max_runs:
                break
    return finished
