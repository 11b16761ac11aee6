"""``msc-bluesky campaign``: run the paper's campaign on the simulated reactor."""

from __future__ import annotations

import argparse
import json
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
    parser.add_argument("--queue", action="store_true",
                        help="submit the campaign to a running queue server instead")
    parser.add_argument("--zmq-control-addr", default="tcp://127.0.0.1:60615",
                        help="queue server control address (with --queue)")


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
    campaign_id = uuid.uuid4().hex[:12]
    if args.queue:
        from msc_bluesky.campaign.runner import submit_campaign

        try:
            submit_campaign(steps, campaign_id, zmq_control_addr=args.zmq_control_addr)
        except Exception as err:
            print(f"msc-bluesky campaign: {err}", file=sys.stderr)
            return 1
        print(f"campaign {campaign_id} submitted; results appear in tiled as it runs")
        return 0
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
            catalog_uri=args.catalog_uri,
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
