"""Which of a list of documents a store does not hold (durability checks).

:func:`missing_documents` answers "is every document the server acknowledged still
there?" after a crash: a start document is present when its run exists, a descriptor
when its stream exists, an event when its ``seq_num`` is in the stream's table and
every array of the stream reaches that length, a stop when the run's metadata holds it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from .layout import _child, container_for


def _stream_rows(stream) -> tuple[set[int], int | None]:
    """Sequence numbers in a stream's table, and the shortest array length (or None)."""
    stream = getattr(stream, "base", stream)  # the plain container, not the flat view
    table = _child(stream, "internal")
    seq = set()
    if table is not None:
        frame = table.read()
        if "seq_num" in frame.columns:
            seq = {int(v) for v in frame["seq_num"]}
    lengths = []
    for key in stream.keys():
        if key == "internal":
            continue
        shape = getattr(stream[key], "shape", None)
        if shape:
            lengths.append(int(shape[0]))
    return seq, (min(lengths) if lengths else None)


def missing_documents(client, documents: Iterable[tuple[str, dict]]) -> list[tuple[str, str]]:
    """The documents of ``documents`` that the store does not hold.

    Parameters
    ----------
    client : tiled client
        The store's root (runs are looked for in ``raw`` or ``analysis`` by their start
        document) or a catalog of runs.
    documents : iterable of (name, doc)
        Documents of whole or partial runs, each run's start first (``start``,
        ``descriptor``, ``event``, ``stop``; other kinds are not checked).

    Returns
    -------
    list of (str, str)
        ``(name, uid)`` of each missing document, in the order given.
    """
    by_run: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    starts: dict[str, dict] = {}
    stream_of: dict[str, tuple[str, str]] = {}  # descriptor uid -> (run uid, stream)
    for name, doc in documents:
        if name == "start":
            starts[doc["uid"]] = doc
            run = doc["uid"]
        elif name == "descriptor":
            run = doc["run_start"]
            stream_of[doc["uid"]] = (run, doc.get("name", "primary"))
        elif name == "event":
            run = stream_of[doc["descriptor"]][0]
        elif name == "stop":
            run = doc["run_start"]
        else:
            continue
        by_run[run].append((name, doc))
    missing: list[tuple[str, str]] = []
    for run_uid, docs in by_run.items():
        node = _child(container_for(client, starts[run_uid]), run_uid)
        rows: dict[str, tuple[set[int], int | None]] = {}
        for name, doc in docs:
            if node is None:
                missing.append((name, doc["uid"]))
            elif name == "stop":
                if (node.metadata.get("stop") or {}).get("uid") != doc["uid"]:
                    missing.append((name, doc["uid"]))
            elif name in ("descriptor", "event"):
                descriptor = doc["uid"] if name == "descriptor" else doc["descriptor"]
                stream_name = stream_of[descriptor][1]
                if stream_name not in rows:
                    stream = _child(node, stream_name)
                    rows[stream_name] = (
                        _stream_rows(stream) if stream is not None else (set(), None)
                    )
                seq, shortest = rows[stream_name]
                if name == "descriptor":
                    present = _child(node, stream_name) is not None
                else:
                    n = int(doc["seq_num"])
                    present = n in seq and (shortest is None or shortest >= n)
                if not present:
                    missing.append((name, doc["uid"]))
    return missing
