"""Copies of a condition's scalar tables in its analysis run, for fast campaign tables.

:func:`~.browse.campaign_table` joins, for every raw run of a campaign, the raw run's
scalar event table with that of its newest linked analysis run. Read from a tiled
server, each table costs one request of 50–100 ms of server time, so a campaign table
over 80 conditions cost 160 requests, and 8 dashboards polling it kept the server busy.

The writer therefore keeps a copy of both tables in the *analysis* run's metadata,
under :data:`TABLES_KEY`, written once when the analysis run stops::

    {"format": "arrow-ipc-stream/base64",
     "raw":      {"uid": ..., "stop_uid": ..., "rows": n, "table": "<base64 Arrow IPC>"},
     "analysis": {"uid": ..., "stop_uid": ..., "rows": n, "table": "<base64 Arrow IPC>"}}

A search of the ``analysis`` container returns that metadata with the runs, so a
campaign table needs two searches instead of a table read per run. The tables are
built from the documents the writer sends to tiled, the way
``bluesky_tiled_plugins.TiledWriter`` builds its ``internal`` table (``seq_num``,
``time`` and every data key that is not an array; the first batch sets the column
types). Runs that do not fit that simple picture (external data, renamed reserved
keys, more than one primary descriptor, ...) get no copy of that part.

A copy is used only when it still describes the stored runs (:func:`cached_tables`): the
start uids and stop-document uids it names must be those of the runs found, and its row
count must equal the stop document's ``num_events["primary"]``. A raw run written again
(a replay after a crash, a retried write) has the same documents and so the same copy;
a run that is incomplete in the store (no stop document yet) or one whose analysis was
redone (``msc-bluesky reprocess`` writes a new analysis run with copies of its own)
does not match an old copy, and its tables are read from the server as before.
"""

from __future__ import annotations

import base64
import logging
from collections import OrderedDict
from typing import Any

logger = logging.getLogger(__name__)

#: Metadata key of the copies in an analysis run.
TABLES_KEY = "msc_scalar_tables"
#: Encoding of the copies (a different value is ignored by readers).
TABLES_FORMAT = "arrow-ipc-stream/base64"
#: Stream whose table is copied.
STREAM = "primary"
#: Event data keys TiledWriter renames (``time`` -> ``time_``): no copy for such runs.
RESERVED_KEYS = ("time", "seq_num")
#: More columns than this and TiledWriter splits the table: no copy.
MAX_COLUMNS = 1024
#: Finished runs whose tables are remembered until their analysis run stops.
KEEP_RUNS = 256


def table_bytes(table) -> str:
    """A pyarrow table as base64 text of its Arrow IPC stream (JSON metadata holds it).

    Parameters
    ----------
    table : pyarrow.Table

    Returns
    -------
    str
    """
    import pyarrow

    sink = pyarrow.BufferOutputStream()
    with pyarrow.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return base64.b64encode(sink.getvalue().to_pybytes()).decode("ascii")


def table_frame(text: str):
    """The DataFrame of :func:`table_bytes` text (as a table read from tiled gives it).

    Parameters
    ----------
    text : str

    Returns
    -------
    pandas.DataFrame
    """
    import pyarrow

    reader = pyarrow.ipc.open_stream(base64.b64decode(text))
    return reader.read_all().to_pandas()


class _Run:
    """What one run's documents say about its primary scalar table."""

    __slots__ = ("start", "descriptor", "array_keys", "rows", "fits", "stop")

    def __init__(self, start: dict) -> None:
        self.start = start
        self.descriptor: str | None = None
        self.array_keys: set[str] = set()
        self.rows: list[dict] = []
        self.fits = True  # the simple picture holds (see the module docstring)
        self.stop: dict | None = None

    def descriptor_doc(self, doc: dict) -> None:
        if doc.get("name") != STREAM:
            return
        if self.descriptor is not None:  # a configuration update: keep it simple
            self.fits = False
            return
        self.descriptor = doc["uid"]
        data_keys = doc.get("data_keys") or {}
        for key, spec in data_keys.items():
            if key in RESERVED_KEYS or "external" in spec:
                self.fits = False
            if spec.get("dtype") == "array":
                self.array_keys.add(key)

    def event(self, doc: dict) -> None:
        if doc.get("descriptor") != self.descriptor or not self.fits:
            return
        row = {"seq_num": doc["seq_num"], "time": doc["time"]}
        row.update((k, v) for k, v in doc["data"].items() if k not in self.array_keys)
        self.rows.append(row)

    def part(self, batch_size: int) -> dict | None:
        """The copy of this run's table, or None when there is none to give."""
        if not self.fits or self.stop is None:
            return None
        table = scalar_table(self.rows, batch_size)
        if table is None:
            return None
        return {
            "uid": self.start["uid"],
            "stop_uid": self.stop.get("uid"),
            "rows": table.num_rows,
            "table": table_bytes(table),
        }


