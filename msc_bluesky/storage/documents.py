"""A stored run's documents, for re-analysis and for moving runs between containers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger(__name__)


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
            stamps = {
                k: float(table[f"ts_{k}"][i]) if f"ts_{k}" in table else t for k in keys
            }
            yield (
                "event",
                {
                    "uid": f"{descriptor['uid']}-{i + 1}",
                    "descriptor": descriptor["uid"],
                    "seq_num": i + 1,
                    "time": t,
                    "data": data,
                    "timestamps": stamps,
                    "filled": {},
                },
            )
    stop = run.metadata.get("stop")
    if stop:
        yield "stop", dict(stop)
