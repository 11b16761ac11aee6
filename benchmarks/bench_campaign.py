"""Wall time of the paper's campaign and where it goes.

Starts its own simulated IOC (loopback, free port) and an embedded tiled store in a
temporary directory, runs the campaign through the same code as ``msc-bluesky
campaign`` and prints the split:

- reactor waits: time the RunEngine spends waiting for the reactor and detectors
  (heater ramps and settling, flushing residence volumes, exposures), i.e. the
  simulated time divided by the time scale, plus the IOC's update granularity;
- analysis: live fits, in the RunEngine's thread;
- storage: the journalled tiled writer in the RunEngine's thread, plus draining its
  background queue at the end;
- orchestration: the rest (plans, RunEngine, Channel Access, summary).

    python benchmarks/bench_campaign.py            # the full paper campaign
    python benchmarks/bench_campaign.py --quick    # 13 conditions
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections import defaultdict

WAIT_COMMANDS = {"wait", "wait_for", "sleep"}


class Stopwatch:
    """Wraps a document callback and adds up the time spent in it."""

    def __init__(self, callback):
        self.callback = callback
        self.seconds = 0.0

    def __call__(self, name, doc):
        t0 = time.perf_counter()
        try:
            return self.callback(name, doc)
        finally:
            self.seconds += time.perf_counter() - t0


class MessageClock:
    """RunEngine msg_hook: the wall time between a wait message and the next message."""

    def __init__(self):
        self.waiting = 0.0
        self.counts = defaultdict(int)
        self._last: tuple[str, float] | None = None

    def __call__(self, msg, *args):
        now = time.perf_counter()
        if self._last is not None and self._last[0] in WAIT_COMMANDS:
            self.waiting += now - self._last[1]
        self._last = (msg.command, now)
        self.counts[msg.command] += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the reduced campaign")
    parser.add_argument("--time-scale", type=float, default=100.0)
    args = parser.parse_args()

    from msc_bluesky.campaign.definition import check_campaign, paper_campaign
    from msc_bluesky.campaign.local import connect_devices, simulated_reactor, summary_rows
    from msc_bluesky.campaign.runner import run_campaign
    from msc_bluesky.campaign.summary import summarize

    steps = paper_campaign(quick=args.quick)
    n = check_campaign(steps)
    with tempfile.TemporaryDirectory() as tmp, simulated_reactor(
        None, args.time_scale, echo=lambda line: None
    ) as prefix:
        from msc_bluesky.session import SessionConfig, build_session

        session = build_session(SessionConfig(prefix=prefix, data_dir=tmp, progress=False))
        RE = session.RE  # noqa: N806
        analysis = Stopwatch(session.live_analysis)
        storage = Stopwatch(session.writer)
        for name in ("tiled", "live_analysis"):
            RE.unsubscribe(session.tokens.pop(name))
        session.tokens["tiled"] = RE.subscribe(storage)
        session.tokens["live_analysis"] = RE.subscribe(analysis)
        clock = MessageClock()
        RE.msg_hook = clock
        connect_devices(session)

        t0 = time.perf_counter()
        outcome = run_campaign(steps, session, uuid.uuid4().hex[:12], echo=lambda line: None)
        t_run = time.perf_counter() - t0
        t1 = time.perf_counter()
        session.writer.flush(600)
        drain = time.perf_counter() - t1
        t2 = time.perf_counter()
        summary = summarize(summary_rows(session.client, outcome.campaign_id))
        t_summary = time.perf_counter() - t2
        session.close()

    total = t_run + drain + t_summary
    orchestration = t_run - clock.waiting - analysis.seconds - storage.seconds
    rows = [
        ("reactor waits (RunEngine waiting)", clock.waiting),
        ("analysis (live fits, in RE thread)", analysis.seconds),
        ("storage (journal + tiled, in RE thread)", storage.seconds),
        ("storage (draining the writer queue)", drain),
        ("orchestration (plans, RE, CA)", orchestration),
        ("summary from tiled", t_summary),
    ]
    print(f"campaign: {'quick' if args.quick else 'full'}, {n} conditions, "
          f"time scale {args.time_scale:g}, {outcome.completed_steps}/{len(steps)} steps")
    print(f"wall time {total:7.1f} s  ({total / n:.2f} s per condition; goal for the full "
          "campaign: < 300 s)")
    for label, seconds in rows:
        print(f"  {label:<42} {seconds:7.1f} s  {100 * seconds / total:5.1f} %")
    print(f"CdSe-437 window at 14 s: {summary['msc437_window_c']}")
    return 0 if not outcome.error else 1


if __name__ == "__main__":
    raise SystemExit(main())
