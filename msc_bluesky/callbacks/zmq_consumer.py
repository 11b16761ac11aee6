"""Run the live analysis in its own process, fed by bluesky's 0MQ document stream.

The acquisition side publishes documents (JSON, never pickle) to a 0MQ proxy; this
process subscribes, runs :class:`LiveAnalysis` and writes the analysis runs to tiled, a
JSON-lines file and/or back to a proxy. A slow fit therefore never slows acquisition.

::

    python -m msc_bluesky.callbacks.zmq_proxy --in 127.0.0.1:5577 --out 127.0.0.1:5578
    python -m msc_bluesky.callbacks.zmq_consumer --address 127.0.0.1:5578 \\
        --tiled-uri http://127.0.0.1:8000 --api-key SECRET --table

and in the RunEngine process ``subscribe_publisher(RE, "127.0.0.1:5577")``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from event_model import compose_run

from msc_bluesky.callbacks.analysis_run import PROBE_PLAN_NAME, LiveAnalysis
from msc_bluesky.callbacks.settings import AnalysisSettings

logger = logging.getLogger(__name__)

#: Default addresses: the proxy's input (publishers) and output (consumers), loopback.
DEFAULT_IN_ADDRESS = "127.0.0.1:5577"
DEFAULT_OUT_ADDRESS = "127.0.0.1:5578"


class NumpyJSONEncoder(json.JSONEncoder):
    """JSON encoder for numpy scalars and arrays.

    event_model's ``NumpyEncoder`` imports dask on first use (~4 s), which would stall
    the first event in the RunEngine's thread; this one does not.
    """

    def default(self, obj: Any) -> Any:
        if isinstance(obj, np.ndarray | np.generic):
            return obj.tolist()
        return super().default(obj)


def serialize(doc: dict) -> bytes:
    """JSON bytes of a document (numpy arrays become lists; NaN stays NaN)."""
    return json.dumps(doc, cls=NumpyJSONEncoder).encode()


def deserialize(data: bytes) -> dict:
    """Inverse of :func:`serialize`."""
    return json.loads(data)


def check_address(address: str) -> str:
    """Validate ``host:port`` and return it.

    Raises
    ------
    ValueError
        When ``address`` is not ``host:port`` with a port in 1–65535.
    """
    host, sep, port = str(address).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"0MQ address {address!r} must be host:port, e.g. {DEFAULT_OUT_ADDRESS}")
    return f"{host}:{port}"


def make_publisher(address: str = DEFAULT_IN_ADDRESS, *, prefix: bytes = b""):
    """A bluesky 0MQ ``Publisher`` to a proxy's input, serialising with JSON.

    Parameters
    ----------
    address : str
        ``host:port`` of the proxy's input (``--in`` of ``zmq_proxy``).
    prefix : bytes
        Publisher prefix (consumers may filter on it).
    """
    from bluesky.callbacks.zmq import Publisher

    return Publisher(check_address(address), prefix=prefix, serializer=serialize)


def subscribe_publisher(RE: Any, address: str = DEFAULT_IN_ADDRESS, *, prefix: bytes = b""):
    """Publish every document of ``RE`` to the proxy at ``address``.

    Returns
    -------
    (token, publisher)
        ``RE.unsubscribe(token)`` and ``publisher.close()`` undo it.
    """
    publisher = make_publisher(address, prefix=prefix)
    return RE.subscribe(publisher), publisher


def probe_start_document() -> dict:
    """A start document with ``plan_name`` "msc_probe": consumers report it, never analyse it."""
    return compose_run(metadata={"plan_name": PROBE_PLAN_NAME}).start_doc


def wait_for_consumer(
    publisher: Callable[[str, dict], Any],
    is_ready: Callable[[], bool],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
) -> int:
    """Send probe documents until ``is_ready()`` (0MQ drops messages before subscription).

    Parameters
    ----------
    publisher : callable
        ``publisher(name, doc)``, e.g. from :func:`make_publisher`.
    is_ready : callable
        Returns True once the consumer has reported a probe (it prints ``probe <uid>``).
    timeout, interval : float
        Seconds to give up after, and between probes.

    Returns
    -------
    int
        Number of probes sent.

    Raises
    ------
    TimeoutError
        If the consumer never reported a probe.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    sent = 0
    while not is_ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no 0MQ consumer answered {sent} probes within {timeout} s")
        publisher("start", probe_start_document())
        sent += 1
        pause.wait(interval)
    return sent


