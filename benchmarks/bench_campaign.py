"""Wall time of the paper's campaign, each share next to its physical floor.

Does what ``msc-bluesky campaign`` does, in the same order and through the same code
(simulated IOC on loopback and a free port, embedded tiled store in a temporary
directory, live analysis, summary, report figures), and prints:

- start-up: from the start of this script to connected devices (imports, IOC start,
  catalogue), floor 0, goal < 5 s;
- per condition: the campaign's wall time divided by the conditions, next to the
  physical floor computed from the reactor geometry, the heater ramp/settle settings,
  the detectors' exposures and the time scale: heater ramp + settle, the volumes
  flushed (``residence_volumes``, or ``steady_volumes`` recorded in each event with
  ``--steady signal``) times the residence time, and one acquisition, divided by the
  time scale. Goal: overhead beyond the floor <= 20 %;
- storage finish: from the last measurement to everything in tiled, goal <= 2 s;
- figures: the report's PNG files from the store, goal < 5 s;
- inside the campaign: RunEngine waiting, live analysis (on its own thread, as in
  ``msc-bluesky campaign``, or in the RunEngine's with ``--analysis-in-re``),
  orchestration; then the campaign's wall time by step of a condition (the reactor
  watch's phase and the kind of message: settle wait, sets, flush wait, signal-wait
  measurements and their reads, acquisition, event).

    python benchmarks/bench_campaign.py                    # the full paper campaign
    python benchmarks/bench_campaign.py --quick            # 13 conditions
    python benchmarks/bench_campaign.py --steady fixed     # the fixed 3-volume wait
    python benchmarks/bench_campaign.py --profile out.prof # cProfile of the whole run
    python benchmarks/bench_campaign.py --startup-only     # start-up only (seconds)
"""

from __future__ import annotations

import time

T_SCRIPT = time.perf_counter()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import uuid  # noqa: E402
from collections import defaultdict  # noqa: E402

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
    """RunEngine msg_hook: the wall time between a wait message and the next message.

    It also adds up, per step of a condition, the wall time from each message to the
    next (what the RunEngine spent on that message, waits included): the step is the
    reactor watch's phase (``settle``, ``flush``, ``acquisition``) and, inside it, what
    the message does (see :meth:`step`).
    """

    def __init__(self):
        self.waiting = 0.0
        self.counts = defaultdict(int)
        self.steps: dict[str, float] = defaultdict(float)
        self.step_counts: dict[str, int] = defaultdict(int)
        self._last: tuple[str, float, str] | None = None
        self._phase = "other"

    def step(self, msg) -> str:
        """The step a message belongs to (keys of :attr:`steps`)."""
        name = getattr(msg.obj, "name", "") or ""
        if msg.command == "set" and name == "reactor_watch" and msg.args:
            self._phase = str(msg.args[0])
        group = str(msg.kwargs.get("group") or "")
        if msg.command in WAIT_COMMANDS:
            if group.startswith("steady-"):
                return "flush: signal-wait measurement (wait)"
            return f"{self._phase}: wait"
        if msg.command == "read" and self._phase == "flush":
            what = "pumped totals" if "dispensed" in name else "spectra/curves"
            return f"flush: read {what}"
        if msg.command in ("trigger", "set", "read", "save", "create"):
            return f"{self._phase}: {msg.command}"
        return "other messages (checkpoints, suspenders, watch, runs)"

    def __call__(self, msg, *args):
        now = time.perf_counter()
        if self._last is not None:
            command, then, step = self._last
            if command in WAIT_COMMANDS:
                self.waiting += now - then
            self.steps[step] += now - then
            self.step_counts[step] += 1
        self._last = (msg.command, now, self.step(msg))
        self.counts[msg.command] += 1


class Conditions:
    """Collects what each raw event measured: setpoints, detectors and steady volumes."""

    def __init__(self):
        self.rows: list[dict] = []
        self.last_event = None
        self._raw: dict[str, dict] = {}
        self._primary: dict[str, dict] = {}

    def __call__(self, name, doc):
        if name == "start" and doc.get("plan_name") != "msc_analysis":
            self._raw[doc["uid"]] = doc
        elif name == "descriptor" and doc.get("run_start") in self._raw:
            if doc.get("name") == "primary":
                self._primary[doc["uid"]] = self._raw[doc["run_start"]]
        elif name == "event" and doc.get("descriptor") in self._primary:
            start = self._primary[doc["descriptor"]]
            data = doc["data"]
            self.rows.append({
                "t_nuc": data["reactor_t_nuc_setpoint"],
                "t_growth": data["reactor_t_growth_setpoint"],
                "reaction_time": data["reactor_reaction_time_setpoint"],
                "detectors": tuple(start.get("detectors", ())),
                "volumes": data.get(
                    "steady_volumes", start["plan_args"].get("residence_volumes", 3)),
                "rule": data.get("steady_rule", "fixed"),
            })
            self.last_event = time.perf_counter()


