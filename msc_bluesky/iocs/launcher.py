"""Start the simulated IOC as a subprocess from Python (tests, benchmarks, the campaign).

>>> from msc_bluesky.iocs.launcher import SimulatedIOC
>>> with SimulatedIOC(time_scale=100.0) as ioc:        # doctest: +SKIP
...     print(ioc.prefix, ioc.port, ioc.env)

The IOC listens on 127.0.0.1 only. Channel Access clients read the EPICS environment
once per process, so a client in this process finds the IOC only if its
``EPICS_CA_SERVER_PORT`` (or address list) matches :attr:`SimulatedIOC.port`; by default
the port *is* ``EPICS_CA_SERVER_PORT`` from ``os.environ`` when set. Clients in other
processes get the right variables from :attr:`SimulatedIOC.env`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from types import TracebackType

from msc_bluesky.child_process import end_process, free_port, read_log

#: Seconds to wait for the IOC to answer before giving up.
DEFAULT_START_TIMEOUT_S = 30.0
_ENV_LOCK = threading.Lock()


def random_prefix(stem: str = "msc") -> str:
    """A random PV prefix such as ``"msc3f9a1c:"`` so that test IOCs never collide."""
    return f"{stem}{uuid.uuid4().hex[:6]}:"


def client_env(port: int) -> dict[str, str]:
    """EPICS variables a CA client needs to find an IOC on ``127.0.0.1:port`` only."""
    return {
        "EPICS_CA_ADDR_LIST": "127.0.0.1",
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CA_SERVER_PORT": str(port),
    }


@contextlib.contextmanager
def _loopback_environment(port: int) -> Iterator[None]:
    """Temporarily point this process's CA environment at ``127.0.0.1:port``.

    Only used around caproto's sync client, which reads ``os.environ`` on every call.
    """
    keys = ("EPICS_CA_ADDR_LIST", "EPICS_CA_AUTO_ADDR_LIST", "EPICS_CA_SERVER_PORT")
    with _ENV_LOCK:
        saved = {k: os.environ.get(k) for k in keys}
        os.environ.update(client_env(port))
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def read_pv(name: str, port: int, *, timeout: float = 1.0):
    """Read one PV from the IOC on ``127.0.0.1:port`` with caproto's sync client."""
    from caproto.sync.client import read

    with _loopback_environment(port):
        return read(name, timeout=timeout, repeater=False)


class SimulatedIOC:
    """The simulated reactor, UV-Vis and SAXS IOC in a subprocess (a context manager).

    Parameters
    ----------
    prefix : str, optional
        PV prefix; random (:func:`random_prefix`) when None.
    time_scale : float
        Simulated seconds per wall second.
    port : int, optional
        CA server port; default ``EPICS_CA_SERVER_PORT`` from ``os.environ``, else a
        free port.
    seed : int
        Random seed of the IOC's noise.
    extra_args : sequence of str
        More options for ``python -m msc_bluesky.iocs`` (e.g. ``("--watchdog", "60")``).
    start_timeout : float
        Seconds to wait until ``{prefix}reactor:sim_time`` answers.
    exit_with_parent : bool
        The IOC exits when this process dies, however it dies (SIGKILL included): it is
        started with ``--exit-with-parent <this pid>`` and watches its parent.

    Attributes
    ----------
    prefix, port, env
        PV prefix, CA port, and the EPICS variables a client process needs.
    """

    def __init__(self, prefix: str | None = None, time_scale: float = 100.0,
                 port: int | None = None, seed: int = 0, extra_args: Sequence[str] = (),
                 *, start_timeout: float = DEFAULT_START_TIMEOUT_S,
                 exit_with_parent: bool = True) -> None:
        self.prefix = prefix if prefix is not None else random_prefix()
        self.time_scale = float(time_scale)
        env_port = os.environ.get("EPICS_CA_SERVER_PORT")
        self.port = int(port if port is not None else (env_port or free_port()))
        self.seed = int(seed)
        self.extra_args = tuple(str(a) for a in extra_args)
        self.start_timeout = float(start_timeout)
        self.exit_with_parent = bool(exit_with_parent)
        self.env = client_env(self.port)
        self._process: subprocess.Popen | None = None
        self._stderr = None

    @property
    def command(self) -> list[str]:
        """The command line that starts the IOC."""
        return [sys.executable, "-m", "msc_bluesky.iocs", "--prefix", self.prefix,
                "--time-scale", repr(self.time_scale), "--port", str(self.port),
                "--interfaces", "127.0.0.1", "--seed", str(self.seed),
                *(("--exit-with-parent", str(os.getpid())) if self.exit_with_parent else ()),
                *self.extra_args]

    @property
    def pid(self) -> int | None:
        """Process id of the IOC while it runs (for fault injection: SIGSTOP, SIGKILL)."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """True while the subprocess lives."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> SimulatedIOC:
        """Start the subprocess and wait until it answers; returns ``self``.

        Raises
        ------
        RuntimeError
            If the IOC exits or does not answer within ``start_timeout`` (the message
            includes its stderr).
        """
        self.launch()
        self.wait_ready()
        return self

    def launch(self) -> SimulatedIOC:
        """Start the subprocess without waiting for it (see :meth:`wait_ready`)."""
        if self.running:
            return self
        env = dict(os.environ)
        env.update(self.env)
        env.update({
            "EPICS_CAS_INTERFACES": "127.0.0.1",
            "EPICS_CAS_BEACON_ADDR_LIST": "127.0.0.1",
            "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
            "PYTHONUNBUFFERED": "1",
        })
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(self.command, env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=self._stderr)
        return self

    def wait_ready(self) -> SimulatedIOC:
        """Wait until the launched IOC answers; stop it and raise if it does not.

        Raises
        ------
        RuntimeError
            If the IOC exits or does not answer within ``start_timeout``.
        """
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        name = f"{self.prefix}reactor:sim_time"
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"simulated IOC exited with status "
                                   f"{self._process.returncode}:\n{self.stderr_text()}")
            if self._tcp_listening():
                try:
                    read_pv(name, self.port, timeout=0.5)
                    return
                except Exception as err:  # noqa: BLE001 - not answering yet
                    last_error = err
            time.sleep(0.05)
        raise RuntimeError(f"simulated IOC did not answer {name} on 127.0.0.1:{self.port} "
                           f"within {self.start_timeout:g} s (last error: {last_error!r});"
                           f" stderr:\n{self.stderr_text()}")

    def _tcp_listening(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def stderr_text(self) -> str:
        """What the IOC wrote to stderr so far."""
        return read_log(self._stderr)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the IOC and wait for it to exit (kill if it does not)."""
        proc, self._process = self._process, None
        end_process(proc, timeout)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> SimulatedIOC:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (f"SimulatedIOC(prefix={self.prefix!r}, port={self.port}, "
                f"time_scale={self.time_scale:g}, {state})")
