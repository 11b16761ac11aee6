"""Benchmark the live analysis: what it costs the RunEngine, in process and over 0MQ.

    python benchmarks/bench_live_analysis.py [--points 20]

Prints, per raw event (1000-point spectrum + 300-point SAXS curve):

- the time ``LiveAnalysis`` spends in the RunEngine's thread (all fits + documents);
- the time a JSON 0MQ ``Publisher`` spends instead (serialise + send), which is all the
  acquisition pays when the analysis runs in ``zmq_consumer``.

Goal: the in-process analysis well under the ~1 s a real condition takes to measure;
the 0MQ publisher in the low milliseconds.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from callbacks_helpers import raw_run  # noqa: E402

from msc_bluesky.callbacks import LiveAnalysis  # noqa: E402
from msc_bluesky.callbacks.zmq_consumer import make_publisher  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _per_event_ms(callback, docs) -> list[float]:
    times = []
    for name, doc in docs:
        t0 = time.perf_counter()
        callback(name, doc)
        if name == "event":
            times.append((time.perf_counter() - t0) * 1e3)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20, help="raw events per run")
    args = parser.parse_args()
    peaks = tuple(490.0 + 4.0 * i for i in range(args.points))
    docs = raw_run(nc_peaks=peaks)

    analysed = _per_event_ms(LiveAnalysis(lambda name, doc: None).prepare(), docs)
    # A publisher with no proxy listening still serialises and queues every message.
    publisher = make_publisher(f"127.0.0.1:{_free_port()}")
    try:
        published = _per_event_ms(publisher, docs)
    finally:
        publisher.close()

    for label, values in (("in-process LiveAnalysis", analysed), ("0MQ JSON publisher", published)):
        rest = values[1:]
        print(
            f"{label:>24}: first event {values[0]:8.1f} ms (warm-up); then median "
            f"{statistics.median(rest):6.2f} ms, max {max(rest):6.2f} ms ({len(rest)} events)"
        )


if __name__ == "__main__":
    main()
