"""The tiled catalog behind a data directory, and clients to reach it.

A data directory (``MSC_DATA_DIR``, default ``./msc_data``) holds::

    catalog.db      tiled's SQLite catalog (metadata of every node), unless a
                    PostgreSQL catalog URI is given
    tables.db       SQLite database of the tabular (scalar) event data
    data/           array data files (zarr) written by tiled
    backup/         JSON-lines journals of runs not (yet) stored in tiled
    orphaned/       array files an interrupted write left without a node, moved
                    aside when a node is created at their path again

The root of the catalog holds the ``raw`` and ``analysis`` catalogs of runs
(:mod:`.layout`). Creating a tiled catalog runs ``tiled catalog init`` in a subprocess
(~4 s); it is done once per catalog and skipped when the catalog already exists.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus, urljoin, urlsplit, urlunsplit

from .layout import own_structure_clients

logger = logging.getLogger(__name__)

#: The tiled spec of a catalog of runs: the store's ``raw`` and ``analysis`` containers
#: carry it (docs/storage.md "Layout"); the root is a plain container holding them.
ROOT_SPEC_NAME = "CatalogOfBlueskyRuns"
#: Subdirectory of a data directory receiving array files that belong to no node.
ORPHANED_SUBDIR = "orphaned"


@dataclass(frozen=True)
class DataDirectory:
    """Paths inside a data directory.

    Parameters
    ----------
    root : Path
        The data directory.
    """

    root: Path

    @property
    def catalog_db(self) -> Path:
        """SQLite catalog file (used unless a catalog URI is given)."""
        return self.root / "catalog.db"

    @property
    def tables_db(self) -> Path:
        """SQLite file holding the tabular event data."""
        return self.root / "tables.db"

    @property
    def array_dir(self) -> Path:
        """Directory of array data files."""
        return self.root / "data"

    @property
    def backup_dir(self) -> Path:
        """Directory of run journals awaiting replay."""
        return self.root / "backup"

    @property
    def orphaned_dir(self) -> Path:
        """Directory of array files found without a node (:func:`set_aside_leftover`)."""
        return self.root / ORPHANED_SUBDIR

    def create(self) -> DataDirectory:
        """Create the directories (not the catalog); return self."""
        self.array_dir.mkdir(parents=True, exist_ok=True)
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        return self


def _is_postgres(uri: str) -> bool:
    return urlsplit(uri).scheme.split("+")[0] in {"postgresql", "postgres"}


def catalog_database_uri(data_dir: str | Path, catalog_uri: str | None = None) -> str:
    """The SQL URI of the catalog database.

    Parameters
    ----------
    data_dir : str or Path
        The data directory.
    catalog_uri : str, optional
        ``postgresql://user@host:port/db`` or ``sqlite:///path``; default the SQLite file
        ``catalog.db`` in ``data_dir``.

    Returns
    -------
    str
    """
    if catalog_uri is None:
        return f"sqlite:///{DataDirectory(Path(data_dir).resolve()).catalog_db}"
    scheme = urlsplit(catalog_uri).scheme.split("+")[0]
    if scheme not in {"sqlite", "postgresql", "postgres"}:
        raise ValueError(
            f"catalog URI {catalog_uri!r}: scheme {scheme!r} is not supported; "
            "use sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"
        )
    return catalog_uri


def _tables_storage_uri(directory: DataDirectory, catalog_uri: str) -> str:
    if _is_postgres(catalog_uri):
        parts = urlsplit(catalog_uri)
        return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, ""))
    return f"sqlite:///{directory.tables_db}"


def _postgres_has_catalog(uri: str) -> bool:
    import psycopg2

    parts = urlsplit(uri)
    dsn = urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, ""))
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('public.nodes') IS NOT NULL")
        (exists,) = cur.fetchone()
    conn.close()
    return bool(exists)


def catalog_exists(data_dir: str | Path, catalog_uri: str | None = None) -> bool:
    """Whether the catalog database has been initialised.

    Parameters
    ----------
    data_dir : str or Path
        The data directory.
    catalog_uri : str, optional
        Catalog database URI (see :func:`catalog_database_uri`).

    Returns
    -------
    bool
    """
    uri = catalog_database_uri(data_dir, catalog_uri)
    if _is_postgres(uri):
        return _postgres_has_catalog(uri)
    path = Path(uri.split(":///", 1)[1] if ":///" in uri else uri)
    return path.is_file() and path.stat().st_size > 0


def catalog_adapter(data_dir: str | Path, *, catalog_uri: str | None = None):
    """Open (creating once if needed) the writable tiled catalog of a data directory.

    Parameters
    ----------
    data_dir : str or Path
        The data directory; created if missing.
    catalog_uri : str, optional
        Catalog database URI; default SQLite ``catalog.db`` in ``data_dir``. With a
        PostgreSQL URI, the tabular data go to the same PostgreSQL database.

    Returns
    -------
    tiled catalog adapter
        Ready for :func:`tiled.server.app.build_app`.
    """
    import fcntl

    from tiled.catalog import from_uri

    directory = DataDirectory(Path(data_dir).resolve()).create()
    uri = catalog_database_uri(directory.root, catalog_uri)
    _install_leftover_aware_zarr_storage()
    storage = [directory.array_dir, _tables_storage_uri(directory, uri)]
    if catalog_exists(directory.root, catalog_uri):
        return from_uri(uri, writable_storage=storage, init_if_not_exists=False)
    # Two sessions opening a new data directory at once (two campaigns) must not both
    # create the catalog's tables: the first creates them, the other waits and opens.
    with open(directory.root / ".catalog-init.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            needs_init = not catalog_exists(directory.root, catalog_uri)
            if needs_init:
                logger.info("Creating the tiled catalog %s (once)", uri)
                needs_init = not _initialise_catalog(uri)
            return from_uri(uri, writable_storage=storage, init_if_not_exists=needs_init)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def set_aside_leftover(storage_uri: str, path_parts: list[str]) -> Path | None:
    """Move away the files at a new array node's path, left there by a killed write.

    tiled creates an array node in two steps: it writes the zarr array's files at the
    node's path under the writable storage, then commits the node to the catalogue. A
    process killed between the two (SIGKILL, power loss) leaves the files with no node.
    Creating a node at that path again (rewriting the run from its journal) then failed
    in zarr ("An array exists in store", HTTP 500) on every attempt. This is called by
    tiled's node creation after it has added the new node to the catalogue (in its open
    transaction): no other node holds this path, so the files there are nobody's. They
    are moved, never deleted, to ``<data_dir>/orphaned/<UTC time>/<path>``.

    Parameters
    ----------
    storage_uri : str
        The writable file storage (``file://.../<data_dir>/data``).
    path_parts : list of str
        The new node's path in the catalogue.

    Returns
    -------
    Path or None
        Where the files went, or None when there were none (the usual case) or the
        storage is not a local directory.
    """
    from tiled.utils import path_from_uri

    if urlsplit(storage_uri).scheme != "file":
        return None
    root = path_from_uri(storage_uri)
    # the data URI tiled's ZarrArrayAdapter.init_storage gives the node
    data_uri = urljoin(storage_uri + "/", "/".join(quote_plus(part) for part in path_parts))
    target = path_from_uri(data_uri)
    if not target.exists():
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]
    moved = root.parent / ORPHANED_SUBDIR / stamp / target.relative_to(root)
    moved.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(target, moved)
    logger.warning("array files at %s belong to no node in the catalogue (a write was "
                   "interrupted before its commit): moved to %s", target, moved)
    return moved


_LEFTOVER_AWARE_ZARR: type | None = None


def _install_leftover_aware_zarr_storage() -> None:
    """Have tiled create zarr array nodes with :func:`set_aside_leftover` first.

    tiled picks the class that creates a node's storage from its registry
    ``STORAGE_ADAPTERS_BY_MIMETYPE`` (process-wide); the one registered here is tiled's
    ``ZarrArrayAdapter`` with that step added (reading is unchanged). Idempotent.
    """
    global _LEFTOVER_AWARE_ZARR
    if _LEFTOVER_AWARE_ZARR is not None:
        return
    from tiled.adapters.zarr import ZarrArrayAdapter
    from tiled.catalog.adapter import STORAGE_ADAPTERS_BY_MIMETYPE
    from tiled.mimetypes import ZARR_MIMETYPE

    class LeftoverAwareZarrArrayAdapter(ZarrArrayAdapter):
        @classmethod
        def init_storage(cls, storage, data_source, path_parts):
            set_aside_leftover(storage.uri, list(path_parts))
            return super().init_storage(storage, data_source, path_parts)

    STORAGE_ADAPTERS_BY_MIMETYPE.set(ZARR_MIMETYPE, lambda: LeftoverAwareZarrArrayAdapter)
    _LEFTOVER_AWARE_ZARR = LeftoverAwareZarrArrayAdapter


def use_write_ahead_log(data_dir: str | Path, *, catalog_uri: str | None = None) -> list[str]:
    """Put the SQLite databases of a data directory in write-ahead-log (WAL) mode.

    In SQLite's default (rollback journal) mode a write locks out every reader, so a
    server's readers polling while a writer streams now and then get "database is
    locked" (HTTP 500). In WAL mode readers never wait for the writer, nor it for them.
    The mode is kept in the database files (also for embedded sessions opening them
    later). It needs a local file system (not NFS): ``msc-bluesky serve`` sets it; back
    up the ``-wal`` files with the databases (docs/deployment.md). A database another
    process has open is left as it is (logged). Nothing to do for a PostgreSQL catalog.

    Parameters
    ----------
    data_dir : str or Path
        The data directory (its ``catalog.db`` and ``tables.db``; the latter is created
        empty if missing, so that tiled finds it in WAL mode).
    catalog_uri : str, optional
        Catalog database URI; only the default SQLite catalog is changed.

    Returns
    -------
    list of str
        The databases now in WAL mode.
    """
    import sqlite3

    uri = catalog_database_uri(data_dir, catalog_uri)
    if _is_postgres(uri):
        return []
    directory = DataDirectory(Path(data_dir).resolve())
    done = []
    catalog_db = Path(uri.split("sqlite:///", 1)[-1]) if uri.startswith("sqlite:///") else None
    for path in (p for p in (catalog_db, directory.tables_db) if p is not None):
        try:
            connection = sqlite3.connect(path, timeout=5.0)
            try:
                mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            finally:
                connection.close()
        except sqlite3.Error as err:
            logger.warning("%s stays in its journal mode (%s)", path, err)
            continue
        if str(mode).lower() == "wal":
            done.append(str(path))
        else:
            logger.warning("%s stays in journal mode %s", path, mode)
    return done


def _initialise_catalog(uri: str) -> bool:
    """Create the catalog's tables and stamp their revision, as ``tiled catalog init`` does.

    In this process (tiled runs that command in a new Python process, which costs
    seconds of imports), in a thread of its own so that a running event loop (Jupyter)
    does not get in the way. Returns False if tiled's internals are not as expected;
    the caller then lets tiled initialise the catalog itself.
    """
    import asyncio
    import threading

    try:
        from sqlalchemy.ext.asyncio import create_async_engine
        from tiled.alembic_utils import UninitializedDatabase, check_database, stamp_head
        from tiled.catalog.alembic_constants import ALEMBIC_DIR, ALEMBIC_INI_TEMPLATE_PATH
        from tiled.catalog.core import ALL_REVISIONS, REQUIRED_REVISION, initialize_database
        from tiled.utils import ensure_specified_sql_driver
    except ImportError as err:
        logger.info("tiled catalog init in-process unavailable (%s)", err)
        return False
    database = ensure_specified_sql_driver(uri)

    async def create_tables() -> None:
        engine = create_async_engine(database)
        try:
            try:
                await check_database(engine, REQUIRED_REVISION, ALL_REVISIONS)
            except UninitializedDatabase:
                await initialize_database(engine)
        finally:
            await engine.dispose()

    errors: list[BaseException] = []

    def work() -> None:
        try:
            asyncio.run(create_tables())
            stamp_head(ALEMBIC_INI_TEMPLATE_PATH, ALEMBIC_DIR, database)
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(err)

    thread = threading.Thread(target=work, name="tiled-catalog-init")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return True


def open_catalog(data_dir: str | Path, *, catalog_uri: str | None = None):
    """An in-process (embedded) writable tiled client on a data directory.

    Parameters
    ----------
    data_dir : str or Path
        The data directory; created if missing.
    catalog_uri : str, optional
        Catalog database URI (see :func:`catalog_adapter`).

    Returns
    -------
    tiled.client.container.Container
        The store's root (``client["raw"]``, ``client["analysis"]``); close it with
        :func:`close_client`. Its runs are ``BlueskyRunV3`` clients whatever databroker
        does to tiled's shared client map (:func:`.layout.own_structure_clients`).
    """
    import logging
    import warnings

    with warnings.catch_warnings():
        # tiled's in-process transport; the deprecation is tiled's to act on, not users'
        warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
        from tiled.client import Context, from_context
        from tiled.server.app import build_app

        # the embedded server announces its version at INFO: not news in a session
        logging.getLogger("tiled.server.app").setLevel(logging.WARNING)
        adapter = catalog_adapter(data_dir, catalog_uri=catalog_uri)
        context = Context.from_app(build_app(adapter))
    if not _adapter_has_listeners(adapter):
        _QUIET_CONTEXTS.add(context)
    return from_context(context, structure_clients=own_structure_clients())


#: Contexts of embedded stores whose catalog has no streaming cache and no webhooks.
_QUIET_CONTEXTS: weakref.WeakSet = weakref.WeakSet()


def _adapter_has_listeners(adapter) -> bool:
    """Whether a catalog adapter may pass stream events on (streaming cache, webhooks)."""
    context = getattr(adapter, "context", None)
    if context is None or not hasattr(context, "cache_config"):
        return True  # not the adapter we know: assume someone listens
    return bool(context.cache_config) or bool(getattr(context, "webhook_secret_keys", None))


def has_stream_listeners(client) -> bool:
    """Whether tiled's end-of-stream notices from this client can reach anyone.

    False only for a client of :func:`open_catalog` whose catalog has no streaming
    cache and no webhooks: the server does nothing with a notice then, and no other
    process can subscribe to an in-process store. True for every server (its readers
    may follow a run as it is written) and for anything unknown.

    Parameters
    ----------
    client : tiled client

    Returns
    -------
    bool
    """
    context = getattr(client, "context", None)
    try:
        return context not in _QUIET_CONTEXTS
    except TypeError:  # not weak-referenceable: not one of ours
        return True


def connect(uri: str, api_key: str | None = None):
    """A tiled client for a tiled server.

    Parameters
    ----------
    uri : str
        Server URI, e.g. ``http://127.0.0.1:8000``.
    api_key : str, optional
        The server's API key.

    Returns
    -------
    tiled.client.container.Container
    """
    from tiled.client import from_uri

    if urlsplit(uri).scheme not in {"http", "https"}:
        raise ValueError(f"tiled URI {uri!r} must start with http:// or https://")
    return from_uri(uri, api_key=api_key, structure_clients=own_structure_clients())


def close_client(client) -> None:
    """Close a client from :func:`open_catalog` or :func:`connect` (idempotent)."""
    try:
        client.context.close()
    except Exception:  # already closed
        logger.debug("client already closed", exc_info=True)


def _is_uri(source) -> bool:
    return isinstance(source, str) and urlsplit(source).scheme in {"http", "https"}


def open_databroker(
    source,
    *,
    api_key: str | None = None,
    catalog_uri: str | None = None,
):
    """A ``databroker.Broker`` over the raw runs of a store (legacy ``db[-1]`` API).

    Parameters
    ----------
    source : str, Path or tiled client
        A data directory (embedded catalog), a tiled server URI (``http://...``), or an
        open client of the store's root.
    api_key : str, optional
        API key of a tiled server (default: ``$TILED_API_KEY``, read by tiled).
    catalog_uri : str, optional
        Catalog database URI of an embedded store (PostgreSQL).

    Returns
    -------
    databroker.Broker
        ``db[-1]`` is the last scan (raw run): ``db[-1].start``, ``db[-1].table()``,
        ``db(plan_name="temperature_grid")``, ``db[-1].v2`` (the tiled run). A store of
        the old layout (every run at the root, :mod:`.layout`) gives a Broker over the
        root, with a warning that analysis runs are mixed in until it is migrated.

    Examples
    --------
    >>> db = open_databroker("msc_data")          # doctest: +SKIP
    >>> db[-1].table()["reactor_t_nuc"]           # doctest: +SKIP
    """
    from databroker import Broker

    from .layout import RAW, as_run_catalog, count_legacy_runs, ensure_layout, is_run_catalog

    if _is_uri(source):
        client = connect(source, api_key=api_key)
    elif isinstance(source, str | Path):
        client = open_catalog(source, catalog_uri=catalog_uri)
    else:
        client = source
    if is_run_catalog(client):
        return Broker(as_run_catalog(client, run_client="default"))
    from tiled.client.container import Container

    try:
        raw = Container.__getitem__(client, RAW)
    except KeyError:
        raw = None
    if raw is None and count_legacy_runs(client):
        logger.warning(
            "this store has the old layout (raw and analysis runs together at the root): "
            "db[-1] may be an analysis run; `msc-bluesky replay --migrate` separates them"
        )
        return Broker(as_run_catalog(client, run_client="default"))
    if raw is None:
        raw = ensure_layout(client)[RAW]
    elif count_legacy_runs(client):
        logger.warning(
            "%d runs of the old layout are at the root of this store and not in db; "
            "`msc-bluesky replay --migrate` moves them",
            count_legacy_runs(client),
        )
    return Broker(as_run_catalog(raw, run_client="default"))

