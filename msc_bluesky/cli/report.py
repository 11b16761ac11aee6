"""``msc-bluesky report``: write the report figures (PNG) from what is stored in tiled."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from msc_bluesky.cli.store_options import add_store_arguments, open_store

HELP = "Write the report figures (spectra, SAXS, precursor, phase map) from the tiled store."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``msc-bluesky report``."""
    add_store_arguments(parser, "the runs to draw")
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=Path("msc_report"),
        help="where the PNG files go (default: ./msc_report)",
    )
    parser.add_argument(
        "--since",
        default=None,
        help="only runs started at or after this time: ISO date/time "
        "(2026-11-21, 2026-11-21T14:00) or epoch seconds",
    )
    parser.add_argument(
        "--campaign",
        default=None,
        metavar="ID",
        help="only runs whose start document has campaign_id == ID",
    )


def run(args: argparse.Namespace) -> int:
    """Open the store, write the figures, print each file written; 1 on error."""
    from msc_bluesky.storage.catalog import close_client
    from msc_bluesky.storage.report import parse_since, write_report

    try:
        since = parse_since(args.since)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.tiled_uri:
        data_dir = Path(args.data_dir)
        if not data_dir.is_dir() and not args.catalog_uri:
            print(
                f"error: data directory {data_dir} does not exist; give --data-dir DIR "
                "(an msc_bluesky data directory) or --tiled-uri URI",
                file=sys.stderr,
            )
            return 1
    client = open_store(args)
    if client is None:
        return 1
    try:
        written = write_report(client, args.report_dir, since=since, campaign=args.campaign)
    finally:
        close_client(client)
    for path in written:
        print(path)
    if not written:
        print("no figures written: the store holds no data for any of them")
    return 0
