"""Orderly end of Channel Access when the interpreter exits.

At exit, Python first shuts down every ``concurrent.futures`` thread pool and only then
runs ``atexit`` handlers. caproto's client threads keep receiving monitor updates in
between and try to hand them to their (already shut) callback pools, which prints
"cannot schedule new futures after interpreter shutdown" tracebacks. This module
registers, once, an exit hook that runs *before* the pools shut down: it stops the
heartbeats and disconnects caproto's shared client context.
"""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)

_installed = False
_lock = threading.Lock()


def close_channel_access() -> None:
    """Stop heartbeats and disconnect the shared caproto client context, if any."""
    from msc_bluesky.devices.heartbeat import stop_all_heartbeats

    stop_all_heartbeats()
    try:
        from caproto.threading import pyepics_compat
    except ImportError:  # pragma: no cover - caproto is a dependency
        return
    if pyepics_compat._make_context.cache_info().currsize == 0:
        return  # no Channel Access client was ever made
    context = pyepics_compat._make_context()
    _quiet_closed_socket_errors()
    # caproto's threads may still send on the sockets closed below and log the failure;
    # at exit that chatter is not news to the person
    logging.getLogger("caproto").setLevel(logging.CRITICAL)
    try:
        context.disconnect(wait=False)
        context.broadcaster.disconnect(wait=False)  # never join its threads at exit
    except Exception as err:  # noqa: BLE001 - exiting anyway; never raise here
        logger.debug("Channel Access shutdown: %s", err)


def _quiet_closed_socket_errors() -> None:
    """At exit, let a caproto thread fail quietly on the socket we just closed.

    caproto's search-retry thread may still be sending when the broadcaster closes its
    UDP socket (after the IOC went away there are searches to retry); its
    ``CaprotoNetworkError`` would print a traceback on the way out. Other exceptions
    still reach the previous ``threading.excepthook``.
    """
    from caproto import CaprotoNetworkError

    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if isinstance(args.exc_value, CaprotoNetworkError):
            logger.debug("Channel Access at exit: %s", args.exc_value)
            return
        previous(args)

    threading.excepthook = hook


def install_orderly_shutdown() -> None:
    """Register :func:`close_channel_access` to run at exit before thread pools stop.

    Idempotent. Uses ``threading._register_atexit`` (the hook ``concurrent.futures``
    itself uses, Python >= 3.9); hooks run last-registered first, so ours runs before
    the pools' shutdown registered when ``concurrent.futures.thread`` was imported.
    """
    global _installed
    with _lock:
        if _installed:
            return
        import concurrent.futures.thread  # noqa: F401 - make sure its hook is registered first

        register = getattr(threading, "_register_atexit", None)
        if register is None:  # pragma: no cover - Python < 3.9
            import atexit

            atexit.register(close_channel_access)
        else:
            register(close_channel_access)
        _installed = True