def reactor_floor(session, rows, time_scale: float) -> list[float]:
    """Physical floor (wall s) of each measured condition, from geometry and settings."""
    r = session.reactor
    volume = float(r.volume_nuc.get()) + float(r.volume_growth.get())
    one = volume + float(r.volume_transfer.get())
    zones = {"t_nuc": r.t_nuc, "t_growth": r.t_growth}
    ramp = {k: float(h.ramp_rate.get()) for k, h in zones.items()}
    settle = max(float(h.settle_duration.get()) for h in zones.values())
    exposure = {
        "uvvis": float(session.uvvis.integration_time.get()) * float(session.uvvis.averages.get()),
        "saxs": float(session.saxs.exposure_time.get()),
    }
    temps = {"t_nuc": 25.0, "t_growth": 25.0}
    floors = []
    for row in rows:
        heat = max(abs(row[k] - temps[k]) / ramp[k] for k in zones) + settle
        temps = {k: row[k] for k in zones}
        flush = float(row["volumes"]) * row["reaction_time"] * one / volume
        acquire = max((exposure.get(d, 0.0) for d in row["detectors"]), default=0.0)
        floors.append((heat + flush + acquire) / time_scale)
    return floors


class StoreClock:
    """When the store, opening in the background (``store_in_background``), was open."""

    def __init__(self, session):
        self.at = time.perf_counter() if session.client is not None else None
        future = getattr(session.writer, "_client_future", None)
        if future is not None:
            future.add_done_callback(lambda f: setattr(self, "at", time.perf_counter()))

    def line(self, t_ready: float) -> str:
        if self.at is None:
            return f"{'store open (in the background)':<34} {'-':>8}"
        after = max(0.0, self.at - t_ready)
        return (f"{'store open (in the background)':<34} {self.at - T_SCRIPT:8.2f} "
                f"{0.0:8.2f} {'-':>6}  ({after:.2f} s after the devices connected; "
                "documents are journalled meanwhile)")


def _startup_line(startup: float, cpu: float) -> str:
    return (f"{'start-up (to connected devices)':<34} {startup:8.2f} {0.0:8.2f} {'-':>6}  "
            f"< 5 s (CPU {cpu:.1f} s in this process; load {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} cores)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the reduced campaign")
    parser.add_argument("--time-scale", type=float, default=100.0)
    parser.add_argument("--steady", choices=("fixed", "signal"), default="signal",
                        help="wait before each measurement (default signal, as the CLI)")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the run")
    parser.add_argument("--analysis-in-re", action="store_true",
                        help="run the live analysis in the RunEngine's thread (the "
                             "session default) instead of its own (the campaign's)")
    parser.add_argument("--batch-size", type=int, default=0,
                        help="events per tiled write (default: the campaign's)")
    parser.add_argument("--figures-from-store", action="store_true",
                        help="read every run back from tiled for the figures "
                             "(`msc-bluesky report`), not the campaign's documents")
    parser.add_argument("--store-in-process", action="store_true",
                        help="open the embedded store in this process (`campaign "
                             "--store-in-process`) instead of a served one in a child")
    parser.add_argument("--startup-only", action="store_true",
                        help="stop after start-up (connected devices): print its wall "
                             "and CPU time, run no conditions")
    args = parser.parse_args()
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        return run(args)
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
            print(f"profile written to {args.profile} (python -m pstats {args.profile})")


