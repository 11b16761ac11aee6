"""The options every command that reads or writes the tiled store shares."""

from __future__ import annotations

import argparse
import os


def add_data_dir_argument(parser: argparse.ArgumentParser, role: str = "the runs") -> None:
    """Add ``--data-dir`` (default ``$MSC_DATA_DIR``, else ``./msc_data``).

    Every command names the data directory this way, so the option and the variable mean
    the same everywhere.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    role : str
        What the data directory holds for this command, used in the help text.
    """
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("MSC_DATA_DIR", "msc_data"),
        help=f"data directory of the embedded catalog holding {role} "
        "(default: $MSC_DATA_DIR or ./msc_data)",
    )


def add_store_arguments(parser: argparse.ArgumentParser, role: str = "the runs") -> None:
    """Add ``--data-dir``, ``--tiled-uri``, ``--api-key`` and ``--catalog-uri``.

    Defaults come from ``MSC_DATA_DIR``, ``MSC_TILED_URI``, ``MSC_TILED_API_KEY`` and
    ``MSC_CATALOG_URI``, as for the IPython profile and the queue server.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    role : str
        What the store holds for this command, used in the help texts.
    """
    add_data_dir_argument(parser, role)
    parser.add_argument(
        "--tiled-uri",
        default=os.environ.get("MSC_TILED_URI"),
        help="a tiled server instead of the data directory's catalog (default: $MSC_TILED_URI)",
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


def open_store(args: argparse.Namespace, data_dir: str | None = None):
    """Open the store named by :func:`add_store_arguments`' options.

    Returns
    -------
    tiled client or None
        None after printing ``error: cannot open tiled (...)`` to stderr, so the
        command can return exit status 1.
    """
    import sys

    from msc_bluesky.storage.catalog import connect, open_catalog

    try:
        if args.tiled_uri:
            return connect(args.tiled_uri, api_key=args.api_key)
        return open_catalog(data_dir or args.data_dir, catalog_uri=args.catalog_uri)
    except Exception as err:
        print(f"error: cannot open tiled ({type(err).__name__}: {err})", file=sys.stderr)
        return None
