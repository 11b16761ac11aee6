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

logger = logging.getLogger(__name__)


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
        bars are switched off whatever the configuration says. Every run is stored before the
        plan returns (:class:`FlushAfterRun`).

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
    atexit.register(session.close)
    logger.info("msc_bluesky session ready: %s", cfg)
    return session