def scalar_table(rows: list[dict], batch_size: int = 1):
    """The rows as TiledWriter stores them, or None when it would store them otherwise.

    The column types are those of the first batch (``pyarrow.Table.from_pylist``, a
    column of nulls becomes text), as in ``TiledWriter``; later rows are cast to them.

    Parameters
    ----------
    rows : list of dict
        ``{"seq_num", "time", <scalar data keys>}`` per event.
    batch_size : int
        Events per write: the size of the first batch.

    Returns
    -------
    pyarrow.Table or None
    """
    import pyarrow

    if not rows:
        return None
    try:
        first = pyarrow.Table.from_pylist(rows[: max(int(batch_size), 1)])
        schema = first.schema
        for i, column in enumerate(schema):
            if pyarrow.types.is_null(column.type):
                schema = schema.set(i, column.with_type(pyarrow.string()))
        names = set(schema.names)
        if len(names) > MAX_COLUMNS or any(set(row) - names for row in rows):
            return None
        return pyarrow.Table.from_pylist(rows, schema=schema)
    except (pyarrow.ArrowException, TypeError, ValueError):
        return None


class ScalarTables:
    """Collects the primary scalar tables of runs from their documents (a callback).

    Feed it every document; when a linked analysis run stops, :meth:`copies` gives the
    value to store under :data:`TABLES_KEY` in that run's metadata.

    Parameters
    ----------
    batch_size : int
        Events per tiled write (the first batch sets the column types).
    keep_runs : int
        Finished runs remembered for the analysis runs that follow them.
    """

    def __init__(self, batch_size: int = 1, keep_runs: int = KEEP_RUNS) -> None:
        self.batch_size = int(batch_size)
        self.keep_runs = int(keep_runs)
        self._open: dict[str, _Run] = {}
        self._finished: OrderedDict[str, _Run] = OrderedDict()
        self._run_of: dict[str, str] = {}  # descriptor uid -> start uid

    def __call__(self, name: str, doc: dict) -> None:
        """Take one document."""
        if name == "start":
            self._open[doc["uid"]] = _Run(doc)
        elif name == "descriptor":
            run = self._open.get(doc.get("run_start"))
            if run is not None:
                self._run_of[doc["uid"]] = doc["run_start"]
                run.descriptor_doc(doc)
        elif name == "event":
            run = self._open.get(self._run_of.get(doc.get("descriptor")))
            if run is not None:
                run.event(doc)
        elif name == "event_page":
            run = self._open.get(self._run_of.get(doc.get("descriptor")))
            if run is not None:
                for event in _unpack(doc):
                    run.event(event)
        elif name == "stop":
            run = self._open.pop(doc.get("run_start"), None)
            if run is None:
                return
            run.stop = doc
            for key in [k for k, v in self._run_of.items() if v == doc["run_start"]]:
                del self._run_of[key]
            self._finished[doc["run_start"]] = run
            while len(self._finished) > self.keep_runs:
                self._finished.popitem(last=False)
        elif name in ("resource", "stream_resource", "datum", "datum_page", "stream_datum"):
            run = self._open.get(doc.get("run_start") or self._run_of.get(doc.get("descriptor")))
            if run is not None:  # external data: not in the simple picture
                run.fits = False

    def start_of(self, uid: str) -> dict:
        """The start document of the finished run ``uid``."""
        return self._finished[uid].start

    def copies(self, uid: str) -> dict | None:
        """The copies to store in the stopped analysis run ``uid``, or None.

        Parameters
        ----------
        uid : str
            Start uid of a finished run.

        Returns
        -------
        dict or None
            None for a run that is not a linked analysis run, or when neither table
            can be copied.
        """
        run = self._finished.get(uid)
        if run is None or "raw_uid" not in run.start:
            return None
        analysis = run.part(self.batch_size)
        raw_run = self._finished.get(run.start["raw_uid"])
        raw = raw_run.part(self.batch_size) if raw_run is not None else None
        if analysis is None and raw is None:
            return None
        return {"format": TABLES_FORMAT, "raw": raw, "analysis": analysis}


