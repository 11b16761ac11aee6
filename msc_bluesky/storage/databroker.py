"""``db`` for a session: databroker's legacy API on the session's store.

The IPython profile and the queue-server startup call :func:`session_databroker`; it
returns :func:`msc_bluesky.storage.catalog.open_databroker` on the session's client
(raw runs: ``db[-1]`` is the last scan) and, for the embedded default store, writes the
tiled profile ``msc`` (:mod:`.profile`) so that other processes find the same store with
``Broker.named("msc")``, ``databroker.catalog["msc"]`` or ``from_profile("msc")``.
"""

from __future__ import annotations

import logging
from typing import Any

from .catalog import open_databroker

logger = logging.getLogger(__name__)


def session_databroker(session: Any, *, write_profile: bool = True):
    """A ``databroker.Broker`` on a session's store, or None when tiled is unreachable.

    Parameters
    ----------
    session : msc_bluesky.session.Session
        Uses ``session.client`` and ``session.config`` (``data_dir``, ``tiled_uri``,
        ``catalog_uri``).
    write_profile : bool
        Write (or refresh) the ``msc`` tiled profile when the store is the embedded one.

    Returns
    -------
    databroker.Broker or None
    """
    client = getattr(session, "client", None)
    if client is None:
        logger.warning("no tiled store reachable: `db` is None (runs go to the local backup)")
        return None
    config = session.config
    if write_profile and not getattr(config, "tiled_uri", None):
        from .profile import write_embedded_profile

        try:
            write_embedded_profile(config.data_dir, catalog_uri=config.catalog_uri)
        except OSError as err:
            logger.warning("tiled profile 'msc' not written: %s", err)
    return open_databroker(client)
