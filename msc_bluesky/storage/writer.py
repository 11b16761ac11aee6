"""A tiled writer that journals every document first and never blocks the RunEngine.

``JournaledWriter`` is a bluesky callback. For each document it

1. appends the document to its run's journal (:class:`~.backup.RunJournal`), flushed at
   once, in the caller's (RunEngine's) thread;
2. queues it for a background thread that feeds a per-run
   :class:`bluesky_tiled_plugins.TiledWriter` with a small batch size (default 1: every
   event is written to tiled as it arrives, so a crash loses at most the event in flight).

A failed tiled write is retried with backoff (:data:`DEFAULT_RETRY_DELAYS_S`) when the
error is transient (:func:`is_transient`: SQLite "database is locked", a connection
error, a 5xx answer): the run is rewritten in tiled from its journal, which holds every
document so far, so a retry never duplicates or skips anything. If tiled still fails
for a run (server gone, refused write), the rest of that run goes only to the journal,
which stays in the backup directory for ``msc-bluesky replay``; the writer logs one
warning per run and :meth:`JournaledWriter.backup_summary` gives the line to show at
the end of a campaign.
Runs that reached tiled completely have their journal removed (or kept, if asked).
After a failure the writer is *offline*: a new run first checks that the server answers
(one quick request) before writing to it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .backup import STORED_SUBDIR, RunJournal, read_journal
from .conditions import add_condition_bounds
from .layout import container_for, is_run_catalog, run_kind
from .stored_tables import ScalarTables, keep_copies_of

logger = logging.getLogger(__name__)

#: Default events per tiled write: 1, so a crash loses at most the event in flight.
DEFAULT_BATCH_SIZE = 1
#: Seconds an event may wait for a full batch while the writer has nothing else to do
#: (a run's first events do not wait: they create its nodes in tiled).
DEFAULT_MAX_WAIT_S = 5.0
#: Pauses (s) before each retry of a run whose tiled write failed transiently.
DEFAULT_RETRY_DELAYS_S: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 4.0)

#: Wall seconds tiled's client may retry one request to a server that does not answer
#: (tiled's own default is 45 s); ``TILED_RETRY_TIMEOUT`` in the environment wins.
TILED_RETRY_BUDGET_S: float = 3.0
#: Attempts tiled's client makes per request (tiled's default 10); ``TILED_RETRY_ATTEMPTS``
#: in the environment wins.
TILED_RETRY_ATTEMPTS: int = 4
#: Wall seconds to open a connection to the tiled server (tiled's default 5 s).
CONNECT_TIMEOUT_S: float = 2.0

_TRANSIENT_WORDS = ("database is locked", "database is busy", "locked", "timed out", "timeout")


def is_transient(err: BaseException) -> bool:
    """Whether a storage error may go away by itself (worth a retry).

    True for connection problems and timeouts (``httpx.TransportError``,
    ``ConnectionError``, ``TimeoutError``), server-side
    failures (HTTP 5xx, 429) and SQL lock errors ("database is locked": two writers on
    one SQLite store). False for refusals (4xx) and errors in the documents themselves.

    Parameters
    ----------
    err : BaseException

    Returns
    -------
    bool
    """
    import httpx

    if isinstance(err, httpx.TransportError | ConnectionError | TimeoutError):
        return True
    if isinstance(err, httpx.HTTPStatusError):
        code = err.response.status_code
        return code >= 500 or code == 429
    text = f"{type(err).__name__}: {err}".lower()
    if "operationalerror" in text or "timeout" in type(err).__name__.lower():
        return True
    return any(word in text for word in _TRANSIENT_WORDS)


def bound_tiled_retries(client: Any = None, *, budget_s: float = TILED_RETRY_BUDGET_S,
                        attempts: int = TILED_RETRY_ATTEMPTS,
                        connect_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Bound the time tiled's client spends on a dead server, so the writer notices it.

    tiled's client retries a request that gets no answer for up to 10 attempts or 45 s
    (``tiled.client.utils.TILED_RETRY_ATTEMPTS`` / ``TILED_RETRY_TIMEOUT``, read from
    the environment at import, process-wide). A writer that waits that long keeps its
    runs in limbo; this lowers both (never raises them) unless the person set
    ``TILED_RETRY_TIMEOUT`` / ``TILED_RETRY_ATTEMPTS`` in the environment, and gives the
    client's connections a short connect timeout. A server that answers slowly is
    unaffected (read and write timeouts stay); transient errors it reports ("database is
    locked", 5xx) are retried by :class:`JournaledWriter` itself, from the journal.

    Parameters
    ----------
    client : tiled client, optional
        Its HTTP connections get ``connect_timeout_s``.
    budget_s : float
        Wall seconds of retries per request.
    attempts : int
        Attempts per request.
    connect_timeout_s : float
        Seconds to open a connection.
    """
    import os

    import httpx
    from tiled.client import utils

    if "TILED_RETRY_TIMEOUT" not in os.environ:
        utils.TILED_RETRY_TIMEOUT = min(float(utils.TILED_RETRY_TIMEOUT), float(budget_s))
    if "TILED_RETRY_ATTEMPTS" not in os.environ:
        utils.TILED_RETRY_ATTEMPTS = min(int(utils.TILED_RETRY_ATTEMPTS), int(attempts))
    http = getattr(getattr(client, "context", None), "http_client", None)
    timeout = getattr(http, "timeout", None)
    if isinstance(timeout, httpx.Timeout) and (timeout.connect or 0) > connect_timeout_s:
        http.timeout = httpx.Timeout(timeout.read, connect=connect_timeout_s,
                                     write=timeout.write, pool=timeout.pool)


