"""Start and stop a bluesky-queueserver RE Manager that serves this profile on loopback.

The RE Manager (``start-re-manager``) runs as a subprocess. Its 0MQ sockets are bound
to explicit loopback addresses (the queue server's own defaults bind all interfaces),
the worker loads ``profile_collection/startup``, and the lists of plans and devices and
the user permissions come from the committed files next to it. The stored plan/device
list is never rewritten by a running manager (``--update-existing-plans-devices
NEVER``): it is regenerated on purpose (see :mod:`msc_bluesky.qserver.lists`).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

logger = logging.getLogger(__name__)

#: Loopback versions of the queue server's default 0MQ addresses.
DEFAULT_ZMQ_CONTROL_ADDR = "tcp://127.0.0.1:60615"
DEFAULT_ZMQ_INFO_ADDR = "tcp://127.0.0.1:60625"
#: Redis key prefix of this project's queue (keeps it apart from other managers).
DEFAULT_REDIS_NAME_PREFIX = "msc_bluesky"

EXISTING_PLANS_AND_DEVICES = "existing_plans_and_devices.yaml"
USER_GROUP_PERMISSIONS = "user_group_permissions.yaml"
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


class ManagerError(RuntimeError):
    """The RE Manager could not be started or stopped."""


def default_profile_dir() -> Path:
    """Return the repository's ``profile_collection`` directory.

    Looks next to the installed (editable) package first, then in the current directory.

    Raises
    ------
    FileNotFoundError
        If neither location has ``profile_collection/startup``.
    """
    here = Path(__file__).resolve().parents[2] / "profile_collection"
    for candidate in (here, Path.cwd() / "profile_collection"):
        if (candidate / "startup").is_dir():
            return candidate
    raise FileNotFoundError(
        f"no profile_collection/startup found at {here} or in {Path.cwd()}; "
        "pass the startup directory explicitly (--startup-dir DIR)"
    )


def check_loopback_zmq_addr(addr: str, what: str = "0MQ address") -> str:
    """Return ``addr`` if it is ``tcp://<loopback host>:<port>``.

    Raises
    ------
    ValueError
        For wildcard (``tcp://*:...``), non-loopback or malformed addresses.
    """
    parsed = urlparse(addr)
    host = parsed.hostname or ""
    try:
        port = parsed.port
    except ValueError:
        port = None
    if parsed.scheme != "tcp" or port is None or host not in _LOOPBACK_HOSTS:
        raise ValueError(
            f"{what} {addr!r} is not allowed: use a loopback address such as "
            f"'tcp://127.0.0.1:60615' (the manager must not listen on other interfaces)"
        )
    return addr


def manager_command(
    *,
    startup_dir: Path,
    redis_addr: str,
    zmq_control_addr: str = DEFAULT_ZMQ_CONTROL_ADDR,
    zmq_info_addr: str = DEFAULT_ZMQ_INFO_ADDR,
    profile_dir: Path | None = None,
    redis_name_prefix: str = DEFAULT_REDIS_NAME_PREFIX,
) -> list[str]:
    """Build the ``start-re-manager`` command line for this profile.

    Parameters
    ----------
    startup_dir : Path
        Directory of startup files (``profile_collection/startup``).
    redis_addr : str
        ``HOST:PORT`` of Redis.
    zmq_control_addr, zmq_info_addr : str
        Loopback 0MQ addresses for requests and for the console/info stream.
    profile_dir : Path or None
        Directory holding ``existing_plans_and_devices.yaml`` and
        ``user_group_permissions.yaml``; the parent of ``startup_dir`` when None.
    redis_name_prefix : str
        Prefix of the Redis keys (one queue per prefix).
    """
    startup_dir = Path(startup_dir).resolve()
    profile_dir = Path(profile_dir).resolve() if profile_dir else startup_dir.parent
    for name in (EXISTING_PLANS_AND_DEVICES, USER_GROUP_PERMISSIONS):
        if not (profile_dir / name).is_file():
            raise FileNotFoundError(f"{profile_dir / name} is missing; the RE Manager needs it")
    check_loopback_zmq_addr(zmq_control_addr, "--zmq-control-addr")
    check_loopback_zmq_addr(zmq_info_addr, "--zmq-info-addr")
    manager = Path(sys.executable).with_name("start-re-manager")
    prefix = [str(manager)] if manager.is_file() else [
        sys.executable, "-m", "bluesky_queueserver.manager.start_manager"
    ]  # fmt: skip
    return [
        *prefix,
        "--startup-dir", str(startup_dir),
        "--existing-plans-devices", str(profile_dir / EXISTING_PLANS_AND_DEVICES),
        "--user-group-permissions", str(profile_dir / USER_GROUP_PERMISSIONS),
        "--update-existing-plans-devices", "NEVER",
        "--redis-addr", redis_addr,
        "--redis-name-prefix", redis_name_prefix,
        "--zmq-control-addr", zmq_control_addr,
        "--zmq-info-addr", zmq_info_addr,
        "--zmq-publish-console", "ON",
    ]  # fmt: skip


class REManager:
    """An RE Manager subprocess serving ``profile_collection`` on loopback.

    Parameters
    ----------
    redis_addr : str
        ``HOST:PORT`` of a running Redis (see
        :func:`msc_bluesky.qserver.redis.find_or_start_redis`).
    startup_dir : Path or None
        Startup files; ``profile_collection/startup`` of this repository when None.
    zmq_control_addr, zmq_info_addr : str
        Loopback 0MQ addresses.
    env : Mapping or None
        Extra environment for the manager and its worker (``MSC_*``, ``EPICS_*``).
    output : file or None
        Where the manager's console output goes (inherited when None).
    redis_name_prefix : str
        Prefix of the manager's Redis keys.

    Examples
    --------
    >>> with REManager(redis_addr="127.0.0.1:6379") as manager:   # doctest: +SKIP
    ...     api = manager.api()
    ...     api.environment_open(); api.wait_for_idle(timeout=60)
    """

    def __init__(
        self,
        *,
        redis_addr: str,
        startup_dir: Path | None = None,
        zmq_control_addr: str = DEFAULT_ZMQ_CONTROL_ADDR,
        zmq_info_addr: str = DEFAULT_ZMQ_INFO_ADDR,
        env: Mapping[str, str] | None = None,
        output: IO | None = None,
        redis_name_prefix: str = DEFAULT_REDIS_NAME_PREFIX,
    ) -> None:
        startup_dir = Path(startup_dir) if startup_dir else default_profile_dir() / "startup"
        self.zmq_control_addr = zmq_control_addr
        self.zmq_info_addr = zmq_info_addr
        self.command = manager_command(
            startup_dir=startup_dir,
            redis_addr=redis_addr,
            zmq_control_addr=zmq_control_addr,
            zmq_info_addr=zmq_info_addr,
            redis_name_prefix=redis_name_prefix,
        )
        self.env = {**os.environ, **(env or {})}
        self.env.setdefault("MPLBACKEND", "Agg")  # no GUI plots in the worker
        self.output = output
        self.process: subprocess.Popen | None = None

    def api(self, timeout_recv: float = 2.0):
        """Return a new ``REManagerAPI`` (0MQ) client for this manager; close it when done."""
        from bluesky_queueserver_api.zmq import REManagerAPI

        return REManagerAPI(
            zmq_control_addr=self.zmq_control_addr,
            zmq_info_addr=self.zmq_info_addr,
            timeout_recv=timeout_recv,
        )

    def start(self, timeout: float = 30.0) -> REManager:
        """Start the manager and wait until it answers ``status``.

        Raises
        ------
        ManagerError
            If the process exits or does not answer within ``timeout`` seconds.
        """
        logger.info("starting RE Manager: %s", " ".join(self.command))
        # Own session: Ctrl-C goes to our caller, which closes the environment first.
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        api = self.api(timeout_recv=1.0)
        deadline = time.monotonic() + timeout
        try:
            while True:
                code = self.process.poll()
                if code is not None:
                    raise ManagerError(f"RE Manager exited with status {code} while starting")
                try:
                    api.status()  # each attempt itself waits up to timeout_recv for an answer
                    return self
                except TimeoutError:  # RequestTimeoutError: not listening yet
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise ManagerError(f"RE Manager did not answer within {timeout} s")
        finally:
            api.close()

    def running(self) -> bool:
        """True while the manager process is alive."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        """Close the worker environment, then stop the manager (killing it if it hangs)."""
        if not self.running():
            return
        api = self.api()
        try:
            close_environment(api, timeout=timeout)
            api.send_request(method="manager_stop", params={"option": "safe_off"})
        except Exception as err:  # a dead or wedged manager still has to go
            logger.warning("RE Manager did not stop cleanly: %s", err)
        finally:
            api.close()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> REManager:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def close_environment(api, timeout: float = 30.0) -> None:
    """Close the RE worker environment if it is open (destroy it if closing is refused).

    Parameters
    ----------
    api : REManagerAPI
        Client of a running manager.
    timeout : float
        Seconds to wait for the environment to be gone.
    """
    status = api.status()
    if not status.get("worker_environment_exists"):
        return
    if status.get("manager_state") != "idle":
        api.environment_destroy()
    else:
        try:
            api.environment_close()
        except api.RequestFailedError:
            api.environment_destroy()
    api.wait_for_condition(lambda s: not s["worker_environment_exists"], timeout=timeout)
