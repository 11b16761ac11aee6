"""``msc-bluesky explore``: map the CdSe-437 window with a fraction of the grid."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

from msc_bluesky.cli.store_options import add_store_arguments

HELP = "adaptive exploration of the MSC window (simulated reactor + embedded store by default)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``msc-bluesky explore``."""
    parser.add_argument("--objective", choices=("map", "optimum"), default="map",
                        help="map the CdSe-437 region (default), or find the highest CdSe-437 "
                             "absorbance with NC absorbance below --nc-ceiling")
    parser.add_argument("--nc-ceiling", type=float, default=0.5,
                        help="largest NC absorbance at the first exciton (objective optimum)")
    parser.add_argument("--t-nuc", nargs=2, type=float, default=(250.0, 330.0),
                        metavar=("LOW", "HIGH"), help="nucleation temperatures (°C), default "
                        "250 330")
    parser.add_argument("--growth-span", type=float, default=90.0, metavar="DEG",
                        help="growth oven from T_nuc − DEG up to T_nuc (°C, default 90)")
    parser.add_argument("--times", nargs="+", type=float, default=[14.0], metavar="S",
                        help="reaction times (s) to explore (default 14)")
    parser.add_argument("--resolution", type=float, default=10.0, metavar="DEG",
                        help="temperature step of the candidate grid (°C, default 10)")
    parser.add_argument("--budget", type=int, default=25, metavar="N",
                        help="at most N conditions (default 25)")
    parser.add_argument("--initial", type=int, default=5, metavar="N",
                        help="space-filling points before the model steers (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the proposal rule")
    parser.add_argument("--approve", action="store_true",
                        help="a person accepts, edits or rejects every proposal at the terminal")
    parser.add_argument("--operator", help="who approves (default: the login name)")
    parser.add_argument("--detectors", nargs="+", choices=("uvvis", "saxs"),
                        default=["uvvis"], help="detectors read at each point (default uvvis)")
    parser.add_argument("--residence-volumes", type=float, default=3.0,
                        help="volumes flushed before each measurement (default 3)")
    add_store_arguments(parser, "the exploration's runs and record")
    parser.add_argument("--summary-json", metavar="FILE", help="write the summary as JSON")
    parser.add_argument("--report-dir", default="msc_report",
                        help="where the figures go (default ./msc_report)")
    parser.add_argument("--no-report", action="store_true", help="skip the figures")
    parser.add_argument("--prefix", help="PV prefix of a running IOC (default: start one)")
    parser.add_argument("--time-scale", type=float, default=100.0,
                        help="simulated seconds per wall second for the started IOC "
                             "(default 100)")
    parser.add_argument("--queue", action="store_true",
                        help="measure through a running queue server (msc-bluesky qserver); "
                             "with --approve each proposal waits in the queue until a person "
                             "starts the queue (release) or deletes the item (reject)")
    parser.add_argument("--zmq-control-addr", default="tcp://127.0.0.1:60615",
                        help="queue server control address (with --queue)")


def _space_and_agent(args: argparse.Namespace):
    from msc_bluesky.explore.agent import make_agent
    from msc_bluesky.explore.space import ExplorationSpace

    space = ExplorationSpace(
        t_nuc_range=tuple(args.t_nuc),
        growth_span_c=args.growth_span,
        reaction_times=tuple(args.times),
        resolution_c=args.resolution,
    )
    agent = make_agent(
        args.objective, space, seed=args.seed, n_initial=args.initial, nc_ceiling=args.nc_ceiling
    )
    return space, agent


def run(args: argparse.Namespace) -> int:
    """Explore, print and write the summary and figures; 2 on bad options, 130 on Ctrl-C."""
    from msc_bluesky.explore.loop import check_condition
    from msc_bluesky.limits import ConditionError

    try:
        if args.budget < 1:
            raise ConditionError(f"--budget {args.budget}: give a whole number >= 1")
        if args.time_scale <= 0:
            raise ConditionError("--time-scale must be > 0")
        space, agent = _space_and_agent(args)
        for condition in space.as_conditions():  # the same checks as any plan, up front
            check_condition(condition)
    except (ConditionError, ValueError) as err:
        print(f"msc-bluesky explore: {err}", file=sys.stderr)
        return 2
    if args.queue:
        return _explore_through_queue(args, agent)
    return _explore_locally(args, agent)


def _finish(args, agent, exploration, recorder, exploration_id: str, status: int) -> None:
    """Summary, record's stop document, JSON and figures (whatever ended the loop)."""
    from msc_bluesky.explore.summary import format_exploration, summarize_exploration

    summary = summarize_exploration(
        agent, exploration.points, exploration_id=exploration_id,
        stop_reason=exploration.stop_reason, decisions=exploration.decisions,
    )
    recorder.stop(
        exit_status={0: "success", 130: "abort"}.get(status, "fail"),
        reason=exploration.stop_reason,
        conditions_used=summary["conditions_used"],
        msc437_window_c=summary["msc437_window_c"],
    )
    print()
    print(format_exploration(summary))
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps(summary, indent=2) + "\n")
        print(f"summary written to {args.summary_json}")
    if not args.no_report and exploration.points:
        from msc_bluesky.explore.figures import write_exploration_figures

        written = write_exploration_figures(agent, summary, exploration.history, args.report_dir)
        print("figures: " + ", ".join(str(p) for p in written))


def _metadata(args, agent, exploration_id: str, operator: str) -> dict:
    return {"exploration_id": exploration_id, "objective": agent.objective,
            "space": agent.space.to_dict(), "budget": args.budget, "seed": args.seed,
            "approve": bool(args.approve), "operator": operator, "queue": bool(args.queue)}


