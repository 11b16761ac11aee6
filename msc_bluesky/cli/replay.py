"""``msc-bluesky replay``: load runs from the local backup into tiled."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from msc_bluesky.cli.store_options import add_store_arguments, open_store

HELP = "Load runs saved in the data directory's backup into tiled (each run once)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``msc-bluesky replay``."""
    add_store_arguments(parser, "the backup to replay")


def run(args: argparse.Namespace) -> int:
    """Replay every pending journal; exit status 1 if any failed."""
    from msc_bluesky.storage.catalog import DataDirectory, close_client
    from msc_bluesky.storage.replay import replay_backups

    directory = DataDirectory(Path(args.data_dir).resolve())
    if not directory.backup_dir.is_dir():
        print(f"nothing to replay: {directory.backup_dir} does not exist")
        return 0
    client = open_store(args, str(directory.root))
    if client is None:
        return 1
    try:
        report = replay_backups(client, directory.backup_dir)
    finally:
        close_client(client)
    for uid in report.replayed:
        print(f"replayed {uid}")
    for uid in report.already_stored:
        print(f"already in tiled {uid}")
    for path in report.in_use:
        print(f"in use by a running session, left alone: {path}")
    for path, error in report.failed.items():
        print(f"FAILED {path}: {error}", file=sys.stderr)
    print(report.summary())
    return 1 if report.failed else 0
