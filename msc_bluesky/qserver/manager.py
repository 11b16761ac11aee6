"""Start and stop a bluesky-queueserver RE Manager that serves this profile on loopback.

The RE Manager (``start-re-manager``) runs as a subprocess. Its 0MQ sockets are bound
to explicit loopback addresses (the queue server's own defaults bind all interfaces),
the worker loads ``profile_collection/startup``, and the lists of plans and devices and
the user permissions come from the committed files next to it. The stored plan/device
list is never rewritten by a running manager (``--update-existing-plans-devices
NEVER``): it is regenerated on purpose (see :mod:`msc_bluesky.qserver.lists`).

Safe by default: the control socket is encrypted with a key pair kept in the run
directory (``<data dir>/qserver``, see :mod:`msc_bluesky.qserver.keys`), a manager left
running by an earlier start is found and stopped (:mod:`msc_bluesky.qserver.stale`),
and the worker's Channel Access stays on loopback unless ``EPICS_CA_ADDR_LIST`` says
otherwise.
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

#: Channel Access settings of the worker when the environment gives no address list:
#: the simulated IOC listens on loopback, and CA's broadcast search may not reach it.
LOOPBACK_CHANNEL_ACCESS = {"EPICS_CA_ADDR_LIST": "127.0.0.1", "EPICS_CA_AUTO_ADDR_LIST": "NO"}
#: Subdirectory of the data directory with the queue server's keys, pid file and Redis.
RUN_SUBDIR = "qserver"

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


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The data directory every command uses: ``MSC_DATA_DIR``, else ``./msc_data``."""
    env = os.environ if environ is None else environ
    return Path(env.get("MSC_DATA_DIR") or "msc_data")


def run_dir_of(data_dir: str | Path) -> Path:
    """The queue server's run directory inside a data directory."""
    return Path(data_dir) / RUN_SUBDIR


def channel_access_env(environ: Mapping[str, str]) -> dict[str, str]:
    """EPICS settings the worker needs beyond ``environ`` (loopback when none are given).

    Without ``EPICS_CA_ADDR_LIST``, Channel Access searches by broadcast, which does
    not reach an IOC bound to 127.0.0.1, and the first plan fails after the connection
    timeout ("reactor_volume_nuc is not connected"). An explicit address list wins.
    """
    if environ.get("EPICS_CA_ADDR_LIST"):
        return {}
    return dict(LOOPBACK_CHANNEL_ACCESS)


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
    run_dir : Path or None
        Directory for the 0MQ key pair and the pid file (made 0700);
        ``$MSC_DATA_DIR/qserver`` (default ``msc_data/qserver``) when None.
    encrypt : bool
        Encrypt the control socket (default). Turning it off is explicit.

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
        run_dir: Path | None = None,
        encrypt: bool = True,
    ) -> None:
        startup_dir = Path(startup_dir) if startup_dir else default_profile_dir() / "startup"
        self.run_dir = Path(run_dir) if run_dir else run_dir_of(default_data_dir())
        self.encrypt = encrypt
        self.keys = None
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
        self.env.pop("MSC_HTTP_API_KEY", None)  # the HTTP server's secret, not the worker's
        self.env.update(channel_access_env(self.env))
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
            zmq_public_key=self.public_key,
        )

    @property
    def public_key(self) -> str | None:
        """The control socket's public key (clients need it), None without encryption."""
        return self.keys.public if self.keys is not None else None

    def _prepare(self) -> None:
        """Keys, stale managers and busy ports: everything checked before starting."""
        from msc_bluesky.qserver.keys import ensure_zmq_keys, make_private_dir
        from msc_bluesky.qserver.stale import check_port_free, clear_stale_manager

        make_private_dir(self.run_dir)
        clear_stale_manager(self.run_dir, echo=lambda line: print(line, flush=True))
        check_port_free(self.zmq_control_addr, "the control address")
        check_port_free(self.zmq_info_addr, "the info address")
        if self.encrypt:
            self.keys = ensure_zmq_keys(self.run_dir)
            self.env.update(self.keys.server_env())
        else:
            from msc_bluesky.qserver.keys import PRIVATE_KEY_ENV

            self.env.pop(PRIVATE_KEY_ENV, None)

    def start(self, timeout: float = 30.0) -> REManager:
        """Start the manager and wait until it answers ``status``.

        Before starting, a manager an earlier start left running with the same run
        directory is stopped, and a port held by anything else is refused.

        Raises
        ------
        ManagerError
            If the process exits or does not answer within ``timeout`` seconds, a port
            is in use, or the key files are unsafe.
        """
        from msc_bluesky.qserver.keys import SecretFileError
        from msc_bluesky.qserver.stale import ManagerRecord, StaleManagerError, write_record

        try:
            self._prepare()
        except (StaleManagerError, SecretFileError) as err:
            raise ManagerError(str(err)) from None
        logger.info("starting RE Manager: %s", " ".join(self.command))
        # Own session: Ctrl-C goes to our caller, which closes the environment first.
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        write_record(
            self.run_dir,
            ManagerRecord(
                pgid=self.process.pid,
                owner_pid=os.getpid(),
                control_addr=self.zmq_control_addr,
                info_addr=self.zmq_info_addr,
            ),
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
        from msc_bluesky.qserver.stale import remove_record

        if self.process is None:
            return
        if self.process.poll() is not None:  # start-re-manager died: its children may not
            _stop_leftovers(self.process.pid)
            remove_record(self.run_dir, self.process.pid)
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
        _stop_leftovers(self.process.pid)
        remove_record(self.run_dir, self.process.pid)

    def __enter__(self) -> REManager:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _stop_leftovers(pgid: int) -> None:
    """Stop manager or worker processes of our group that outlived ``start-re-manager``."""
    from msc_bluesky.qserver.stale import group_members, stop_group

    left = group_members(pgid)
    if left:
        logger.warning("RE Manager processes %s outlived the manager; stopping them", left)
        stop_group(pgid, left)


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
