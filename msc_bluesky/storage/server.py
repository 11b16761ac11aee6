"""A tiled server on a data directory.

Loopback by default; an API key is always required to write, and to read unless the
server is started public (read-only anonymous access).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from pathlib import Path

from .catalog import catalog_adapter

_API_KEY_PATTERN = re.compile(r"[a-zA-Z0-9]+")
#: Bytes of randomness in a generated API key (hex-encoded: twice as many characters).
API_KEY_BYTES = 32


def generate_api_key() -> str:
    """A new random API key (64 hex characters, from :mod:`secrets`)."""
    return secrets.token_hex(API_KEY_BYTES)


def check_api_key(api_key: str) -> str:
    """Return ``api_key`` if tiled accepts it, else raise ValueError saying what is allowed."""
    if not api_key or not _API_KEY_PATTERN.fullmatch(api_key):
        raise ValueError(
            "API key must be non-empty and contain only letters and digits [a-zA-Z0-9]"
        )
    return api_key


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_server_app(
    data_dir: str | Path,
    *,
    api_key: str,
    public: bool = False,
    catalog_uri: str | None = None,
):
    """The tiled web application serving a data directory.

    Parameters
    ----------
    data_dir : str or Path
        The data directory (catalog created once if missing).
    api_key : str
        Single-user API key required for writing (and for reading unless ``public``).
    public : bool
        Allow anonymous read-only access.
    catalog_uri : str, optional
        Catalog database URI (PostgreSQL); default the SQLite catalog in ``data_dir``.

    Returns
    -------
    fastapi.FastAPI
    """
    from tiled.config import Authentication
    from tiled.server.app import build_app

    from .catalog import _is_postgres, catalog_database_uri

    check_api_key(api_key)
    tree = catalog_adapter(data_dir, catalog_uri=catalog_uri)
    app = build_app(
        tree,
        Authentication(single_user_api_key=api_key, allow_anonymous_access=public),
    )
    if not _is_postgres(catalog_database_uri(data_dir, catalog_uri)):
        app.add_middleware(SerializedWrites)
    return app


class SerializedWrites:
    """ASGI middleware: one writing request at a time (reads are not held up).

    SQLite takes one writer at a time. tiled's writes read first and then write in the
    same transaction; with two at once, the second cannot take the write lock and
    SQLite fails it at once with "database is locked" (HTTP 500), whatever the busy
    timeout. Queued here instead, every write succeeds; readers go on in parallel (the
    databases are in WAL mode, :func:`.catalog.use_write_ahead_log`). Used by
    :func:`build_server_app` for SQLite catalogs only; PostgreSQL takes writes in
    parallel.
    """

    READS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, app) -> None:
        self.app = app
        self._lock = None  # created in the server's event loop

    async def __call__(self, scope, receive, send) -> None:
        if scope.get("type") != "http" or scope.get("method") in self.READS:
            await self.app(scope, receive, send)
            return
        if self._lock is None:
            import asyncio

            self._lock = asyncio.Lock()
        async with self._lock:
            await self.app(scope, receive, send)


def prepare_layout(data_dir: str | Path, *, catalog_uri: str | None = None) -> None:
    """Create the store's ``raw`` and ``analysis`` containers if missing (:mod:`.layout`).

    So that clients of a new server find ``c["raw"]`` before the first run is written,
    and an out-of-process analysis can write to ``.../metadata/analysis``.
    """
    from .catalog import close_client, open_catalog
    from .layout import ensure_layout

    client = open_catalog(data_dir, catalog_uri=catalog_uri)
    try:
        ensure_layout(client)
    finally:
        close_client(client)


def serve(
    data_dir: str | Path,
    *,
    api_key: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    public: bool = False,
    catalog_uri: str | None = None,
    log_level: str = "warning",
) -> None:
    """Run a tiled server until interrupted (blocking).

    Parameters
    ----------
    data_dir : str or Path
        The data directory.
    api_key : str
        Single-user API key.
    host : str
        Interface to bind; loopback by default.
    port : int
        TCP port.
    public : bool
        Allow anonymous read-only access.
    catalog_uri : str, optional
        Catalog database URI (PostgreSQL).
    log_level : str
        uvicorn log level.
    """
    import uvicorn

    from .catalog import use_write_ahead_log

    prepare_layout(data_dir, catalog_uri=catalog_uri)
    use_write_ahead_log(data_dir, catalog_uri=catalog_uri)  # readers never wait (SQLite)
    app = build_server_app(data_dir, api_key=api_key, public=public, catalog_uri=catalog_uri)
    uvicorn.run(app, host=host, port=int(port), log_level=log_level)
