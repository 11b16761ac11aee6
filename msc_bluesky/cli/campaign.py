"""``msc-bluesky campaign``: run the paper's campaign on the simulated reactor."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import uuid
from pathlib import Path

from msc_bluesky.cli.store_options import add_store_arguments

HELP = "run the paper's campaign (simulated reactor + embedded tiled store by default)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``msc-bluesky campaign``."""
    add_store_arguments(parser, "the campaign's runs and the local backup")
    parser.add_argument("--quick", action="store_true",
                        help="a reduced campaign through the same code path (13 conditions)")
    parser.add_argument("--file", metavar="FILE",
                        help="campaign from a YAML (steps: or conditions:) or CSV file")
    parser.add_argument("--summary-json", metavar="FILE",
                        help="also write the summary as JSON")
    parser.add_argument("--report-dir", default="msc_report",
                        help="where the report figures go (default ./msc_report)")
    parser.add_argument("--no-report", action="store_true", help="skip the figures")
    parser.add_argument("--prefix", help="PV prefix of a running IOC (default: start one)")
    parser.add_argument("--time-scale", type=float, default=100.0,
                        help="simulated seconds per wall second for the started IOC "
                             "(default 100)")
    parser.add_argument("--steady", choices=("fixed", "signal"), default="signal",
                        help="wait before each measurement: 'signal' (default) ends once "
                             "successive spectra/SAXS curves agree within their noise, "
                             "after 1 and at most residence_volumes (3) volumes; 'fixed' "
                             "always flushes residence_volumes")
    parser.add_argument("--store-in-process", action="store_true",
                        help="open the embedded store inside this process instead of "
                             "serving it from a child process (`msc-bluesky serve` on "
                             "loopback, the default without --tiled-uri)")
    parser.add_argument("--queue", action="store_true",
                        help="submit the campaign to a running queue server instead")
    parser.add_argument("--zmq-control-addr", default="tcp://127.0.0.1:60615",
                        help="queue server control address (with --queue)")
    parser.add_argument("--wait", action="store_true",
                        help="with --queue: follow the queued campaign and print the summary "
                             "from the stored analysis runs, as a local run does")


class _OneLineFormatter(logging.Formatter):
    """Log records as one line each: no tracebacks on the terminal.

    Storage failures are handled (journalled, retried, reported at the end); the
    libraries below still log them with their tracebacks, which would bury the one line
    that says what to do.
    """

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord(record.__dict__)
        if record.exc_info:
            record.msg = f"{record.getMessage()} ({record.exc_info[1]!r})"
            record.args = None
        record.exc_info = record.exc_text = record.stack_info = None
        return super().format(record)


def _one_line_logging() -> None:
    root = logging.getLogger()
    if root.handlers:  # configured by the caller: leave it alone
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_OneLineFormatter("%(name)s: %(message)s"))
    root.addHandler(handler)


def run(args: argparse.Namespace) -> int:
    """Run (or queue) the campaign; print and write the summary and the figures."""
    from msc_bluesky.campaign.definition import load_campaign, paper_campaign
    from msc_bluesky.limits import ConditionError

    if not args.time_scale > 0 or args.time_scale == float("inf"):
        print(f"msc-bluesky campaign: --time-scale {args.time_scale:g} must be a finite "
              "number > 0", file=sys.stderr)
        return 2
    if args.wait and not args.queue:
        print("msc-bluesky campaign: --wait follows a queued campaign; add --queue",
              file=sys.stderr)
        return 2
    try:
        steps = load_campaign(args.file) if args.file else paper_campaign(quick=args.quick)
    except ConditionError as err:  # every malformed file: one line, status 2
        print(f"msc-bluesky campaign: {err}", file=sys.stderr)
        return 2
    if args.queue:
        steps = _checked(steps, args)
        if steps is None:
            return 2
        campaign_id = uuid.uuid4().hex[:12]
        _one_line_logging()
        return _queue_campaign(args, steps, campaign_id)
    return _run_locally(args, steps)


def _checked(steps, args: argparse.Namespace):
    """The steps with their steady rule, checked completely; None (said why) if refused."""
    from msc_bluesky.campaign.definition import check_campaign, with_steady
    from msc_bluesky.limits import ConditionError

    try:
        steps = with_steady(steps, args.steady)
        check_campaign(steps)
    except ConditionError as err:  # every bad value: one line, status 2
        print(f"msc-bluesky campaign: {err}", file=sys.stderr)
        return None
    return steps


class _HeldLines:
    """An ``echo`` that holds its lines until :meth:`release`, then prints them at once."""

    def __init__(self) -> None:
        self.lines: list[str] | None = []

    def __call__(self, line: str) -> None:
        if self.lines is None:
            print(line)
        else:
            self.lines.append(line)

    def release(self) -> None:
        for line in self.lines or ():
            print(line)
        self.lines = None


