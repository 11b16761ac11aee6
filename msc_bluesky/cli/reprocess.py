"""``msc-bluesky reprocess UID``: analyse a stored run again into a new linked analysis run."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from msc_bluesky.cli.store_options import add_store_arguments, open_store
from msc_bluesky.storage.documents import stored_documents

logger = logging.getLogger(__name__)

HELP = "Re-run the live analysis on a stored raw run and store a new linked analysis run."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``msc-bluesky reprocess``."""
    parser.add_argument("uid", help="start uid of the stored raw run")
    add_store_arguments(parser, "the run")
    parser.add_argument(
        "--settings",
        type=_json_object,
        default=None,
        help="analysis settings as a JSON object, e.g. '{\"spectrum_options\": {}}'",
    )
    parser.add_argument("--table", action="store_true", help="print the result table")


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"--settings is not valid JSON: {err}") from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--settings must be a JSON object")
    return value


def run(args: argparse.Namespace) -> int:
    """Read the raw run from tiled, analyse it, write the analysis run; 0 on success."""
    from msc_bluesky.callbacks import AnalysisSettings, LiveTable
    from msc_bluesky.callbacks.analysis_run import reprocess_documents
    from msc_bluesky.storage.catalog import close_client
    from msc_bluesky.storage.layout import find_run
    from msc_bluesky.storage.stored_tables import ScalarTables, keep_copies_of
    from msc_bluesky.storage.writer import make_tiled_writer

    try:
        settings = AnalysisSettings.coerce(args.settings)
    except (TypeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    client = open_store(args, os.path.abspath(args.data_dir))
    if client is None:
        return 1
    try:
        try:
            raw = find_run(client, args.uid)
        except KeyError:
            print(f"error: no run with uid {args.uid!r} in tiled", file=sys.stderr)
            return 1
        writer = make_tiled_writer(client)
        tables = ScalarTables()  # copies of the raw and new analysis tables (campaign_table)
        failures: list[str] = []

        def emit(name: str, doc: dict) -> None:
            try:
                writer(name, doc)
            except Exception as err:  # record, finish the analysis, then fail
                failures.append(f"{name}: {type(err).__name__}: {err}")
                raise
            tables(name, doc)

        listeners = [LiveTable()] if args.table else []
        try:
            raw_documents = stored_documents(raw)
            for name, doc in raw_documents:
                tables(name, doc)
            analysis_uid = reprocess_documents(raw_documents, emit, settings,
                                               listeners=listeners)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        if analysis_uid is not None and not failures:
            keep_copies_of(client, tables, analysis_uid)
    finally:
        close_client(client)
    if failures:
        print(f"error: writing the analysis run failed: {failures[0]}", file=sys.stderr)
        return 1
    if analysis_uid is None:
        print(f"run {args.uid} has no spectra or SAXS curves to analyse", file=sys.stderr)
        return 1
    print(f"analysis run {analysis_uid} of raw run {args.uid} written")
    return 0