def run(args) -> int:
    from msc_bluesky.campaign.definition import check_campaign, paper_campaign, with_steady
    from msc_bluesky.campaign.local import (
        CAMPAIGN_BATCH_SIZE,
        connect_devices,
        launched_reactor,
        summary_rows,
    )
    from msc_bluesky.campaign.runner import run_campaign

    # The IOC and the store's server (held until the campaign is accepted) start first,
    # as in `msc-bluesky campaign`: checking the campaign imports the plans (bluesky,
    # ophyd: about a second) while they start on the other core.
    with tempfile.TemporaryDirectory() as tmp, launched_reactor(
        None, args.time_scale, echo=lambda line: None
    ) as reactor_ioc, contextlib.ExitStack() as stack:
        served = None
        if not args.store_in_process:  # unless asked to open the store in this process
            from msc_bluesky.storage.served_store import ServedStore

            served = ServedStore(tmp).launch(hold=True)
            stack.callback(served.stop)
        steps = with_steady(paper_campaign(quick=args.quick), args.steady)
        n = check_campaign(steps)
        if served is not None:
            served.start()
        from msc_bluesky.session import SessionConfig, build_session
        from msc_bluesky.storage.report.live import LiveRecords
        batch = args.batch_size or CAMPAIGN_BATCH_SIZE
        session = build_session(SessionConfig(prefix=reactor_ioc.prefix, data_dir=tmp,
                                              tiled_uri=served and served.uri,
                                              api_key=served and served.api_key,
                                              progress=False, batch_size=batch,
                                              analysis_thread=not args.analysis_in_re),
                                store_in_background=True,
                                before_devices=reactor_ioc.wait_ready,
                                store_after_devices=served is None,
                                before_store=served and served.wait_ready)
        store_open = StoreClock(session)
        RE = session.RE  # noqa: N806
        analysis = Stopwatch(session.live_analysis)
        if session.analysis_thread is not None:  # as `msc-bluesky campaign`
            session.analysis_thread.callback = analysis
        else:
            RE.unsubscribe(session.tokens.pop("live_analysis"))
            session.tokens["live_analysis"] = RE.subscribe(analysis)
        conditions = Conditions()
        RE.subscribe(conditions)
        campaign_id = uuid.uuid4().hex[:12]
        live = LiveRecords(campaign_id)  # the report's records, as `msc-bluesky campaign`
        RE.subscribe(live)
        session.live_analysis.add_output(live)
        clock = MessageClock()
        RE.msg_hook = clock
        connect_devices(session)
        t_ready = time.perf_counter()
        cpu_ready = time.process_time()  # this process's CPU seconds (all threads)
        if args.startup_only:
            session.store_ready()
            print(_startup_line(t_ready - T_SCRIPT, cpu_ready))
            print(store_open.line(t_ready))
            session.close()
            return 0

        outcome = run_campaign(steps, session, campaign_id, echo=lambda line: None)
        from msc_bluesky.campaign.summary import summarize  # as the CLI: after the campaign

        t_run = time.perf_counter() - t_ready
        t1 = time.perf_counter()
        session.drain(600)
        t_stored = time.perf_counter()
        drain = t_stored - t1
        storage_finish = t_stored - (conditions.last_event or t1)
        summary = summarize(summary_rows(session.client, outcome.campaign_id))
        t_summary = time.perf_counter() - t_stored
        t2 = time.perf_counter()
        from msc_bluesky.storage.report import write_report
        from msc_bluesky.storage.report.write import figures_from_records

        if args.figures_from_store:
            written = write_report(session.client, tmp + "/report",
                                   campaign=outcome.campaign_id, echo=lambda line: None)
        else:
            written = figures_from_records(live.records(), tmp + "/report",
                                           echo=lambda line: None)
        t_figures = time.perf_counter() - t2
        floors = reactor_floor(session, conditions.rows, args.time_scale)
        session.close()

    startup = t_ready - T_SCRIPT
    in_re = 0.0 if session.analysis_thread is not None else analysis.seconds
    orchestration = t_run - clock.waiting - in_re
    floor = sum(floors)
    per_condition = t_run / n
    rules = defaultdict(int)
    for row in conditions.rows:
        rules[row["rule"]] += 1
    volumes = sum(float(r["volumes"]) for r in conditions.rows) / max(len(conditions.rows), 1)
    print(f"campaign: {'quick' if args.quick else 'full'}, {n} conditions, "
          f"time scale {args.time_scale:g}, steady {args.steady} "
          f"({', '.join(f'{k}: {v}' for k, v in sorted(rules.items()))}; "
          f"{volumes:.2f} volumes on average), {outcome.completed_steps}/{len(steps)} steps, "
          f"tiled batch {batch}, store "
          f"{'in this process' if served is None else 'served by a child process'}")
    print(f"{'share':<34} {'wall s':>8} {'floor s':>8} {'ratio':>6}  goal")
    print(_startup_line(startup, cpu_ready))
    print(store_open.line(t_ready))
    print(f"{'campaign (all conditions)':<34} {t_run:8.2f} {floor:8.2f} "
          f"{t_run / floor:6.2f}  overhead <= 20 %")
    print(f"{'  per condition':<34} {per_condition:8.3f} {floor / n:8.3f} "
          f"{t_run / floor:6.2f}  ({100 * (t_run / floor - 1):.0f} % overhead)")
    print(f"{'storage finish (after last event)':<34} {storage_finish:8.2f} {0.0:8.2f} "
          f"{'-':>6}  <= 2 s")
    print(f"{'summary from tiled':<34} {t_summary:8.2f} {0.0:8.2f} {'-':>6}")
    print(f"{'figures (' + str(len(written)) + ' PNG)':<34} {t_figures:8.2f} {0.0:8.2f} "
          f"{'-':>6}  < 5 s")
    total = time.perf_counter() - T_SCRIPT
    print(f"{'total (script start to end)':<34} {total:8.2f} {floor:8.2f} {total / floor:6.2f}")
    print("inside the campaign:")
    for label, seconds in (
        ("RunEngine waiting (reactor, detectors)", clock.waiting),
        ("live analysis in the RE thread", in_re),
        ("orchestration (plans, RE, CA, storage)", orchestration),
        ("live analysis on its thread (overlaps)", analysis.seconds - in_re),
        ("storage drain after the campaign", drain),
    ):
        print(f"  {label:<42} {seconds:7.2f} s  {100 * seconds / t_run:5.1f} %")
    print("inside the campaign, by step (wall s from each message to the next; per "
          "condition in ms):")
    for step, seconds in sorted(clock.steps.items(), key=lambda kv: -kv[1]):
        if seconds >= 0.005 * t_run:
            print(f"  {step:<54} {seconds:6.2f} s  {1000 * seconds / n:6.1f} ms  "
                  f"({clock.step_counts[step]} messages)")
    print(f"CdSe-437 window at 14 s: {summary['msc437_window_c']}")
    return 0 if not outcome.error else 1


if __name__ == "__main__":
    raise SystemExit(main())