class EmptyArrayFilter:
    """TiledWriter patches that leave out event arrays declared with no elements.

    tiled cannot store a zero-length array as zarr, and the SQL table it falls back to
    has no column type for a list (SQLite: "Unsupported PyArrow type: list<item:
    string>"), so one such key used to make the whole run fail. The key holds no values,
    so leaving it out loses nothing; the descriptor records the keys left out under
    ``empty_arrays_omitted``.
    """

    def __init__(self) -> None:
        self._omitted: dict[str, list[str]] = {}  # descriptor uid -> keys left out

    @staticmethod
    def _is_empty(data_key: dict) -> bool:
        shape = data_key.get("shape") or ()
        return (
            data_key.get("dtype") == "array"
            and "external" not in data_key
            and None not in shape
            and 0 in shape
        )

    def descriptor(self, doc: dict) -> dict:
        """Drop zero-size array keys from ``data_keys`` and ``object_keys``."""
        empty = sorted(k for k, v in (doc.get("data_keys") or {}).items() if self._is_empty(v))
        if not empty:
            return doc
        self._omitted[doc["uid"]] = empty
        doc["data_keys"] = {k: v for k, v in doc["data_keys"].items() if k not in empty}
        if doc.get("object_keys"):
            doc["object_keys"] = {
                obj: [k for k in keys if k not in empty]
                for obj, keys in doc["object_keys"].items()
            }
        doc["empty_arrays_omitted"] = empty
        return doc

    def event(self, doc: dict) -> dict:
        """Drop the keys its descriptor left out."""
        empty = self._omitted.get(doc.get("descriptor"))
        if empty:
            for part in ("data", "timestamps", "filled"):
                if isinstance(doc.get(part), dict):
                    doc[part] = {k: v for k, v in doc[part].items() if k not in empty}
        return doc


def make_tiled_writer(client, batch_size: int = DEFAULT_BATCH_SIZE, *,
                      shared: dict | None = None):
    """A tiled writer that puts each run in its container, with this package's patches.

    Start documents get ``condition_bounds``; every non-empty array in events is
    written as a zarr array (``max_array_size=0``: SQL tables cannot hold lists), and
    zero-size arrays are left out (:class:`EmptyArrayFilter`). For an embedded store
    without stream listeners (:func:`.catalog.has_stream_listeners`) the end-of-stream
    notices tiled sends at each stop are left out: they cost one request per node of
    the run and nobody can receive them.

    Parameters
    ----------
    client : tiled client
        Writable root of the store: raw runs go to its ``raw`` container, analysis runs
        to ``analysis`` (created on first use; :mod:`.layout`). A catalog of runs given
        directly receives every run.
    batch_size : int
        Events collected before each table write.
    shared : dict, optional
        The ``TiledWriter`` of each container, kept across the writers made with the
        same dict for the same client and batch size (see :class:`RoutedTiledWriter`).

    Returns
    -------
    RoutedTiledWriter
        A bluesky callback.
    """
    from .catalog import has_stream_listeners

    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return RoutedTiledWriter(client, batch_size=int(batch_size),
                             close_streams=has_stream_listeners(client), writers=shared)