def _unpack(page: dict):
    data, stamps = page.get("data") or {}, page.get("timestamps") or {}
    for i, seq_num in enumerate(page.get("seq_num") or []):
        yield {
            "descriptor": page["descriptor"],
            "seq_num": seq_num,
            "time": page["time"][i],
            "data": {k: v[i] for k, v in data.items()},
            "timestamps": {k: v[i] for k, v in stamps.items()},
        }


def keep_tables(client, start: dict, copies: dict) -> None:
    """Store the copies in the analysis run's metadata (one request).

    Parameters
    ----------
    client : tiled client
        Writable root of the store (the run is in its ``analysis`` container), or the
        catalog of runs that holds the run.
    start : dict
        The analysis run's start document.
    copies : dict
        :meth:`ScalarTables.copies`.
    """
    from tiled.client.utils import handle_error
    from tiled.utils import safe_json_dump

    from .layout import is_run_catalog, run_kind

    parts = list(getattr(client, "path_parts", ()))
    if not is_run_catalog(client):
        parts.append(run_kind(start))
    parts.append(start["uid"])
    context = client.context
    body = {
        "content-type": "application/merge-patch+json",
        "metadata": {TABLES_KEY: copies},
        "specs": None,
        "access_tags": None,
    }
    handle_error(
        context.http_client.patch(
            f"{context.api_uri}metadata/{'/'.join(parts)}",
            headers={"Content-Type": "application/json"},
            content=safe_json_dump(body),
            params={"drop_revision": True},
        )
    )


def keep_tables_quietly(client, start: dict, copies: dict) -> bool:
    """:func:`keep_tables`, logging a failure instead of raising it; whether stored.

    A missing copy only makes :func:`~.browse.campaign_table` read that run's tables.
    """
    try:
        keep_tables(client, start, copies)
    except Exception as err:
        logger.info("run %s: table copies not stored (%s: %s)",
                    start.get("uid"), type(err).__name__, err)
        return False
    return True


def keep_copies_of(client, tables: ScalarTables, uid: str) -> bool:
    """Store :meth:`ScalarTables.copies` of the stopped run ``uid`` in it, if it has any.

    Parameters
    ----------
    client : tiled client
        As for :func:`keep_tables`.
    tables : ScalarTables
        Has seen the run's documents (and its raw run's).
    uid : str
        Start uid of the stopped analysis run.

    Returns
    -------
    bool
        Whether copies were stored (False: none to store, or the request failed).
    """
    copies = tables.copies(uid)
    if copies is None:
        return False
    return keep_tables_quietly(client, tables.start_of(uid), copies)


def _stop_of(run) -> dict:
    return run.metadata.get("stop") or {}


def _valid(part: Any, run) -> bool:
    """Whether a copy still describes the stored run (uids, stop uid, row count)."""
    if not isinstance(part, dict) or not isinstance(part.get("table"), str):
        return False
    stop = _stop_of(run)
    if part.get("uid") != run.metadata["start"].get("uid"):
        return False
    if not stop or part.get("stop_uid") != stop.get("uid"):
        return False
    num_events = stop.get("num_events")
    if isinstance(num_events, dict) and part.get("rows") != num_events.get(STREAM, 0):
        return False
    return True


def cached_tables(raw_run, analysis_run) -> tuple[Any, Any]:
    """The raw and analysis tables kept in ``analysis_run``, where they still match.

    Parameters
    ----------
    raw_run, analysis_run : BlueskyRun clients
        A raw run and its linked analysis run, as found by a search (their metadata
        is at hand; nothing is requested).

    Returns
    -------
    (DataFrame or None, DataFrame or None)
        The raw run's and the analysis run's scalar tables as :func:`table_frame`
        gives them, None for each one that has no copy or whose copy does not match
        the stored run.
    """
    copies = analysis_run.metadata.get(TABLES_KEY)
    if not isinstance(copies, dict) or copies.get("format") != TABLES_FORMAT:
        return None, None
    if analysis_run.metadata["start"].get("raw_uid") != raw_run.metadata["start"].get("uid"):
        return None, None
    frames = []
    for part, run in ((copies.get("raw"), raw_run), (copies.get("analysis"), analysis_run)):
        frame = None
        if _valid(part, run):
            try:
                frame = table_frame(part["table"])
            except Exception as err:  # a damaged copy: read the table instead
                logger.info("unreadable table copy in run %s: %s",
                            analysis_run.metadata["start"].get("uid"), err)
        frames.append(frame)
    return frames[0], frames[1]
