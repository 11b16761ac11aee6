"""``msc-bluesky serve``: a tiled server on the data directory."""

from __future__ import annotations

import argparse
import os
import sys

from msc_bluesky.cli.api_keys import add_api_key_file_argument, resolve_api_key
from msc_bluesky.cli.store_options import add_data_dir_argument

HELP = "Serve the data directory's tiled catalog (loopback, API key; --public for read-only)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``msc-bluesky serve``."""
    add_data_dir_argument(parser, "the runs to serve")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default 127.0.0.1, loopback only)",
    )
    parser.add_argument(
        "--api-key",
        default=None,
        help="API key clients must give (letters and digits; visible to other users in `ps`: "
        "prefer --api-key-file or $MSC_TILED_API_KEY); default: a new random key, printed once",
    )
    add_api_key_file_argument(parser, "MSC_TILED_API_KEY")
    parser.add_argument(
        "--public",
        action="store_true",
        help="allow anonymous read-only access (writing still needs the API key)",
    )
    parser.add_argument(
        "--catalog-uri",
        default=os.environ.get("MSC_CATALOG_URI"),
        help="catalog database, e.g. postgresql://user@host:5432/db "
        "(default: SQLite in the data directory)",
    )
    parser.add_argument(
        "--no-profile",
        action="store_true",
        help="do not write the tiled profile 'msc' pointing at this server",
    )
    parser.add_argument(
        "--wait-for-start",
        action="store_true",
        help="load the server's code, then wait for a line 'start' on standard input "
        "before touching the data directory (end of input: exit); how `msc-bluesky "
        "campaign` starts its store while it checks the campaign",
    )
    parser.add_argument(
        "--exit-with-parent",
        type=int,
        default=None,
        metavar="PID",
        help="exit when process PID, which started this server, is gone (how "
        "`msc-bluesky campaign` runs its store)",
    )


def run(args: argparse.Namespace) -> int:
    """Start the server; returns when it is stopped."""
    from msc_bluesky.storage.server import check_api_key, generate_api_key, is_loopback, serve

    if not 0 < args.port < 65536:
        print(f"error: --port must be 1..65535, got {args.port}", file=sys.stderr)
        return 2
    try:
        api_key = resolve_api_key(args, "MSC_TILED_API_KEY")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    generated = api_key is None
    api_key = generate_api_key() if generated else api_key
    try:
        check_api_key(api_key)
    except ValueError as err:
        print(f"error: --api-key: {err}", file=sys.stderr)
        return 2
    if args.exit_with_parent is not None:
        from msc_bluesky.child_process import exit_with_parent

        exit_with_parent(args.exit_with_parent, "msc-bluesky serve")
    if args.wait_for_start and not _started():
        return 0
    if args.catalog_uri:
        problem = _catalog_problem(args.data_dir, args.catalog_uri)
        if problem:
            print(f"error: --catalog-uri: {problem}", file=sys.stderr)
            return 2
    if not is_loopback(args.host):
        print(f"warning: serving on {args.host}, reachable from other hosts", file=sys.stderr)
    uri = f"http://{args.host}:{args.port}"
    print(f"tiled server for {os.path.abspath(args.data_dir)} at {uri}", flush=True)
    if args.catalog_uri:
        print(f"catalog: {_without_password(args.catalog_uri)}; array files in "
              f"{os.path.join(os.path.abspath(args.data_dir), 'data')}", flush=True)
    print(f"access: {'public read-only, API key to write' if args.public else 'API key'}")
    if generated:
        print(f"API key (shown once): {api_key}", flush=True)
    if not args.no_profile:
        wildcard = args.host in ("0.0.0.0", "::")
        _write_profile(f"http://127.0.0.1:{args.port}" if wildcard else uri)
    serve(
        args.data_dir,
        api_key=api_key,
        host=args.host,
        port=args.port,
        public=args.public,
        catalog_uri=args.catalog_uri,
    )
    return 0


#: What ``--wait-for-start`` prints once the server's code is loaded.
WAITING_LINE = "msc-bluesky serve: loaded, waiting for 'start' on standard input"


def _started() -> bool:
    """Load the server's code (seconds), then wait for ``start``; False at end of input."""
    import tiled.catalog  # noqa: F401 - what makes starting a server take seconds
    import tiled.server.app  # noqa: F401
    import uvicorn  # noqa: F401

    print(WAITING_LINE, flush=True)
    return sys.stdin.readline().strip() == "start"


def _catalog_problem(data_dir: str, catalog_uri: str) -> str:
    """One line saying why the catalog database cannot be used, or "" when it can."""
    from msc_bluesky.storage.catalog import catalog_exists

    try:
        catalog_exists(data_dir, catalog_uri)
    except ValueError as err:  # a scheme that is not sqlite or postgresql
        return str(err)
    except Exception as err:  # the PostgreSQL server or database is not there
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return (f"cannot open {_without_password(catalog_uri)} ({first}); the PostgreSQL "
                "server must answer and the database exist (createdb -h HOST -U USER NAME)")
    return ""


def _without_password(uri: str) -> str:
    """The URI with any password replaced by ``***`` (for printing)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _write_profile(uri: str) -> None:
    from msc_bluesky.storage.profile import PROFILE_NAME, write_server_profile

    try:
        path = write_server_profile(uri)
    except OSError as err:
        print(f"warning: tiled profile {PROFILE_NAME!r} not written ({err})", file=sys.stderr)
        return
    if path is None:
        print(f"warning: a tiled profile {PROFILE_NAME!r} not written by msc-bluesky exists: "
              "left unchanged", file=sys.stderr)
        return
    print(f"tiled profile {PROFILE_NAME!r}: {path} (Broker.named({PROFILE_NAME!r}), "
          f"from_profile({PROFILE_NAME!r}); API key from $TILED_API_KEY)", flush=True)
