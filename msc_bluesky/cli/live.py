"""``msc-bluesky live``: live table and plots of whatever runs, queued or not.

Sessions publish their documents to a loopback 0MQ proxy when ``MSC_LIVE_STREAM`` names
its input (``msc-bluesky qserver --live-stream`` starts a proxy and sets it for the
queue worker); this command subscribes to the proxy's output and shows bluesky's
BestEffortCallback table (plots too when a display is available) and, with
``--analysis``, the fitted MSC/NC results of every point.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from msc_bluesky.callbacks.zmq_consumer import (
    DEFAULT_IN_ADDRESS,
    DEFAULT_OUT_ADDRESS,
    check_address,
)

HELP = "show the live table and plots of runs published on the loopback 0MQ stream"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``msc-bluesky live``."""
    parser.add_argument(
        "--address",
        type=check_address,
        default=DEFAULT_OUT_ADDRESS,
        help="output host:port of the 0MQ proxy (default %(default)s)",
    )
    parser.add_argument(
        "--proxy",
        action="store_true",
        help="also run the proxy here (publishers connect to --in), for sessions without "
        "`msc-bluesky qserver --live-stream`",
    )
    parser.add_argument(
        "--in",
        dest="in_address",
        type=check_address,
        default=DEFAULT_IN_ADDRESS,
        help="input host:port of the proxy started with --proxy (default %(default)s)",
    )
    plots = parser.add_mutually_exclusive_group()
    plots.add_argument("--plots", dest="plots", action="store_true", default=None,
                       help="plot even without a detected display")
    plots.add_argument("--no-plots", dest="plots", action="store_false",
                       help="tables only (default when there is no display)")
    parser.add_argument("--analysis", action="store_true",
                        help="also fit every point and show the MSC/NC result table")
    parser.add_argument("--no-table", action="store_true",
                        help="no BestEffortCallback table")
    parser.add_argument("--max-runs", type=int, default=None,
                        help="exit after this many runs have stopped (default: run until Ctrl-C)")


def run(args: argparse.Namespace) -> int:
    """Subscribe and show runs until Ctrl-C (or ``--max-runs``)."""
    from msc_bluesky.callbacks.live_view import (
        DocumentReceiver,
        analysis_viewer,
        best_effort_callback,
        view_stream,
    )
    from msc_bluesky.qserver.startup import wants_live_plots

    if args.max_runs is not None and args.max_runs < 1:
        print("msc-bluesky live: --max-runs must be a positive integer", file=sys.stderr)
        return 2
    plots = wants_live_plots() if args.plots is None else args.plots
    if args.proxy:
        from msc_bluesky.callbacks.zmq_proxy import start_proxy_thread

        try:
            start_proxy_thread(args.in_address, args.address)
        except OSError as err:
            print(f"msc-bluesky live: {err}", file=sys.stderr)
            return 1
        print(f"proxy ready in={args.in_address} out={args.address}; sessions publish with "
              f"MSC_LIVE_STREAM={args.in_address}", flush=True)
    viewers = [best_effort_callback(plots=plots, table=not args.no_table)]
    if args.analysis:
        viewers.append(analysis_viewer(plots=plots))
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    receiver = DocumentReceiver(args.address).start()
    print(f"msc live view subscribed to tcp://{args.address} (plots {'on' if plots else 'off'}); "
          "Ctrl-C to stop", flush=True)
    try:
        view_stream(receiver, viewers, plots=plots, max_runs=args.max_runs, stop=stop)
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
        signal.signal(signal.SIGTERM, previous)
    return 0
