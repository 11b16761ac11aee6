"""``msc-bluesky replay``: load runs from the local backup into tiled."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from msc_bluesky.cli.store_options import add_store_arguments, open_store

HELP = (
    "Load runs saved in the data directory's backup into tiled (each run once); "
    "--migrate also moves runs of the old store layout into raw/ and analysis/."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``msc-bluesky replay``."""
    add_store_arguments(parser, "the backup to replay")
    parser.add_argument(
        "--migrate",
        action="store_true",
        help="also move runs stored at the root of the store (old layout, raw and analysis "
        "runs together) into its raw and analysis containers",
    )


def run(args: argparse.Namespace) -> int:
    """Replay every pending journal; exit status 1 if any failed."""
    from msc_bluesky.storage.catalog import DataDirectory, close_client
    from msc_bluesky.storage.layout import count_legacy_runs
    from msc_bluesky.storage.replay import ReplayReport, replay_backups

    directory = DataDirectory(Path(args.data_dir).resolve())
    if not directory.backup_dir.is_dir() and not args.migrate:
        print(f"nothing to replay: {directory.backup_dir} does not exist")
        return 0
    client = open_store(args, str(directory.root))
    if client is None:
        return 1
    try:
        if directory.backup_dir.is_dir():
            report = replay_backups(client, directory.backup_dir)
        else:
            report = ReplayReport()
        migrated = _migrate(client) if args.migrate else 0
        legacy = count_legacy_runs(client)
    finally:
        close_client(client)
    if legacy and not args.migrate:
        print(f"{legacy} runs are stored in the old layout (at the root of the store); "
              "`msc-bluesky replay --migrate` moves them into raw/ and analysis/")
    for uid in report.replayed:
        print(f"replayed {uid}")
    for uid in report.already_stored:
        print(f"already in tiled {uid}")
    for path in report.in_use:
        print(f"in use by a running session, left alone: {path}")
    for path, error in report.failed.items():
        print(f"FAILED {path}: {error}", file=sys.stderr)
    print(report.summary())
    return 1 if report.failed or migrated else 0


def _migrate(client) -> int:
    """Move old-layout runs; print what happened; return the number of failures."""
    from msc_bluesky.storage.migrate import migrate_layout

    try:
        migration = migrate_layout(client)
    except ValueError as err:
        print(f"error: --migrate: {err}", file=sys.stderr)
        return 1
    for uid, kind in migration.moved.items():
        print(f"moved {uid} to {kind}/")
    for uid, error in migration.failed.items():
        print(f"FAILED to move {uid}: {error}", file=sys.stderr)
    print(migration.summary())
    return len(migration.failed)