class JsonLinesEmitter:
    """``emit(name, doc)`` appending ``{"name": ..., "doc": ...}`` lines to a file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: TextIO = self.path.open("a", encoding="utf-8")

    def __call__(self, name: str, doc: dict) -> None:
        self._file.write(json.dumps({"name": name, "doc": doc}, cls=NumpyJSONEncoder) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


class _Fanout:
    def __init__(self, targets: Sequence[Callable[[str, dict], Any]]) -> None:
        self.targets = list(targets)

    def __call__(self, name: str, doc: dict) -> None:
        for target in self.targets:
            try:
                target(name, doc)
            except Exception:
                logger.exception("analysis output %r failed on a %r document", target, name)


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()


def run_consumer(
    address: str,
    emit: Callable[[str, dict], Any],
    *,
    settings: AnalysisSettings | dict | None = None,
    prefix: bytes = b"",
    max_runs: int | None = None,
    listeners: Sequence[Callable] = (),
    out: TextIO | None = None,
) -> int:
    """Subscribe to a 0MQ proxy and analyse every raw run until interrupted.

    Parameters
    ----------
    address : str
        ``host:port`` of the proxy's output.
    emit : callable
        Receives the analysis runs' documents.
    settings : AnalysisSettings or dict, optional
        Live-analysis settings.
    prefix : bytes
        Only documents published with this prefix (all when empty).
    max_runs : int, optional
        Return after this many raw runs have stopped (default: run forever).
    listeners : sequence of callable
        :class:`LiveAnalysis` listeners (e.g. a ``LiveTable``).
    out : text stream, optional
        Where status lines go (``probe <uid>``, ``raw run <uid> stopped``); stdout.

    Returns
    -------
    int
        Number of raw runs analysed.
    """
    from bluesky.callbacks.zmq import RemoteDispatcher

    out = out or sys.stdout
    dispatcher = RemoteDispatcher(check_address(address), prefix=prefix, deserializer=deserialize)
    live = LiveAnalysis(emit, settings, listeners=listeners)
    finished: list[str] = []

    def watch(name: str, doc: dict) -> None:
        if name == "start" and doc.get("plan_name") == PROBE_PLAN_NAME:
            print(f"probe {doc['uid']}", file=out, flush=True)
            return
        live(name, doc)
        if name == "stop" and doc.get("run_start") in live.analysis_uids:
            finished.append(doc["run_start"])
            print(f"raw run {doc['run_start']} stopped", file=out, flush=True)
            if max_runs is not None and len(finished) >= max_runs:
                dispatcher.loop.call_soon(_cancel_all, dispatcher.loop)

    dispatcher.subscribe(watch)
    print(f"msc analysis consumer subscribed to tcp://{address}", file=out, flush=True)
    try:
        dispatcher.start()
    except (asyncio.CancelledError, KeyboardInterrupt):
        pass
    return len(finished)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m msc_bluesky.callbacks.zmq_consumer",
        description="Live MSC/NC analysis of documents from a bluesky 0MQ proxy.",
    )
    parser.add_argument(
        "--address",
        default=DEFAULT_OUT_ADDRESS,
        type=check_address,
        help=f"proxy output host:port (default {DEFAULT_OUT_ADDRESS})",
    )
    parser.add_argument("--prefix", default="", help="publisher prefix to accept")
    parser.add_argument("--tiled-uri", help="write analysis runs to this tiled server")
    parser.add_argument("--api-key", help="tiled API key")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="events per tiled write (default 1: results visible at once)",
    )
    parser.add_argument("--jsonl", type=Path, help="append analysis documents to this file")
    parser.add_argument(
        "--publish",
        type=check_address,
        help="also publish analysis documents to this proxy input host:port",
    )
    parser.add_argument(
        "--settings",
        type=json.loads,
        default=None,
        help='JSON object of AnalysisSettings, e.g. \'{"q_key": "q"}\'',
    )
    parser.add_argument("--table", action="store_true", help="print a running result table")
    parser.add_argument("--max-runs", type=int, help="exit after this many raw runs")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    if not (args.tiled_uri or args.jsonl or args.publish or args.table):
        parser.error("give at least one output: --tiled-uri, --jsonl, --publish or --table")
    if args.api_key and not args.tiled_uri:
        parser.error("--api-key needs --tiled-uri")
    if args.max_runs is not None and args.max_runs < 1:
        parser.error("--max-runs must be a positive integer")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m msc_bluesky.callbacks.zmq_consumer``."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    settings = AnalysisSettings.coerce(args.settings)
    outputs: list[Callable[[str, dict], Any]] = []
    closers: list[Callable[[], Any]] = []
    if args.jsonl:
        jsonl = JsonLinesEmitter(args.jsonl)
        outputs.append(jsonl)
        closers.append(jsonl.close)
    if args.tiled_uri:
        from bluesky_tiled_plugins import TiledWriter

        outputs.append(
            TiledWriter.from_uri(args.tiled_uri, api_key=args.api_key, batch_size=args.batch_size)
        )
    if args.publish:
        publisher = make_publisher(args.publish, prefix=args.prefix.encode())
        outputs.append(publisher)
        closers.append(publisher.close)
    listeners = []
    if args.table:
        from msc_bluesky.callbacks.live_table import LiveTable

        listeners.append(LiveTable())

    def terminate(signum, frame):  # SIGTERM ends the consumer like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        run_consumer(
            args.address,
            _Fanout(outputs),
            settings=settings,
            prefix=args.prefix.encode(),
            max_runs=args.max_runs,
            listeners=listeners,
        )
    finally:
        for close in closers:
            close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
