"""``msc-bluesky serve``: a tiled server on the data directory."""

from __future__ import annotations

import argparse
import os
import sys

from msc_bluesky.cli.api_keys import add_api_key_file_argument, resolve_api_key

HELP = "Serve the data directory's tiled catalog (loopback, API key; --public for read-only)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``msc-bluesky serve``."""
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("MSC_DATA_DIR", "msc_data"),
        help="data directory (default: $MSC_DATA_DIR or ./msc_data)",
    )
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
    if not is_loopback(args.host):
        print(f"warning: serving on {args.host}, reachable from other hosts", file=sys.stderr)
    uri = f"http://{args.host}:{args.port}"
    print(f"tiled server for {os.path.abspath(args.data_dir)} at {uri}", flush=True)
    print(f"access: {'public read-only, API key to write' if args.public else 'API key'}")
    if generated:
        print(f"API key (shown once): {api_key}", flush=True)
    serve(
        args.data_dir,
        api_key=api_key,
        host=args.host,
        port=args.port,
        public=args.public,
        catalog_uri=args.catalog_uri,
    )
    return 0