#: What starting the simulated IOC sets in this process's environment.
_CA_VARIABLES = ("EPICS_CA_ADDR_LIST", "EPICS_CA_AUTO_ADDR_LIST", "EPICS_CA_SERVER_PORT",
                 "OPHYD_CONTROL_LAYER")


def _run_locally(args: argparse.Namespace, steps) -> int:
    from msc_bluesky.campaign.local import launched_reactor

    # The IOC process and the store's server (`msc-bluesky serve` on loopback, at a
    # lower priority, off this process's GIL) start first, while this process imports
    # the plans to check the campaign (a second of imports). The server only loads its
    # code until the campaign is accepted; a refused campaign stops both at once, the
    # data directory untouched. The session connects to the store once it answers,
    # while the documents are journalled.
    echo = _HeldLines()
    saved = {k: os.environ.get(k) for k in _CA_VARIABLES}
    with launched_reactor(args.prefix, args.time_scale, echo=echo) as reactor_ioc, \
            _served_store(args) as served:
        steps = _checked(steps, args)
        if steps is None:  # this process's Channel Access settings as they were
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            return 2
        echo.release()
        if served is not None:
            served.start()
        return _run_session(args, steps, reactor_ioc, served)


@contextlib.contextmanager
def _served_store(args: argparse.Namespace):
    """The campaign's store in a child process, held until :meth:`start` (None with
    --tiled-uri or --store-in-process)."""
    if args.tiled_uri or args.store_in_process:
        yield None
        return
    from msc_bluesky.storage.served_store import ServedStore

    served = ServedStore(args.data_dir, catalog_uri=args.catalog_uri).launch(hold=True)
    try:
        yield served
    finally:
        served.stop()


def _run_session(args: argparse.Namespace, steps, reactor_ioc, served) -> int:
    from msc_bluesky.campaign.local import CAMPAIGN_BATCH_SIZE, connect_devices
    from msc_bluesky.campaign.runner import run_campaign
    from msc_bluesky.limits import ConditionError
    from msc_bluesky.session import SessionConfig, build_session

    campaign_id = uuid.uuid4().hex[:12]
    _one_line_logging()
    config = SessionConfig(
        prefix=reactor_ioc.prefix,
        data_dir=args.data_dir,
        tiled_uri=served.uri if served else args.tiled_uri,
        api_key=served.api_key if served else args.api_key,
        catalog_uri=None if served else args.catalog_uri,
        live_analysis=True,
        live_plots=False,
        progress=False,
        heartbeat_s=1.0,
        batch_size=CAMPAIGN_BATCH_SIZE,
        analysis_thread=True,
    )
    session = build_session(config, store_in_background=True,
                            before_devices=reactor_ioc.wait_ready,
                            store_after_devices=served is None,
                            before_store=served.wait_ready if served else None)
    live = _collect_records(session, campaign_id)
    try:
        try:
            connect_devices(session)
        except ConnectionError as err:
            print(f"msc-bluesky campaign: {err}", file=sys.stderr)
            return 1
        try:
            outcome = run_campaign(steps, session, campaign_id)
        except ConditionError as err:  # re-checked against the connected reactor
            print(f"msc-bluesky campaign: {err}", file=sys.stderr)
            return 2
        print("finishing storage …")
        stored = _finish_storage(session, args)
        if stored:
            stored = _summarise(session, args, campaign_id, outcome, live)
    finally:
        session.close()
    if outcome.interrupted:
        print("campaign interrupted: reactor in standby, data so far kept in "
              f"{args.data_dir}")
        return 130
    return 1 if outcome.error or not stored else 0


def _replay_hint(args: argparse.Namespace) -> str:
    where = f" --data-dir {args.data_dir}"
    if args.tiled_uri:
        where += f" --tiled-uri {args.tiled_uri}"
    return f"run `msc-bluesky replay{where}`"


def _finish_storage(session, args: argparse.Namespace) -> bool:
    """Wait for the writer; say in one line what is only in the local backup.

    Returns
    -------
    bool
        True when every run of the campaign is in tiled.
    """
    writer = session.writer
    drained = session.drain(600)
    status = writer.status
    if session.client is None:
        what = (f"the store could not be opened ({session.store_error})"
                if session.store_error else "tiled was unreachable")
        print(f"msc-bluesky campaign: {what}; all {status.kept} documents "
              f"are kept in the local backup; {_replay_hint(args)}, then `msc-bluesky report`",
              file=sys.stderr)
        return False
    if not drained:
        print("msc-bluesky campaign: tiled is still not accepting the last documents; "
              f"every document is in the local backup; {_replay_hint(args)}", file=sys.stderr)
        return False
    if status.backed_up:
        reasons = sorted(set(status.backed_up.values()))
        print(f"msc-bluesky campaign: storage failed ({reasons[0]}); {status.kept} documents "
              f"of {len(status.backed_up)} run(s) kept in the local backup; "
              f"{_replay_hint(args)}", file=sys.stderr)
        return False
    return True


