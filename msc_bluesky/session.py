"""One configuration -> a RunEngine with storage, live analysis, progress and metadata.

>>> from msc_bluesky.session import SessionConfig, build_session
>>> s = build_session(SessionConfig.from_env())          # doctest: +SKIP
>>> s.RE(temperature_grid([s.uvvis, s.saxs], reactor=s.reactor, ...))  # doctest: +SKIP
>>> s.close()                                             # doctest: +SKIP

Storage (docs/storage.md): by default an embedded tiled catalog in the data directory
(``MSC_DATA_DIR``, default ``./msc_data``); with ``tiled_uri`` a tiled server; with
``catalog_uri`` a PostgreSQL catalog. Every document is journalled to
``<data_dir>/backup`` first, so nothing is lost when the store is unreachable; replay
with ``msc-bluesky replay``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msc_bluesky.storage.catalog import (
    DataDirectory,
    catalog_database_uri,
    close_client,
    connect,
    open_catalog,
)
from msc_bluesky.storage.metadata import JSONMetadata
from msc_bluesky.storage.writer import DEFAULT_BATCH_SIZE, JournaledWriter

logger = logging.getLogger(__name__)

#: Environment variables read by :meth:`SessionConfig.from_env` -> field.
ENV_FIELDS: dict[str, str] = {
    "MSC_PREFIX": "prefix",
    "MSC_DATA_DIR": "data_dir",
    "MSC_TILED_URI": "tiled_uri",
    "MSC_TILED_API_KEY": "api_key",
    "MSC_CATALOG_URI": "catalog_uri",
    "MSC_BATCH_SIZE": "batch_size",
    "MSC_HEARTBEAT_S": "heartbeat_s",
    "MSC_PAUSE_STANDBY_S": "pause_standby_s",
    "MSC_LIVE_PLOTS": "live_plots",
}
#: Environment variable naming a YAML file with SessionConfig fields.
CONFIG_ENV = "MSC_CONFIG"


@dataclass
class SessionConfig:
    """Everything :func:`build_session` needs.

    Parameters
    ----------
    prefix : str
        EPICS prefix of the IOC (``{prefix}reactor:`` ...).
    data_dir : str or Path
        Data directory: embedded catalog, array files, backup journals, RunEngine
        metadata.
    tiled_uri : str, optional
        tiled server URI; None means the embedded catalog in ``data_dir``.
    api_key : str, optional
        API key of the tiled server.
    catalog_uri : str, optional
        Embedded catalog database URI, e.g. ``postgresql://user@host:5432/db``; None
        means SQLite in ``data_dir``. Ignored when ``tiled_uri`` is given.
    live_analysis : bool
        Subscribe the live analysis (its analysis runs are stored too).
    live_plots : bool
        Show live plots of the analysis (needs ``live_analysis``).
    progress : bool
        Show a progress bar while the RunEngine waits.
    devices : bool
        Build ``reactor``, ``uvvis``, ``saxs`` for ``prefix`` (they connect on first use).
    batch_size : int
        Events per tiled write (1: a crash loses at most the event in flight).
    keep_backup : bool
        Keep the journals of stored runs in ``data_dir/backup/stored``.
    metadata : dict
        Added to every run's start document (``RE.md``).
    analysis_settings : dict, optional
        Passed to the live analysis.
    analysis_thread : bool
        Run the live analysis on a thread of its own (the RunEngine does not wait for
        the fits; storage is then shared under a lock). Default False; the campaign
        uses it.
    heartbeat_s : float
        Wall seconds between puts to the reactor IOC's heartbeat PV, so the IOC's
        watchdog (armed by default at 5 s of wall time) puts the heaters in standby if
        this process dies, freezes or halts. Default 1 s; 0 sends none (then the IOC's
        watchdog trips while heaters are on, unless the IOC runs ``--no-watchdog``).
    pause_standby_s : float
        Wall seconds a paused RunEngine keeps the heaters on before they go to standby
        (default 10 s, 0 … 600; ``MSC_PAUSE_STANDBY_S``). A resumed msc plan sets its
        condition again and settles before it measures.
    """

    prefix: str = "MSC:"
    data_dir: str | Path = "msc_data"
    tiled_uri: str | None = None
    api_key: str | None = None
    catalog_uri: str | None = None
    live_analysis: bool = True
    live_plots: bool = False
    progress: bool = True
    devices: bool = True
    batch_size: int = DEFAULT_BATCH_SIZE
    keep_backup: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    analysis_settings: dict[str, Any] | None = None
    heartbeat_s: float = 1.0
    analysis_thread: bool = False
    pause_standby_s: float = 10.0

    def __post_init__(self) -> None:
        try:
            self.heartbeat_s = float(self.heartbeat_s)
        except (TypeError, ValueError):
            raise ValueError(
                f"heartbeat_s must be a number of seconds >= 0, got {self.heartbeat_s!r}"
            ) from None
        if not self.heartbeat_s >= 0:
            raise ValueError(f"heartbeat_s must be >= 0 s, got {self.heartbeat_s!r}")
        from msc_bluesky.devices.engine_states import check_pause_standby

        self.pause_standby_s = check_pause_standby(self.pause_standby_s)
        try:
            self.batch_size = int(self.batch_size)
        except (TypeError, ValueError):
            raise ValueError(
                f"batch_size must be a positive integer, got {self.batch_size!r}"
            ) from None
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not isinstance(self.metadata, dict):
            raise ValueError(f"metadata must be a mapping, got {type(self.metadata).__name__}")
        if self.tiled_uri is not None and not str(self.tiled_uri).startswith(
            ("http://", "https://")
        ):
            raise ValueError(f"tiled_uri must start with http:// or https://: {self.tiled_uri!r}")
        for name in ("live_analysis", "live_plots", "progress", "devices", "keep_backup"):
            value = getattr(self, name)
            if isinstance(value, str):
                setattr(self, name, _parse_bool(name, value))

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names accepted in YAML files and keyword arguments."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> SessionConfig:
        """Read a YAML mapping of :class:`SessionConfig` fields.

        Parameters
        ----------
        path : str or Path
            The YAML file.
        **overrides
            Fields that win over the file.

        Returns
        -------
        SessionConfig
        """
        import yaml

        text = Path(path).read_text(encoding="utf-8")
        values = yaml.safe_load(text) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a mapping of session settings")
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ValueError(
                f"{path}: unknown setting(s) {unknown}; allowed: {', '.join(cls.field_names())}"
            )
        return cls(**{**values, **overrides})

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SessionConfig:
        """Configuration from the environment.

        ``MSC_CONFIG`` names a YAML file of fields; ``MSC_PREFIX``, ``MSC_DATA_DIR``,
        ``MSC_TILED_URI``, ``MSC_TILED_API_KEY``, ``MSC_CATALOG_URI`` and
        ``MSC_BATCH_SIZE`` override it.

        Parameters
        ----------
        environ : dict, optional
            Defaults to ``os.environ``.

        Returns
        -------
        SessionConfig
        """
        env = os.environ if environ is None else environ
        overrides = {name: env[var] for var, name in ENV_FIELDS.items() if env.get(var)}
        if env.get(CONFIG_ENV):
            return cls.from_yaml(env[CONFIG_ENV], **overrides)
        return cls(**overrides)


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be true/false (or 1/0, yes/no), got {value!r}")


@dataclass
class Session:
    """What :func:`build_session` built.

    Attributes
    ----------
    RE : bluesky.RunEngine
    reactor, uvvis, saxs : ophyd devices or None
    client : tiled client or None
        Catalog of runs (None when the tiled server could not be reached, and, with
        ``store_in_background``, until :meth:`store_ready`).
    writer : JournaledWriter
    live_analysis : LiveAnalysis or None
    config : SessionConfig
    tokens : dict
        Subscription tokens by name.
    store_error : str
        Why the store could not be opened ("" when it is open, still opening, or an
        unreachable server was reported by the writer).
    """

    RE: Any
    config: SessionConfig
    writer: JournaledWriter
    client: Any = None
    reactor: Any = None
    uvvis: Any = None
    saxs: Any = None
    live_analysis: Any = None
    analysis_thread: Any = None
    heartbeat: Any = None
    tokens: dict[str, int] = field(default_factory=dict)
    closed: bool = False
    store_error: str = ""

    def store_ready(self, timeout: float | None = 600.0) -> Any:
        """Wait until the store is open (``store_in_background``); the client or None.

        Sets :attr:`client`. None when no store is available: :attr:`store_error` says
        why (empty for an unreachable server, which the writer reports itself), and
        every document stays in the backup directory for ``msc-bluesky replay``. Without
        ``store_in_background`` the store is open already and this returns at once.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait at most (None: until it opened or failed).

        Raises
        ------
        TimeoutError
            If the store is still opening after ``timeout`` seconds.
        """
        if self.client is None:
            self.client = self.writer.wait_client(timeout)
            self.store_error = self.writer.store_error
        return self.client

    def drain(self, timeout: float = 600.0) -> bool:
        """Wait for the store, the live analysis (when on its own thread), then the writer.

        Returns
        -------
        bool
            True when everything was handled in time.
        """
        try:
            self.store_ready(timeout)
        except TimeoutError:
            return False
        if self.analysis_thread is not None and not self.analysis_thread.flush(timeout):
            return False
        return self.writer.flush(timeout)

    def close(self, timeout: float = 60.0) -> bool:
        """Unsubscribe, finish writing (journals of unfinished runs stay) and close tiled.

        Returns
        -------
        bool
            True when every document was handled in time.
        """
        if self.closed:
            return True
        self.closed = True
        if self.heartbeat is not None:
            self.heartbeat.stop()
        for token in self.tokens.values():
            self.RE.unsubscribe(token)
        self.tokens.clear()
        if self.analysis_thread is not None:
            self.analysis_thread.close(timeout)
        drained = self.writer.close(timeout)
        try:  # a store still opening is waited for, so that it is closed too
            self.store_ready(timeout)
        except TimeoutError:
            logger.warning("the store did not open within %g s", timeout)
        if self.client is not None:
            close_client(self.client)
        return drained


def _close_at_exit(session: Session, timeout: float = 30.0) -> None:
    """Close ``session`` when the interpreter exits, if the script did not.

    The hook runs before Python stops its thread pools (``threading._register_atexit``,
    as ``concurrent.futures`` itself uses), while the embedded tiled server still runs:
    a script that ends without ``session.close()`` still stores its last documents
    instead of racing the server's shutdown. Only a weak reference is held.
    """
    import threading
    import weakref

    ref = weakref.ref(session)

    def close() -> None:
        alive = ref()
        if alive is not None and not alive.closed:
            try:
                alive.close(timeout)
            except Exception as err:  # exiting anyway: say it, never raise here
                logger.warning("closing the session at exit: %s", err)

    register = getattr(threading, "_register_atexit", None)
    if register is None:  # pragma: no cover - Python < 3.9
        import atexit

        atexit.register(close)
    else:
        register(close)


def _open_store(config: SessionConfig, directory: DataDirectory):
    if config.tiled_uri is None:
        return open_catalog(directory.root, catalog_uri=config.catalog_uri)
    from msc_bluesky.storage.writer import bound_tiled_retries

    bound_tiled_retries()  # a dead server is known in seconds, not tiled's 45 s
    try:
        return connect(config.tiled_uri, api_key=config.api_key)
    except Exception as err:
        logger.warning(
            "tiled server %s is not reachable (%s): runs go to %s for a later `msc-bluesky replay`",
            config.tiled_uri,
            err,
            directory.backup_dir,
        )
        return None


class _StoreOpening(Future):
    """The future of a store opening on a thread, which may wait for :meth:`start`."""

    def __init__(self, deferred: bool) -> None:
        super().__init__()
        self.abandoned = False
        self.started = threading.Event()
        if not deferred:
            self.started.set()

    def start(self) -> None:
        """Let the opening begin (at once if it has already)."""
        self.started.set()

    def abandon(self) -> None:
        """Never open the store if the opening has not begun (its result is then None)."""
        if not self.started.is_set():
            self.abandoned = True
            self.started.set()


def _open_store_in_background(config: SessionConfig, directory: DataDirectory, *,
                              deferred: bool = False,
                              before_store: Callable[[], Any] | None = None) -> Future:
    """:func:`_open_store` on a daemon thread; its future (client, None or the error).

    With ``deferred``, the thread waits until the future's ``start()`` is called before
    it opens the store (``abandon()``: it never does, the result is None).
    ``before_store`` is called on that thread first (its error is the future's).
    """
    future = _StoreOpening(deferred)
    future.set_running_or_notify_cancel()

    def work() -> None:
        future.started.wait()
        if future.abandoned:
            future.set_result(None)
            return
        try:
            if before_store is not None:
                before_store()
            client = _open_store(config, directory)
        except BaseException as err:  # noqa: BLE001 - handed to whoever waits for it
            future.set_exception(err)
        else:
            future.set_result(client)

    threading.Thread(target=work, name="msc-open-store", daemon=True).start()
    return future


#: Wall seconds the live analysis (on its own thread) waits at most for a store opening
#: in the background before it starts on the documents queued for it.
STORE_FIRST_WAIT_S = 20.0


def _quietly(wait: Callable[[float], Any], timeout: float) -> None:
    try:
        wait(timeout)
    except TimeoutError:
        logger.info("the store is still opening after %g s; the live analysis goes on",
                    timeout)


def _close_when_open(future: Future) -> None:
    """Close the client a background opening gives, once it has it (session not built)."""

    def done(f: Future) -> None:
        if not f.cancelled() and f.exception() is None and f.result() is not None:
            close_client(f.result())

    if isinstance(future, _StoreOpening):
        future.abandon()  # a store still waiting to open is not opened at all
    future.add_done_callback(done)


def _session_metadata(directory: DataDirectory) -> JSONMetadata:
    return JSONMetadata(directory.root / "runengine-metadata.json")


def build_session(
    config: SessionConfig | None = None,
    *,
    store_in_background: bool = False,
    before_devices: Callable[[], Any] | None = None,
    store_after_devices: bool = False,
    before_store: Callable[[], Any] | None = None,
) -> Session:
    """Build the RunEngine and its subscriptions from one configuration.

    Subscriptions, in order: the journalled tiled writer, then the live analysis (whose
    analysis-run documents go to the same writer). The RunEngine's metadata persist in
    ``data_dir/runengine-metadata.json`` (scan ids continue across sessions) and include
    ``config.metadata``.

    Parameters
    ----------
    config : SessionConfig, optional
        Default :meth:`SessionConfig.from_env`.
    store_in_background : bool
        Open the store (tiled's server code, the catalogue: seconds) on a thread of its
        own while the devices connect and the RunEngine is built; ``session.client`` is
        then None until :meth:`Session.store_ready` (``drain`` and ``close`` wait for
        it). Documents of runs started before are journalled as always and sent to
        tiled once it is open. If it fails to open, the error is logged, returned by
        ``store_ready`` as None with :attr:`Session.store_error`, and every document
        stays in the backup directory for ``msc-bluesky replay``. Default False: the
        store is open (or has raised) when this returns.
    before_devices : callable, optional
        Called with no arguments before the devices are built (while the store opens
        in the background), e.g. a wait until a just-started IOC answers, so that the
        devices' first searches find it.
    store_after_devices : bool
        With ``store_in_background``: the store's thread starts opening it only when
        the devices are built and everything else is imported (as this returns), so
        while the devices connect. Opening it is seconds of CPU work (tiled's server
        code) under Python's GIL: alongside, it slows this thread's imports, which
        are start-up's critical path. Default False: it starts at once.
    before_store : callable, optional
        Called with no arguments before the store is opened (on the store's thread with
        ``store_in_background``), e.g. a wait until a just-started server
        (:class:`~msc_bluesky.storage.served_store.ServedStore`) answers. If it raises,
        the store is not opened: with ``store_in_background`` as for a store that failed
        to open (every document stays in the backup directory, :attr:`Session.store_error`
        says why); without, ``build_session`` raises it.

    Returns
    -------
    Session
    """
    config = SessionConfig.from_env() if config is None else config
    directory = DataDirectory(Path(config.data_dir).resolve()).create()
    if config.tiled_uri is None:  # a bad catalog URI is refused before anything connects
        catalog_database_uri(directory.root, config.catalog_uri)
    store: Any = None
    if store_in_background:
        store = _open_store_in_background(config, directory, deferred=store_after_devices,
                                          before_store=before_store)
    try:
        if before_devices is not None:
            if config.devices:  # their imports overlap with what before_devices waits for
                import msc_bluesky.instrument  # noqa: F401
            before_devices()
        devices = _build_devices(config)  # they connect while the store opens (seconds)
        if store is None:
            if before_store is not None:
                before_store()
            store = _open_store(config, directory)
    except BaseException:
        if config.devices:  # their Channel Access client still closes quietly at exit
            from msc_bluesky.devices.shutdown import install_orderly_shutdown

            install_orderly_shutdown()
        if isinstance(store, Future):
            _close_when_open(store)
        raise
    try:
        session = _wire_session(config, directory, store, devices)
    except BaseException:
        if isinstance(store, Future):
            _close_when_open(store)  # an opening not begun never begins
        raise
    if isinstance(store, _StoreOpening):
        store.start()  # store_after_devices: the imports are done, the devices built
    return session


def _wire_session(config: SessionConfig, directory: DataDirectory, store: Any,
                  devices: tuple[Any, Any, Any]) -> Session:
    """The RunEngine, writer, live analysis, heartbeat and hooks of a session."""
    from bluesky import RunEngine

    writer = JournaledWriter(
        store,
        directory.backup_dir,
        batch_size=config.batch_size,
        keep_backup=config.keep_backup,
    )
    RE = RunEngine(_session_metadata(directory))
    RE.md.update(config.metadata)
    session = Session(RE=RE, config=config, writer=writer, client=writer.client)
    threaded = config.live_analysis and config.analysis_thread
    sink = writer
    if threaded:
        from msc_bluesky.callbacks.threaded import SerializedCallback

        sink = SerializedCallback(writer)  # the RunEngine and the analysis thread
    session.tokens["tiled"] = RE.subscribe(sink)
    _close_at_exit(session)
    if config.live_analysis:
        session.live_analysis = _live_analysis(config, sink)
        analysis = session.live_analysis
        if threaded:
            from msc_bluesky.callbacks.threaded import ThreadedCallback

            # While the store opens in the background the fits wait for it (bounded):
            # opening it is CPU work that the fits would otherwise slow down, and their
            # documents only queue for it meanwhile; the RunEngine never waits.
            wait = (None if writer.client is not None else
                    lambda: _quietly(writer.wait_client, STORE_FIRST_WAIT_S))
            analysis = session.analysis_thread = ThreadedCallback(
                session.live_analysis, name="msc-live-analysis", before_first=wait)
        session.tokens["live_analysis"] = RE.subscribe(analysis)
    if config.progress:
        from bluesky.utils import ProgressBarManager

        RE.waiting_hook = ProgressBarManager()
    if config.devices:
        session.reactor, session.uvvis, session.saxs = devices
        if config.heartbeat_s > 0:
            from msc_bluesky.devices.heartbeat import Heartbeat

            session.heartbeat = Heartbeat(session.reactor.heartbeat, config.heartbeat_s).start()
    from msc_bluesky.devices.engine_states import ReactorStateHook

    RE.state_hook = ReactorStateHook(RE, session.reactor, session.heartbeat, RE.state_hook,
                                     pause_standby_s=config.pause_standby_s)
    from msc_bluesky.devices.shutdown import install_orderly_shutdown

    install_orderly_shutdown()
    return session


def _build_devices(config: SessionConfig) -> tuple[Any, Any, Any]:
    """``reactor``, ``uvvis``, ``saxs`` for ``config.prefix`` (Nones without devices).

    Building them starts their Channel Access searches and connections in the
    background, so they are built before the store opens and are usually connected
    once it is open.
    """
    if not config.devices:
        return None, None, None
    from msc_bluesky import instrument

    return (instrument.reactor(config.prefix), instrument.uvvis(config.prefix),
            instrument.saxs(config.prefix))


def _live_analysis(config: SessionConfig, writer: JournaledWriter):
    from msc_bluesky.callbacks import LiveAnalysis

    listeners = []
    if config.live_plots:
        from msc_bluesky.callbacks import LivePlot

        listeners.append(LivePlot())
    if listeners:
        return LiveAnalysis(writer, config.analysis_settings, listeners=listeners)
    return LiveAnalysis(writer, config.analysis_settings)
