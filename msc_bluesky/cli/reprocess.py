"""``msc-bluesky reprocess UID``: analyse a stored run again into a new linked analysis run."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

from msc_bluesky.cli.store_options import add_store_arguments, open_store

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


def stored_documents(run: Any) -> list[tuple[str, dict]]:
    """The documents of a stored run, in order.

    Uses ``BlueskyRun.documents()`` (the server's ``application/json-seq`` export) and,
    when the server does not offer that export, rebuilds the documents the analysis
    needs from the run's metadata, descriptors and stream tables.

    Parameters
    ----------
    run : bluesky_tiled_plugins BlueskyRun client
    """
    try:
        return list(run.documents())
    except Exception as err:
        logger.info("json-seq export unavailable (%s); reading the streams instead", err)
    return list(_documents_from_streams(run))


def _documents_from_streams(run: Any) -> Iterator[tuple[str, dict]]:
    import numpy as np

    start = dict(run.metadata["start"])
    yield "start", start
    for stream_name in list(run):
        stream = run[stream_name]
        descriptors = [dict(d) for d in stream.descriptors]
        if not descriptors:
            continue
        for descriptor in descriptors:
            yield "descriptor", descriptor
        descriptor = descriptors[-1]  # configuration updates: the latest applies
        table = stream.read()
        times = np.asarray(table["time"]) if "time" in table else None
        keys = [k for k in descriptor.get("data_keys", {}) if k in table]
        n = len(times) if times is not None else (len(table[keys[0]]) if keys else 0)
        for i in range(n):
            t = float(times[i]) if times is not None else float(start.get("time", 0.0))
            data = {k: np.asarray(table[k][i]).tolist() for k in keys}
            yield (
                "event",
                {
                    "uid": f"{descriptor['uid']}-{i + 1}",
                    "descriptor": descriptor["uid"],
                    "seq_num": i + 1,
                    "time": t,
                    "data": data,
                    "timestamps": {k: t for k in keys},
                    "filled": {},
                },
            )
    stop = run.metadata.get("stop")
    if stop:
        yield "stop", dict(stop)


def run(args: argparse.Namespace) -> int:
    """Read the raw run from tiled, analyse it, write the analysis run; 0 on success."""
    from msc_bluesky.callbacks import AnalysisSettings, LiveTable
    from msc_bluesky.callbacks.analysis_run import reprocess_documents
    from msc_bluesky.storage.catalog import close_client
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
            raw = client[args.uid]
        except KeyError:
            print(f"error: no run with uid {args.uid!r} in tiled", file=sys.stderr)
            return 1
        writer = make_tiled_writer(client)
        failures: list[str] = []

        def emit(name: str, doc: dict) -> None:
            try:
                writer(name, doc)
            except Exception as err:  # record, finish the analysis, then fail
                failures.append(f"{name}: {type(err).__name__}: {err}")
                raise

        listeners = [LiveTable()] if args.table else []
        try:
            analysis_uid = reprocess_documents(
                stored_documents(raw), emit, settings, listeners=listeners
            )
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
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