def _collect_records(session, campaign_id: str):
    """Collect the report's records from the documents as the campaign runs them.

    The figures then need no second read of every run from tiled (the summary still
    comes from the store).
    """
    from msc_bluesky.storage.report.live import LiveRecords

    live = LiveRecords(campaign_id)
    session.tokens["report_records"] = session.RE.subscribe(live)
    if session.live_analysis is not None:
        session.live_analysis.add_output(live)
    return live


def _summarise(session, args: argparse.Namespace, campaign_id: str, outcome,
               live=None) -> bool:
    """Print and write the summary and figures from the stored runs; False if tiled failed.

    With ``live`` (:class:`~msc_bluesky.storage.report.live.LiveRecords`), the figures
    are drawn from the documents the campaign produced, which are the stored ones.
    """
    from msc_bluesky.campaign.local import summary_rows
    from msc_bluesky.campaign.summary import format_summary, summarize

    try:
        summary = summarize(summary_rows(session.client, campaign_id))
        summary["campaign_id"] = campaign_id
        summary["interrupted"] = outcome.interrupted
        summary["error"] = outcome.error
        print()
        print(format_summary(summary))
        if args.summary_json:
            Path(args.summary_json).write_text(json.dumps(summary, indent=2) + "\n")
            print(f"summary written to {args.summary_json}")
        if not args.no_report:
            from msc_bluesky.storage.report import write_report
            from msc_bluesky.storage.report.write import figures_from_records

            if live is not None:
                written = figures_from_records(live.records(), args.report_dir)
            else:
                written = write_report(session.client, args.report_dir, campaign=campaign_id)
            print("figures: " + ", ".join(str(p) for p in written))
    except Exception as err:  # e.g. the server went away after the last run was stored
        import httpx

        if not isinstance(err, httpx.HTTPError | ConnectionError | TimeoutError):
            raise
        print(f"msc-bluesky campaign: the runs are stored, but reading them back from tiled "
              f"failed ({type(err).__name__}: {err}); try `msc-bluesky report "
              f"--data-dir {args.data_dir}` later", file=sys.stderr)
        return False
    return True


def _queue_campaign(args: argparse.Namespace, steps, campaign_id: str) -> int:
    """Submit to ``msc-bluesky qserver``; with ``--wait``, follow it and print the summary."""
    from bluesky_queueserver_api.zmq import REManagerAPI

    from msc_bluesky.campaign.runner import follow_queue, submit_campaign
    from msc_bluesky.qserver.keys import client_public_key
    from msc_bluesky.qserver.manager import run_dir_of

    try:
        public_key = client_public_key(run_dir_of(args.data_dir))
        uids = submit_campaign(steps, campaign_id, zmq_control_addr=args.zmq_control_addr,
                               zmq_public_key=public_key)
    except Exception as err:
        print(f"msc-bluesky campaign: {err}", file=sys.stderr)
        return 1
    if not args.wait:
        print(f"campaign {campaign_id} submitted; results appear in tiled as it runs")
        return 0
    print(f"campaign {campaign_id} submitted; following it (Ctrl-C stops following, "
          "not the queue) …", flush=True)
    api = REManagerAPI(zmq_control_addr=args.zmq_control_addr, zmq_public_key=public_key)
    try:
        outcome = follow_queue(api, uids, campaign_id,
                               echo=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        print(f"stopped following; campaign {campaign_id} keeps running in the queue")
        return 130
    finally:
        api.close()
    if outcome.error:
        print(f"campaign stopped: {outcome.error}", file=sys.stderr)
    return _print_stored_summary(args, campaign_id, outcome)


def _print_stored_summary(args: argparse.Namespace, campaign_id: str, outcome) -> int:
    """The local run's summary (and figures), from the runs the queue worker stored."""
    from msc_bluesky.campaign.local import summary_rows
    from msc_bluesky.campaign.summary import format_summary, summarize
    from msc_bluesky.storage.catalog import close_client, connect, open_catalog

    client = (connect(args.tiled_uri, api_key=args.api_key) if args.tiled_uri
              else open_catalog(args.data_dir, catalog_uri=args.catalog_uri))
    try:
        summary = summarize(summary_rows(client, campaign_id))
        summary.update(campaign_id=campaign_id, interrupted=False, error=outcome.error)
        print()
        print(format_summary(summary))
        if args.summary_json:
            Path(args.summary_json).write_text(json.dumps(summary, indent=2) + "\n")
            print(f"summary written to {args.summary_json}")
        if not args.no_report:
            from msc_bluesky.storage.report import write_report

            written = write_report(client, args.report_dir, campaign=campaign_id)
            print("figures: " + ", ".join(str(p) for p in written))
    finally:
        close_client(client)
    return 1 if outcome.error else 0