_WRITER_CLASS: Any = None


def _tiled_writer_class():
    """``TiledWriter`` that can write its runs' cached events early and skip stream closes.

    Built on ``bluesky_tiled_plugins``' private ``_RunWriter``; when that is not as
    expected (another version), plain ``TiledWriter`` (events written per batch and at
    stop, streams closed), which stores the same data.
    """
    global _WRITER_CLASS
    if _WRITER_CLASS is not None:
        return _WRITER_CLASS
    from bluesky_tiled_plugins import TiledWriter
    from bluesky_tiled_plugins.writing import tiled_writer as btp

    base = getattr(btp, "_RunWriter", None)
    if base is None or not all(
        hasattr(base, name) for name in ("_close_stream_tree", "_write_internal_data")
    ) or not hasattr(TiledWriter, "_factory"):
        _WRITER_CLASS = TiledWriter
        return TiledWriter

    class RunWriter(base):
        close_streams = True

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._waiting_since: dict[str, float] = {}  # stream -> first unwritten event
            self._created: set[str] = set()  # streams with their nodes in tiled

        def event(self, doc) -> None:
            stream = self._desc_nodes[doc["descriptor"]].item["id"]
            self._waiting_since.setdefault(stream, time.monotonic())
            super().event(doc)
            if not self._internal_data_cache.get(stream):  # the batch was full: written
                self._created.add(stream)
                self._waiting_since.pop(stream, None)

        def write_pending(self, max_wait_s: float = 0.0) -> int:
            """Write the events cached for the next batch now; the number written.

            Only those of streams with nothing in tiled yet (their first write creates
            the nodes: the costly part) or waiting for ``max_wait_s`` seconds or more.
            """
            written = 0
            now = time.monotonic()
            for stream, cache in getattr(self, "_internal_data_cache", {}).items():
                if not cache or (stream in self._created and
                                 now - self._waiting_since.get(stream, now) < max_wait_s):
                    continue
                written += len(cache)
                self._write_internal_data(cache, desc_node=self._desc_nodes[stream])
                cache.clear()
                self._created.add(stream)
                self._waiting_since.pop(stream, None)
            return written

        def _close_stream_tree(self) -> None:
            if self.close_streams:
                super()._close_stream_tree()

    class Writer(TiledWriter):
        writes_early = True

        def __init__(self, *args, close_streams: bool = True, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.close_streams = close_streams
            self.run_writers: dict[str, Any] = {}  # start uid -> RunWriter

        def _factory(self, name, doc):
            run_writer = RunWriter(
                self.client,
                batch_size=self._batch_size,
                max_array_size=self._max_array_size,
                validate=self._validate,
                ignore_errors=self.ignore_errors,
            )
            run_writer.close_streams = self.close_streams
            self.run_writers[doc["uid"]] = run_writer
            callback = run_writer
            if self._normalizer:
                callback = self._normalizer(patches=self.patches,
                                            spec_to_mimetype=self.spec_to_mimetype)
                callback.subscribe(run_writer)
            return [callback], []

    _WRITER_CLASS = Writer
    return Writer


class RoutedTiledWriter:
    """``bluesky_tiled_plugins.TiledWriter`` per container, chosen at each run's start.

    Parameters
    ----------
    client : tiled client
        Writable root of the store (see :func:`make_tiled_writer`).
    batch_size : int
        Events collected before each table write.
    close_streams : bool
        Send tiled's end-of-stream notice for every node of a run at its stop (default;
        a server's stream subscribers wait for them). False for an embedded store
        without listeners.
    writers : dict, optional
        Run kind (:func:`.layout.run_kind`) -> ``TiledWriter``, to share with other
        writers of the same client (the journalled writer makes one per run): a run
        then costs no lookup of its container and no request of tiled's
        ``include_data_sources`` (two requests of about 13). Default: this writer's own.
    """

    def __init__(self, client, batch_size: int = DEFAULT_BATCH_SIZE, *,
                 close_streams: bool = True, writers: dict | None = None) -> None:
        self.client = client
        self.batch_size = int(batch_size)
        self.close_streams = bool(close_streams)
        self._writers: dict[str, Any] = {} if writers is None else writers
        self._run_writer: dict[str, Any] = {}  # start uid -> TiledWriter
        self._run_of: dict[str, str] = {}  # descriptor / resource uid -> start uid
        self._empty = EmptyArrayFilter()

    def _writer_for(self, start: dict):
        key = "" if is_run_catalog(self.client) else run_kind(start)
        writer = self._writers.get(key)
        if writer is None:
            container = container_for(self.client, start)
            cls = _tiled_writer_class()
            options = ({"close_streams": self.close_streams}
                       if getattr(cls, "writes_early", False) else {})
            writer = cls(
                container,
                batch_size=self.batch_size,
                max_array_size=0,
                patches={
                    "start": add_condition_bounds,
                    "descriptor": self._empty.descriptor,
                    "event": self._empty.event,
                },
                **options,
            )
            self._writers[key] = writer
        return writer

    def write_pending(self, max_wait_s: float = 0.0) -> int:
        """Write events of open runs still waiting for a full batch, now.

        The writer calls this when it has nothing else to do: a stream's first events
        (which create its nodes in tiled, the costly part) and events that have waited
        ``max_wait_s`` seconds or more are written, so a run's stop has little left to
        write and readers see its events soon; the others wait for their batch.

        Parameters
        ----------
        max_wait_s : float
            Seconds an event may wait for its batch (0: write every waiting event).

        Returns
        -------
        int
            Events written (0 when none were due, or with a ``bluesky_tiled_plugins``
            that does not expose its run writers).
        """
        written = 0
        for run, writer in list(self._run_writer.items()):  # this writer's runs only
            run_writer = getattr(writer, "run_writers", {}).get(run)
            if run_writer is not None:
                written += run_writer.write_pending(max_wait_s)
        return written

    def forget(self) -> None:
        """Drop this writer's unfinished runs from shared writers (after a failure)."""
        for run, writer in list(self._run_writer.items()):
            getattr(writer, "run_writers", {}).pop(run, None)
        self._run_writer.clear()
        self._run_of.clear()

    def __call__(self, name: str, doc: dict) -> None:
        """Send one document to the writer of its run's container."""
        if name == "start":
            self._run_writer[doc["uid"]] = self._writer_for(doc)
            run = doc["uid"]
        elif name in ("descriptor", "resource", "stream_resource", "stop"):
            run = doc.get("run_start")
            if name != "stop":
                self._run_of[doc["uid"]] = run
        elif name in ("event", "event_page"):
            run = self._run_of.get(doc.get("descriptor"))
        elif name == "stream_datum":
            run = self._run_of.get(doc.get("stream_resource"))
        else:  # datum, datum_page
            run = self._run_of.get(doc.get("resource"))
        writer = self._run_writer.get(run)
        if writer is None:
            raise ValueError(f"{name!r} document of a run whose start this writer has not seen")
        writer(name, doc)
        if name == "stop":
            getattr(writer, "run_writers", {}).pop(run, None)
            del self._run_writer[run]
            for key in [k for k, v in self._run_of.items() if v == run]:
                del self._run_of[key]


@dataclass
class _RunState:
    journal: RunJournal
    tiled: Any = None  # TiledWriter for this run, None once tiled failed
    failed: bool = False
    error: str = ""
    journalled: int = 0  # documents in the journal (RunEngine thread)
    handled: int = 0  # documents handed to tiled so far (writer thread)


@dataclass
class WriterStatus:
    """What happened to the runs a writer has seen.

    Attributes
    ----------
    stored : list of str
        Start uids of runs written completely to tiled.
    backed_up : dict
        Start uid -> reason, for runs left in the backup directory for replay.
    documents_kept : dict
        Start uid -> number of documents of that run kept in the backup directory.
    retries : int
        Transient failures that a retry repaired (nothing went to the backup).
    """

    stored: list[str] = field(default_factory=list)
    backed_up: dict[str, str] = field(default_factory=dict)
    documents_kept: dict[str, int] = field(default_factory=dict)
    retries: int = 0

    @property
    def kept(self) -> int:
        """Documents kept in the backup directory (0 when everything reached tiled)."""
        return sum(self.documents_kept.values())

    def summary(self, data_dir: str | Path | None = None) -> str:
        """One line for people: what is in the backup and how to load it, or "".

        Parameters
        ----------
        data_dir : str or Path, optional
            The data directory to name in the ``msc-bluesky replay`` command.
        """
        if not self.backed_up:
            return ""
        where = f" --data-dir {data_dir}" if data_dir is not None else ""
        return (
            f"{self.kept} document{'s' if self.kept != 1 else ''} of "
            f"{len(self.backed_up)} run{'s' if len(self.backed_up) != 1 else ''} kept in "
            f"the local backup; run `msc-bluesky replay{where}`"
        )


class JournaledWriter:
    """Bluesky callback writing runs to tiled with a local JSON-lines backup.

    Parameters
    ----------
    client : tiled client, None, or a future of one
        Writable tiled container; None means no store is reachable (everything goes to
        the backup directory). A :class:`concurrent.futures.Future` (the store still
        opening on another thread): documents are journalled at once as always and
        sent to tiled once it has the client (:meth:`wait_client`); if it fails,
        the error is logged and every run stays in the backup directory, as with None.
    backup_dir : str or Path
        Directory of run journals.
    batch_size : int
        Events per tiled write (default 1).
    keep_backup : bool
        Keep journals of stored runs (moved to ``backup_dir/stored``) instead of removing
        them.
    probe_timeout : float
        Seconds to wait for the server's answer when checking it after a failure.
    retry_delays : sequence of float
        Pauses (s) before each retry of a transient failure; ``()`` disables retries.
    keep_tables : bool
        When a linked analysis run stops, store copies of its raw run's and its own
        scalar tables in its metadata (:mod:`.stored_tables`), so that
        :func:`~.browse.campaign_table` needs no table read per run.
    max_wait_s : float
        With ``batch_size`` > 1: when the writer has nothing queued, it writes a run's
        first events at once and others once they have waited this long, without
        waiting for a full batch (:meth:`RoutedTiledWriter.write_pending`). Default
        :data:`DEFAULT_MAX_WAIT_S`.
    """

    def __init__(
        self,
        client,
        backup_dir: str | Path,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        keep_backup: bool = False,
        probe_timeout: float = 2.0,
        retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS_S,
        keep_tables: bool = True,
        max_wait_s: float | None = None,
    ) -> None:
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.backup_dir = Path(backup_dir)
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        self.batch_size = int(batch_size)
        self.keep_backup = keep_backup
        self.probe_timeout = probe_timeout
        self.retry_delays = tuple(float(d) for d in retry_delays)
        self.max_wait_s = DEFAULT_MAX_WAIT_S if max_wait_s is None else float(max_wait_s)
        self.status = WriterStatus()
        self._tables = ScalarTables(self.batch_size) if keep_tables else None
        self._shared: dict[str, Any] = {}  # run kind -> TiledWriter, for self.client
        self._client_future = None
        self.store_error = ""
        if isinstance(client, Future):
            self._client_future, client = client, None
        elif client is not None:
            bound_tiled_retries(client)
        self.client = client
        self._offline = client is None and self._client_future is None
        self._runs: dict[str, _RunState] = {}
        self._run_of: dict[str, str] = {}  # descriptor / resource uid -> start uid
        self._queue: queue.Queue = queue.Queue()
        self._idle = threading.Condition()
        self._in_flight = 0
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="tiled-writer", daemon=True)
        self._thread.start()

    # -- RunEngine side ---------------------------------------------------------------

    def _start_uid(self, name: str, doc: dict) -> str | None:
        if name == "start":
            return doc["uid"]
        if name in ("stop", "descriptor", "resource", "stream_resource"):
            uid = doc.get("run_start")
            if name == "descriptor":
                self._run_of[doc["uid"]] = uid
            elif name in ("resource", "stream_resource"):
                self._run_of[doc["uid"]] = uid
            return uid
        if name in ("event", "event_page", "stream_datum"):
            return self._run_of.get(doc["descriptor"])
        if name in ("datum", "datum_page"):
            return self._run_of.get(doc["resource"])
        return None

    def __call__(self, name: str, doc: dict) -> None:
        """Journal a document and queue it for tiled."""
        if self._closed:
            raise RuntimeError("JournaledWriter is closed; build a new one")
        uid = self._start_uid(name, doc)
        if uid is None:
            logger.warning("ignoring a %r document that belongs to no known run", name)
            return
        if name == "start":
            self._runs[uid] = _RunState(journal=RunJournal(self.backup_dir, uid))
        state = self._runs.get(uid)
        if state is None:
            logger.warning("ignoring a %r document of run %s started elsewhere", name, uid)
            return
        state.journal.write(name, doc)
        state.journalled += 1
        with self._idle:
            self._in_flight += 1
        self._queue.put((uid, name, doc))
        if name == "stop":
            for key in [k for k, v in self._run_of.items() if v == uid]:
                del self._run_of[key]

    # -- writer thread ----------------------------------------------------------------

    def wait_client(self, timeout: float | None = None):
        """The tiled client, once a client given as a future has arrived.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait at most (None: until the store has opened or failed).

        Returns
        -------
        tiled client or None
            None when there is no store: it failed to open (:attr:`store_error` says
            why; the runs stay in the backup directory for ``msc-bluesky replay``) or
            is unreachable.

        Raises
        ------
        TimeoutError
            If the store is still opening after ``timeout`` seconds.
        """
        future = self._client_future
        if future is None:
            return self.client
        try:
            client = future.result(timeout)
        except FutureTimeoutError:
            raise TimeoutError(f"the store is still opening after {timeout} s") from None
        except Exception as err:
            client = None
            error = f"{type(err).__name__}: {err}"
        else:
            error = "" if client is not None else "tiled is not reachable"
        with self._idle:
            if self._client_future is None:  # another thread got here first
                return self.client
            if client is not None:
                bound_tiled_retries(client)
            elif error != "tiled is not reachable":
                logger.error("the store could not be opened (%s): every document stays "
                             "in %s; run `msc-bluesky replay`", error, self.backup_dir)
            self.client, self.store_error = client, error
            self._offline = client is None
            self._client_future = None
        return client

    def _server_answers(self) -> bool:
        if self.client is None:
            return False
        http = self.client.context.http_client
        try:
            http.get(str(self.client.context.api_uri), timeout=self.probe_timeout)
        except Exception:
            return False
        return True

    def _fail(self, uid: str, state: _RunState, reason: str) -> None:
        if not state.failed:
            logger.warning("run %s goes to the backup directory: %s", uid, reason)
        forget = getattr(state.tiled, "forget", None)
        if forget is not None:  # the shared writers keep nothing of the failed run
            forget()
        state.failed, state.tiled, state.error = True, None, reason
        if self.client is not None:
            self._offline = True

    def _rewrite(self, uid: str, state: _RunState, in_flight: int = 1) -> None:
        """Write the run again, from its journal, up to the document being handled.

        With a writer of its own: the shared ones forget what they had of the run.
        """
        forget = getattr(state.tiled, "forget", None)
        if forget is not None:
            forget()
        docs = read_journal(state.journal.path, limit=state.handled + in_flight)
        container = container_for(self.client, docs[0][1]) if docs else self.client
        try:
            container[uid]
        except KeyError:
            pass
        else:  # partly written before the failure: start over, the journal has it all
            container.delete_contents(uid, recursive=True, external_only=False)
        tiled = make_tiled_writer(self.client, self.batch_size)
        for name, doc in docs:
            tiled(name, doc)
        state.tiled = tiled

    def _retry(self, uid: str, state: _RunState, err: Exception, in_flight: int = 1) -> bool:
        """Retry a failed write with backoff while the error looks transient."""
        for delay in self.retry_delays:
            if not is_transient(err):
                return False
            logger.info("run %s: storage error (%s: %s); retrying in %g s",
                        uid, type(err).__name__, err, delay)
            time.sleep(delay)
            if not self._server_answers():  # tiled's client has retried it already
                return False
            try:
                self._rewrite(uid, state, in_flight)
            except Exception as again:
                err = again
                continue
            self.status.retries += 1
            return True
        return False

    def _write(self, uid: str, name: str, doc: dict) -> None:
        state = self._runs[uid]
        if name == "start":
            self.wait_client()
            if self._offline and not self._server_answers():
                self._fail(uid, state, self.store_error or "tiled is not reachable")
            else:
                self._offline = False
                state.tiled = make_tiled_writer(self.client, self.batch_size,
                                                shared=self._shared)
        if not state.failed:
            try:
                state.tiled(name, doc)
            except Exception as err:  # retried, else the journal is kept for replay
                if not self._retry(uid, state, err):
                    self._fail(uid, state, f"{type(err).__name__}: {err}")
        state.handled += 1
        if self._tables is not None:
            self._tables(name, doc)
            if name == "stop" and not state.failed:
                keep_copies_of(self.client, self._tables, uid)
        if name == "stop":
            self._finish(uid, state)

    def _write_pending(self) -> None:
        """Nothing queued: write the due events open runs hold for their next batch.

        With ``batch_size`` > 1: a stream's first events (they create its nodes, most of
        a short run's cost) and events waiting :attr:`max_wait_s` or longer, checked
        whenever the writer has just emptied its queue; the others fill their batch as
        before. A failure is handled as for any document (retried from the journal,
        else the run goes to the backup directory).
        """
        for uid, state in list(self._runs.items()):
            if state.failed or state.tiled is None or not hasattr(state.tiled, "write_pending"):
                continue
            try:
                state.tiled.write_pending(self.max_wait_s)
            except Exception as err:  # as for a document: retried, else the journal is kept
                if not self._retry(uid, state, err, in_flight=0):
                    self._fail(uid, state, f"{type(err).__name__}: {err}")

    def _finish(self, uid: str, state: _RunState) -> None:
        del self._runs[uid]
        if state.failed:
            state.journal.close()
            self._keep(uid, state, state.error)
        else:
            keep = self.backup_dir / STORED_SUBDIR if self.keep_backup else None
            state.journal.discard(keep_in=keep)
            self.status.stored.append(uid)

    def _keep(self, uid: str, state: _RunState, reason: str) -> None:
        self.status.backed_up[uid] = reason
        self.status.documents_kept[uid] = state.journalled
        logger.warning(
            "run %s: %d documents kept in the local backup %s (%s); "
            "load them with `msc-bluesky replay`",
            uid, state.journalled, state.journal.path, reason,
        )

    def backup_summary(self) -> str:
        """One line naming what is kept in the backup and how to load it, or "".

        The data directory named is the backup directory's parent (``<data_dir>/backup``).
        """
        return self.status.summary(self.backup_dir.parent)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._write(*item)
                if self._queue.empty():
                    self._write_pending()
            except Exception:
                logger.exception("tiled writer thread: unexpected error")
            finally:
                with self._idle:
                    self._in_flight -= 1
                    self._idle.notify_all()

    # -- control ----------------------------------------------------------------------

    def flush(self, timeout: float | None = 60.0) -> bool:
        """Wait until every queued document has been handled.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait at most (None: forever).

        Returns
        -------
        bool
            True when the queue drained in time.
        """
        with self._idle:
            return self._idle.wait_for(lambda: not self._in_flight, timeout)

    def close(self, timeout: float | None = 60.0) -> bool:
        """Drain the queue, stop the thread and close unfinished journals.

        Runs without a stop document keep their journal for replay.

        Returns
        -------
        bool
            True when everything queued was handled in time.
        """
        if self._closed:
            return True
        drained = self.flush(timeout)
        self._closed = True
        self._queue.put(None)
        if drained:
            self._thread.join(timeout)
            for uid, state in list(self._runs.items()):
                state.journal.close()
                self._keep(uid, state, "the run had not stopped when the writer closed")
            self._runs.clear()
        else:
            logger.warning("tiled writer did not drain in time; journals stay for replay")
        return drained
