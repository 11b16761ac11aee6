"""``msc-bluesky report``: write the report figures (PNG) from what is stored in tiled."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HELP = "Write the report figures (spectra, SAXS, precursor, phase map) from the tiled store."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``msc-bluesky report``."""
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("MSC_DATA_DIR", "msc_data"),
        help="data directory of the embedded catalog (default: $MSC_DATA_DIR or ./msc_data)",
    )
    parser.add_argument(
        "--tiled-uri",
        default=os.environ.get("MSC_TILED_URI"),
        help="tiled server to read from instead of the data directory (default: $MSC_TILED_URI)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("MSC_TILED_API_KEY"),
        help="API key of the tiled server (default: $MSC_TILED_API_KEY)",
    )
    parser.add_argument(
        "--catalog-uri",
        default=os.environ.get("MSC_CATALOG_URI"),
        help="embedded catalog database (PostgreSQL URI) when no --tiled-uri is given",
    )
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
    from msc_bluesky.storage.catalog import close_client, connect, open_catalog
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
    try:
        if args.tiled_uri:
            client = connect(args.tiled_uri, api_key=args.api_key)
        else:
            client = open_catalog(args.data_dir, catalog_uri=args.catalog_uri)
    except Exception as err:
        print(f"error: cannot open tiled ({type(err).__name__}: {err})", file=sys.stderr)
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
