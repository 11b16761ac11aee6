"""``msc-bluesky copy-store``: copy a data directory's runs into a tiled server."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from msc_bluesky.cli.api_keys import add_api_key_file_argument, resolve_api_key
from msc_bluesky.cli.store_options import add_data_dir_argument

HELP = (
    "Copy every run of a data directory (embedded store) into a tiled server, each run "
    "once: running it again copies only what is missing."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``msc-bluesky copy-store``."""
    add_data_dir_argument(parser, "the runs to copy")
    parser.add_argument(
        "--catalog-uri",
        default=os.environ.get("MSC_CATALOG_URI"),
        help="catalog database of the data directory when it is not its SQLite catalog.db "
        "(default: $MSC_CATALOG_URI)",
    )
    parser.add_argument(
        "--tiled-uri",
        default=os.environ.get("MSC_TILED_URI"),
        help="the tiled server to copy into, e.g. http://tiled.example:8000 "
        "(default: $MSC_TILED_URI)",
    )
    parser.add_argument(
        "--api-key",
        default=None,
        help="API key of the server (visible to other users in `ps`: prefer "
        "--api-key-file or $MSC_TILED_API_KEY)",
    )
    add_api_key_file_argument(parser, "MSC_TILED_API_KEY")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=50,
        help="events per write to the server (default 50)",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (one line per run instead)"
    )


def _check(args: argparse.Namespace) -> str | None:
    """The one-line complaint about the options, or None when they are fine."""
    from msc_bluesky.storage.catalog import catalog_exists

    if not args.tiled_uri:
        return "--tiled-uri URI is required (the server to copy into), or set $MSC_TILED_URI"
    if not args.tiled_uri.startswith(("http://", "https://")):
        return f"--tiled-uri {args.tiled_uri!r} must start with http:// or https://"
    if args.batch_size < 1:
        return f"--batch-size must be a positive integer, got {args.batch_size}"
    if not Path(args.data_dir).is_dir() and not args.catalog_uri:
        return f"data directory {args.data_dir} does not exist; give --data-dir DIR"
    try:
        if not catalog_exists(args.data_dir, args.catalog_uri):
            return (f"{args.data_dir} holds no tiled catalog (no catalog.db): nothing to copy; "
                    "give the data directory a campaign wrote to")
    except Exception as err:
        return f"cannot read the catalog ({type(err).__name__}: {err})"
    return None


def run(args: argparse.Namespace) -> int:
    """Copy; print one line per outcome; exit status 1 if any run failed."""
    from msc_bluesky.storage.backup import pending_journals
    from msc_bluesky.storage.catalog import DataDirectory, close_client, connect, open_catalog
    from msc_bluesky.storage.copy_store import count_runs

    problem = _check(args)
    if problem is None:
        try:
            api_key = resolve_api_key(args, "MSC_TILED_API_KEY")
        except ValueError as err:
            problem = str(err)
    if problem is not None:
        print(f"msc-bluesky copy-store: {problem}", file=sys.stderr)
        return 2
    try:
        target = connect(args.tiled_uri, api_key=api_key)
    except Exception as err:
        print(f"msc-bluesky copy-store: cannot reach {args.tiled_uri} "
              f"({type(err).__name__}: {err})", file=sys.stderr)
        return 1
    source = open_catalog(args.data_dir, catalog_uri=args.catalog_uri)
    try:
        total = count_runs(source)
        print(f"copying {total} runs of {os.path.abspath(args.data_dir)} into "
              f"{args.tiled_uri}", flush=True)
        report = _copy_with_progress(source, target, total, args)
    finally:
        close_client(source)
        close_client(target)
    for uid, error in report.failed.items():
        print(f"FAILED {uid}: {error}", file=sys.stderr)
    print(report.summary())
    backup = DataDirectory(Path(args.data_dir).resolve()).backup_dir
    pending = pending_journals(backup) if backup.is_dir() else []
    if pending:
        print(f"{len(pending)} run(s) are only in the local backup {backup} (not in the "
              f"catalog); load them into the server with `msc-bluesky replay --data-dir "
              f"{args.data_dir} --tiled-uri {args.tiled_uri}`")
    return 1 if report.failed else 0


def _copy_with_progress(source, target, total: int, args: argparse.Namespace):
    from msc_bluesky.storage.copy_store import copy_store

    if args.no_progress:
        def progress(uid: str, outcome: str) -> None:
            print(f"{outcome.replace('_', ' ')} {uid}", flush=True)

        return copy_store(source, target, batch_size=args.batch_size, progress=progress)
    from tqdm import tqdm

    with tqdm(total=total, desc="copying", unit="run", file=sys.stderr) as bar:
        return copy_store(source, target, batch_size=args.batch_size,
                          progress=lambda uid, outcome: bar.update(1))
