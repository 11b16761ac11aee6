"""``msc-bluesky campaign``: run the paper's campaign on the simulated reactor."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

HELP = "run the paper's campaign (simulated reactor + embedded tiled store by default)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``msc-bluesky campaign``."""
    parser.add_argument("--data-dir", default="msc_data",
                        help="embedded tiled store and local backup (default ./msc_data)")
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
    parser.add_argument("--tiled-uri", help="a running tiled server instead of the embedded store")
    parser.add_argument("--api-key", help="API key of --tiled-uri")
    parser.add_argument("--queue", action="store_true",
                        help="submit the campaign to a running queue server instead")
    parser.add_argument("--zmq-control-addr", default="tcp://127.0.0.1:60615",
                        help="queue server control address (with --queue)")
    parser.add_argument("--wait", action="store_true",
                        help="with --queue: follow the queued campaign and print the summary "
                             "from the stored analysis runs, as a local run does")


def run(args: argparse.Namespace) -> int:
    """Run (or queue) the campaign; print and write the summary and the figures."""
    from msc_bluesky.campaign.definition import check_campaign, load_campaign, paper_campaign
    from msc_bluesky.limits import ConditionError

    try:
        steps = load_campaign(args.file) if args.file else paper_campaign(quick=args.quick)
        check_campaign(steps)
    except ConditionError as err:
        print(f"msc-bluesky campaign: {err}", file=sys.stderr)
        return 2
    if args.time_scale <= 0:
        print("msc-bluesky campaign: --time-scale must be > 0", file=sys.stderr)
        return 2
    if args.wait and not args.queue:
        print("msc-bluesky campaign: --wait follows a queued campaign; add --queue",
              file=sys.stderr)
        return 2
    campaign_id = uuid.uuid4().hex[:12]
    if args.queue:
        return _queue_campaign(args, steps, campaign_id)
    return _run_locally(args, steps, campaign_id)


def _run_locally(args: argparse.Namespace, steps, campaign_id: str) -> int:
    from msc_bluesky.campaign.local import connect_devices, simulated_reactor, summary_rows
    from msc_bluesky.campaign.runner import run_campaign
    from msc_bluesky.campaign.summary import format_summary, summarize

    with simulated_reactor(args.prefix, args.time_scale) as prefix:
        from msc_bluesky.session import SessionConfig, build_session

        config = SessionConfig(
            prefix=prefix,
            data_dir=args.data_dir,
            tiled_uri=args.tiled_uri,
            api_key=args.api_key,
            live_analysis=True,
            live_plots=False,
            progress=False,
            heartbeat_s=1.0,
        )
        session = build_session(config)
        try:
            try:
                connect_devices(session)
            except ConnectionError as err:
                print(f"msc-bluesky campaign: {err}", file=sys.stderr)
                return 1
            outcome = run_campaign(steps, session, campaign_id)
            print("finishing storage …")
            session.writer.flush(600)
            if session.client is None:
                print("tiled was unreachable: runs are in the local backup; "
                      "run `msc-bluesky replay` and then `msc-bluesky report`")
                return 1
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

                written = write_report(session.client, args.report_dir, campaign=campaign_id)
                print("figures: " + ", ".join(str(p) for p in written))
        finally:
            session.close()
    if outcome.interrupted:
        print("campaign interrupted: reactor in standby, data so far kept in "
              f"{args.data_dir}")
        return 130
    return 1 if outcome.error else 0


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
              else open_catalog(args.data_dir))
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
