"""What ``profile_collection/startup`` calls: one session for IPython and the queue server.

The startup files stay thin: they call :func:`open_session` and bind its parts to the
names users type (``RE``, ``reactor``, ``uvvis``, ``saxs``). Nothing here connects to
EPICS: devices connect when a plan first uses them, so ``qserver-list-plans-devices``
works without an IOC.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import sys

logger = logging.getLogger(__name__)

#: Environment variable naming the 0MQ proxy input (host:port) sessions publish to.
LIVE_STREAM_ENV = "MSC_LIVE_STREAM"
#: The session :func:`open_session` built last (what :func:`banner` describes).
_opened: list = []
#: Live-stream publishers by ``id(session)`` (:func:`live_stream_publisher`).
_publishers: dict = {}


def in_queue_server() -> bool:
    """True when the code runs in a bluesky-queueserver worker or its list generator."""
    from bluesky_queueserver import is_re_worker_active

    return bool(is_re_worker_active())


def queue_server_config(cfg):
    """Return ``cfg`` with live plots and the progress bar off (nobody watches a worker).

    Parameters
    ----------
    cfg : msc_bluesky.session.SessionConfig
        Configuration read from the environment.
    """
    changes = {k: False for k in ("live_plots", "progress") if hasattr(cfg, k)}
    if dataclasses.is_dataclass(cfg):
        return dataclasses.replace(cfg, **changes)
    for key, value in changes.items():
        setattr(cfg, key, value)
    return cfg


class FlushAfterRun:
    """RunEngine callback that waits, at every stop document, until the writer is idle.

    Subscribed last, it makes ``RE(...)`` return (and a queued plan count as finished)
    only once the run and its analysis run are stored. Without it the last run could
    miss tiled: the queue server's worker ends with ``os._exit`` (no ``atexit``), and
    at interpreter exit the embedded tiled server stops before ``atexit`` handlers run.

    Parameters
    ----------
    writer : object with ``flush(timeout) -> bool``
        The session's tiled writer.
    timeout : float
        Seconds to wait at most; a slower store is logged, the run's journal stays.
    """

    def __init__(self, writer, timeout: float = 60.0) -> None:
        self.writer = writer
        self.timeout = timeout

    def __call__(self, name: str, doc: dict) -> None:
        if name == "stop" and not self.writer.flush(self.timeout):
            logger.warning(
                "run %s: tiled writing not finished after %g s; its journal is kept for replay",
                doc.get("run_start"),
                self.timeout,
            )


def wants_live_plots(environ=None) -> bool:
    """Whether an interactive session should show live plots by default.

    Yes when a display is available (``DISPLAY`` or ``WAYLAND_DISPLAY``, or macOS /
    Windows), unless ``MSC_LIVE_PLOTS`` says otherwise; never in the queue server.
    """
    import os
    import sys

    env = os.environ if environ is None else environ
    if "MSC_LIVE_PLOTS" in env:
        return env["MSC_LIVE_PLOTS"].strip().lower() in ("1", "true", "yes", "on")
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")) or sys.platform in (
        "darwin", "win32",
    )


def open_session(cfg=None):
    """Build the profile's session and close it when the interpreter exits.

    Parameters
    ----------
    cfg : msc_bluesky.session.SessionConfig or None
        Configuration; read from ``MSC_*`` environment variables (or the YAML file named
        by ``MSC_CONFIG``) when None, with live plots on in an interactive session that
        has a display (:func:`wants_live_plots`). In the queue server, plots and progress
        bars are switched off whatever the configuration says, and a plan whose runs were
        kept in the local backup fails with that message
        (:mod:`msc_bluesky.qserver.storage_check`). Every run is stored before the
        plan returns (:class:`FlushAfterRun`). With ``MSC_LIVE_STREAM`` set, every document
        is also published to that 0MQ proxy (:func:`publish_live_stream`).

    Returns
    -------
    msc_bluesky.session.Session
        ``.RE``, ``.reactor``, ``.uvvis``, ``.saxs``, ``.client``, ``.close()``.
    """
    from msc_bluesky.session import SessionConfig, build_session

    if cfg is None:
        cfg = SessionConfig.from_env()
        if not in_queue_server() and wants_live_plots() and cfg.live_analysis:
            cfg = dataclasses.replace(cfg, live_plots=True)
    if in_queue_server():
        cfg = queue_server_config(cfg)
    session = build_session(cfg)
    session.tokens["flush_after_run"] = session.RE.subscribe(FlushAfterRun(session.writer))
    if in_queue_server():  # the item's result says what went to the backup
        from msc_bluesky.qserver.storage_check import storage_checked

        session.RE.preprocessors.append(storage_checked(session.writer, cfg))
    publish_live_stream(session)
    atexit.register(session.close)
    _opened[:] = [session]
    logger.info("msc_bluesky session ready: %s", cfg)
    return session


def publish_live_stream(session, address: str | None = None):
    """Publish the session's documents (JSON) to the 0MQ proxy at ``address``.

    Parameters
    ----------
    session : msc_bluesky.session.Session
        Its RunEngine gets the publisher; ``session.close()`` unsubscribes it.
    address : str or None
        ``host:port`` of the proxy's input; ``MSC_LIVE_STREAM`` when None, and nothing
        is published when that is unset too.

    Returns
    -------
    bluesky.callbacks.zmq.Publisher or None
    """
    address = address or os.environ.get(LIVE_STREAM_ENV)
    if not address:
        return None
    from msc_bluesky.callbacks.zmq_consumer import subscribe_publisher

    token, publisher = subscribe_publisher(session.RE, address)
    session.tokens["live_stream"] = token
    _publishers[id(session)] = publisher
    atexit.register(publisher.close)
    logger.info("publishing documents to the 0MQ proxy at %s", address)
    return publisher


def live_stream_publisher(session):
    """The publisher :func:`publish_live_stream` subscribed to ``session``, or None.

    Useful to send probe documents (``zmq_consumer.wait_for_consumer``) through the
    same 0MQ connection before the first run.
    """
    return _publishers.get(id(session))


def best_effort_callback(session, *, plots: bool | None = None):
    """Subscribe bluesky's BestEffortCallback in an interactive session.

    Tables of every run always; plots when a display is available
    (:func:`wants_live_plots`); nothing in the queue server, where no one watches
    (``msc-bluesky live`` shows queued runs).

    Parameters
    ----------
    session : msc_bluesky.session.Session
        Its RunEngine gets the callback; ``session.close()`` unsubscribes it.
    plots : bool or None
        Force plots on or off; None decides from the display.

    Returns
    -------
    BestEffortCallback or None
        ``bec`` in the profile (``bec.disable_plots()``, ``bec.peaks``); None in the queue
        server.
    """
    if in_queue_server():
        return None
    from bluesky.callbacks.best_effort import BestEffortCallback

    bec = BestEffortCallback()
    if not (wants_live_plots() if plots is None else plots):
        bec.disable_plots()
    session.tokens["best_effort"] = session.RE.subscribe(bec)
    return bec


#: What the profile defines, for the banner (name, description).
PROFILE_NAMES: tuple[tuple[str, str], ...] = (
    ("RE", "the RunEngine: RE(plan) stores raw and analysis runs"),
    ("reactor uvvis saxs", "the instrument's devices"),
    ("bec", "BestEffortCallback: a table of every run, plots with a display"),
    ("bp bps", "bluesky.plans and bluesky.plan_stubs, e.g. RE(bp.count([uvvis]))"),
    ("session", "session.client is the tiled catalog of runs"),
)
#: The msc plans the profile defines (and the queue server offers).
PROFILE_PLANS = (
    "temperature_grid", "condition_scan", "reaction_time_series",
    "nucleation_series", "precursor_blank", "equilibrate",
)  # fmt: skip


def banner(session=None) -> str:
    """A short description of what the profile defines and where the data go.

    Parameters
    ----------
    session : msc_bluesky.session.Session or None
        The session to describe; the one :func:`open_session` built last when None.
    """
    session = session if session is not None else (_opened[0] if _opened else None)
    names = list(PROFILE_NAMES)
    if _databroker_available():
        names.append(("db", "databroker: db[-1].table(), db(plan_name=...)"))
    width = max(len(n) for n, _ in names) + 2
    lines = ["msc_bluesky profile — defined names:"]
    lines += [f"  {n:<{width}}{d}" for n, d in names]
    lines += [
        f"  {'plans':<{width}}" + " ".join(PROFILE_PLANS[:3]),
        f"  {'':<{width}}" + " ".join(PROFILE_PLANS[3:]),
    ]
    if session is not None:
        cfg = session.config
        store = cfg.tiled_uri or f"embedded tiled store in {os.path.abspath(cfg.data_dir)}"
        plots = "on" if cfg.live_plots else "off (no display; MSC_LIVE_PLOTS=1 forces)"
        stream = os.environ.get(LIVE_STREAM_ENV)
        lines += [
            f"PV prefix {cfg.prefix!r}; runs go to the {store}",
            f"live analysis {'on' if cfg.live_analysis else 'off'}, live plots {plots}"
            + (f"; documents published to {stream}" if stream else ""),
        ]
    return "\n".join(lines)


def _databroker_available() -> bool:
    try:
        from msc_bluesky.storage import catalog
    except ImportError:  # pragma: no cover - storage is part of the package
        return False
    return hasattr(catalog, "open_databroker")


def print_banner(file=None) -> None:
    """Print :func:`banner` in an interactive session (never in the queue server)."""
    if in_queue_server():
        return
    print(banner(), file=file or sys.stdout, flush=True)