def _explore_through_queue(args: argparse.Namespace, agent) -> int:
    """Proposals become queue items; the queue worker measures and stores them."""
    from bluesky_queueserver_api.zmq import REManagerAPI

    from msc_bluesky.explore.gate import Decision, current_user
    from msc_bluesky.explore.loop import Exploration
    from msc_bluesky.explore.measure import queue_measure
    from msc_bluesky.explore.record import ExplorationRecorder
    from msc_bluesky.qserver.keys import client_public_key
    from msc_bluesky.qserver.manager import run_dir_of
    from msc_bluesky.storage.catalog import close_client, connect, open_catalog
    from msc_bluesky.storage.writer import JournaledWriter

    class QueueGate:
        """The queue is the gate: a released item is accepted, a deleted one rejected."""

        def review(self, proposal):
            how = "released by starting the queue" if args.approve else "queued and started"
            return Decision("accept", dict(proposal.condition), how, "queue")

    exploration_id = uuid.uuid4().hex[:12]
    operator = args.operator or current_user()
    try:
        api = REManagerAPI(zmq_control_addr=args.zmq_control_addr,
                           zmq_public_key=client_public_key(run_dir_of(args.data_dir)))
        client = (connect(args.tiled_uri, api_key=args.api_key) if args.tiled_uri
                  else open_catalog(args.data_dir, catalog_uri=args.catalog_uri))
    except Exception as err:
        print(f"msc-bluesky explore: {err}", file=sys.stderr)
        return 1
    writer = JournaledWriter(client, Path(args.data_dir) / "explore-backup")
    recorder = ExplorationRecorder(writer, _metadata(args, agent, exploration_id, operator))
    exploration = Exploration(
        agent,
        queue_measure(api, client, exploration_id, release=not args.approve,
                      detectors=tuple(args.detectors)),
        QueueGate(), budget=args.budget, recorder=recorder,
    )
    print(f"exploration {exploration_id} through the queue server at {args.zmq_control_addr}: "
          f"objective {agent.objective}, budget {args.budget}")
    status = 0
    try:
        exploration.run()
    except KeyboardInterrupt:
        status = 130
        exploration.stop_reason = "stopped following (Ctrl-C); queued items stay in the queue"
    except Exception as err:
        status = 1
        exploration.stop_reason = f"{type(err).__name__}: {err}"
        print(f"msc-bluesky explore: {exploration.stop_reason}", file=sys.stderr)
    try:
        _finish(args, agent, exploration, recorder, exploration_id, status)
    finally:
        api.close()
        if not writer.close(60):
            print("some documents are kept in the local backup; run "
                  f"`msc-bluesky replay --data-dir {args.data_dir}`", file=sys.stderr)
        close_client(client)
    return status


def _explore_locally(args: argparse.Namespace, agent) -> int:
    from msc_bluesky.campaign.local import connect_devices, simulated_reactor
    from msc_bluesky.explore.gate import AutoGate, TerminalGate, current_user
    from msc_bluesky.explore.loop import Exploration
    from msc_bluesky.explore.measure import session_measure
    from msc_bluesky.explore.record import ExplorationRecorder

    exploration_id = uuid.uuid4().hex[:12]
    operator = args.operator or current_user()
    with simulated_reactor(args.prefix, args.time_scale) as prefix:
        from msc_bluesky.session import SessionConfig, build_session

        session = build_session(
            SessionConfig(prefix=prefix, data_dir=args.data_dir, tiled_uri=args.tiled_uri,
                          api_key=args.api_key, catalog_uri=args.catalog_uri,
                          live_analysis=True, live_plots=False, progress=False,
                          heartbeat_s=1.0)
        )
        status, exploration, recorder = 0, None, None
        try:
            try:
                connect_devices(session)
            except ConnectionError as err:
                print(f"msc-bluesky explore: {err}", file=sys.stderr)
                return 1
            md = _metadata(args, agent, exploration_id, operator)
            recorder = ExplorationRecorder(session.writer, md)
            measure = session_measure(
                session, exploration_id, detectors=tuple(args.detectors),
                plan_kwargs={"residence_volumes": args.residence_volumes},
            )
            gate = TerminalGate(operator=operator) if args.approve else AutoGate()
            exploration = Exploration(agent, measure, gate, budget=args.budget,
                                      recorder=recorder)
            print(f"exploration {exploration_id}: objective {agent.objective}, "
                  f"{len(agent.space)} candidates, budget {args.budget}"
                  + (", every proposal waits for approval" if args.approve else ""))
            from bluesky.utils import RunEngineInterrupted

            try:
                exploration.run()
            except (KeyboardInterrupt, RunEngineInterrupted):
                status = 130
                exploration.stop_reason = "interrupted by the user (Ctrl-C)"
                _abort(session.RE, exploration.stop_reason)
            except Exception as err:  # a plan failed: its finaliser made the reactor safe
                status = 1
                exploration.stop_reason = f"{type(err).__name__}: {err}"
                print(f"msc-bluesky explore: {exploration.stop_reason}", file=sys.stderr)
            _finish(args, agent, exploration, recorder, exploration_id, status)
        finally:
            if recorder is not None:
                recorder.stop("fail", "the explorer ended unexpectedly")
            drained = session.close()
            if not drained:
                print("some documents are kept in the local backup; run "
                      f"`msc-bluesky replay --data-dir {args.data_dir}`", file=sys.stderr)
    if status == 130:
        print(f"exploration interrupted: reactor in standby, data kept in {args.data_dir}")
    return status


def _abort(RE, reason: str) -> None:  # noqa: N803
    if RE.state != "idle":
        try:
            RE.abort(reason)
        except Exception as err:  # already idle
            print(f"abort: {err}", file=sys.stderr)
