"""A session's store served by a process of its own: ``msc-bluesky serve`` on loopback.

The embedded store runs tiled's server code inside the session's process, where it takes
Python's GIL from the RunEngine, the devices and the live analysis: opening it is
seconds of imports, and every write is server work. ``msc-bluesky campaign`` instead
starts the same server on the same data directory as a child process (loopback, a free
port, a random API key that never appears on a command line) and writes to it over
HTTP. The data directory and what it holds are the same either way.

>>> with ServedStore("msc_data").launch() as store:        # doctest: +SKIP
...     store.wait_ready()
...     client = connect(store.uri, api_key=store.api_key)

The child exits when the process that started it dies (``--exit-with-parent``), so a
killed campaign leaves no server behind; what it had not stored is in the backup
journals, for ``msc-bluesky replay --data-dir ...``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

from msc_bluesky.child_process import end_process, free_port, read_log

from .server import generate_api_key

#: Wall seconds a served store may take to answer (a new catalogue is created first).
DEFAULT_START_TIMEOUT_S = 120.0
#: Scheduling niceness of the store's process: it yields the CPU to the session and the
#: IOC while they need it (start-up, the conditions), and writes while they wait.
STORE_NICENESS = 5
_POLL_S = 0.1


class ServedStore:
    """``msc-bluesky serve`` on a data directory, as a child process on loopback.

    Parameters
    ----------
    data_dir : str or Path
        The data directory (the same the embedded store would open).
    catalog_uri : str, optional
        Catalogue database URI (PostgreSQL); default SQLite in ``data_dir``.
    port : int, optional
        TCP port on 127.0.0.1; default a free one.
    start_timeout : float
        Seconds :meth:`wait_ready` waits at most for the server to answer.
    niceness : int
        Added to the child's scheduling niceness (0: none).

    Attributes
    ----------
    uri : str
        ``http://127.0.0.1:PORT``.
    api_key : str
        The server's API key (random; given to the child in its environment).
    """

    def __init__(self, data_dir: str | Path, *, catalog_uri: str | None = None,
                 port: int | None = None, start_timeout: float = DEFAULT_START_TIMEOUT_S,
                 niceness: int = STORE_NICENESS) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.catalog_uri = catalog_uri
        self.port = int(port) if port is not None else free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.api_key = generate_api_key()
        self.start_timeout = float(start_timeout)
        self.niceness = int(niceness)
        self._process: subprocess.Popen | None = None
        self._log = None
        self._ready = False
        self._held = False

    @property
    def command(self) -> list[str]:
        """The command line of the child (no secret in it: key and catalogue URI are in
        its environment)."""
        command = [sys.executable, "-m", "msc_bluesky.cli", "serve",
                   "--data-dir", str(self.data_dir), "--port", str(self.port),
                   "--host", "127.0.0.1", "--no-profile",
                   "--exit-with-parent", str(os.getpid())]
        if self._held:
            command.append("--wait-for-start")
        return command  # the catalogue URI (it may hold a password) goes in the environment

    @property
    def running(self) -> bool:
        """True while the child lives."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the child while it runs (for fault injection)."""
        return self._process.pid if self._process is not None else None

    def launch(self, *, hold: bool = False) -> ServedStore:
        """Start the child without waiting for it (see :meth:`wait_ready`); ``self``.

        Parameters
        ----------
        hold : bool
            The child loads the server's code, then waits for :meth:`start` before it
            touches the data directory (:meth:`stop` before that: it never does). For a
            store launched while what it is for is still being checked.
        """
        if self.running:
            return self
        env = dict(os.environ, MSC_TILED_API_KEY=self.api_key, PYTHONUNBUFFERED="1")
        env.pop("MSC_CATALOG_URI", None)
        if self.catalog_uri:
            env["MSC_CATALOG_URI"] = self.catalog_uri
        self._log = tempfile.TemporaryFile()
        self._ready = False
        self._held = bool(hold)
        # A session of its own: Ctrl-C in the terminal interrupts the campaign, which
        # still stores what it has, and only then stops the store.
        self._process = subprocess.Popen(
            self.command, env=env, stdin=subprocess.PIPE if hold else subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        if self.niceness:
            try:
                os.setpriority(os.PRIO_PROCESS, self._process.pid, self.niceness)
            except OSError:  # not allowed here: the store only runs at normal priority
                pass
        return self

    def start(self) -> ServedStore:
        """Let a store launched with ``hold=True`` open the data directory; ``self``."""
        if self._held and self._process is not None:
            self._held = False
            try:
                self._process.stdin.write(b"start\n")
                self._process.stdin.close()
            except OSError:  # it has exited: wait_ready says why
                pass
        return self

    def wait_ready(self, timeout: float | None = None) -> str:
        """Wait until the server answers; its URI.

        Parameters
        ----------
        timeout : float, optional
            Seconds; default ``start_timeout``.

        Raises
        ------
        RuntimeError
            If the child exits, or does not answer in time (it is then stopped); the
            message ends with what it printed.
        """
        if self._ready:
            return self.uri
        import httpx

        if self._process is None:
            raise RuntimeError("the store was not launched (ServedStore.launch())")
        self.start()  # a held store is wanted now
        deadline = time.monotonic() + (self.start_timeout if timeout is None else timeout)
        pause = threading.Event()  # never set: its wait is the polling interval
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the store's server ({' '.join(self.command[2:6])} …) "
                                   f"exited with status {self._process.returncode}: "
                                   f"{self.log_text().strip()[-2000:]}")
            try:
                if httpx.get(f"{self.uri}/healthz", timeout=1.0).status_code == 200:
                    self._ready = True
                    return self.uri
            except httpx.HTTPError:
                pass
            pause.wait(_POLL_S)
        self.stop()
        raise RuntimeError(f"the store's server on {self.uri} did not answer within "
                           f"{self.start_timeout if timeout is None else timeout:g} s: "
                           f"{self.log_text().strip()[-2000:]}")

    def log_text(self) -> str:
        """What the child printed so far."""
        return read_log(self._log)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server (SIGTERM: requests in flight finish) and wait for it."""
        proc, self._process = self._process, None
        self._ready = self._held = False
        if proc is not None and proc.stdin is not None:
            try:  # a held child reads the end of its input and exits untouched
                proc.stdin.close()
            except OSError:
                pass
        end_process(proc, timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ServedStore:
        return self.launch()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"ServedStore({str(self.data_dir)!r}, uri={self.uri!r}, {state})"
