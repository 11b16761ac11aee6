"""Find RE Managers left behind by an earlier ``msc-bluesky qserver``.

``start-re-manager`` forks the manager process that binds the 0MQ control socket, and
the manager forks the worker. When ``start-re-manager`` itself is killed with SIGKILL
its children live on, still bound to the control port: a new manager cannot bind it,
and a client asking "are you ready?" gets its answer from the orphan. So every manager
we start records its process group in a pid file in the run directory; before the next
start, :func:`clear_stale_manager` stops an orphaned group that is ours, and
:func:`check_port_free` refuses to start next to anything else holding the ports.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

PID_FILE = "re_manager.pid.json"
_PAUSE = threading.Event()  # never set: wait() is a sleep that ruff's ban allows
#: What the command line of a process of an RE Manager's group contains.
_MANAGER_MARKERS = ("start-re-manager", "start_manager", "bluesky_queueserver")


class StaleManagerError(RuntimeError):
    """Something else holds the RE Manager's ports, or a live manager runs already."""


@dataclass(frozen=True)
class ManagerRecord:
    """What the pid file says about a manager we started."""

    pgid: int
    owner_pid: int
    control_addr: str
    info_addr: str


def write_record(run_dir: Path, record: ManagerRecord) -> Path:
    """Write the pid file of a manager just started (mode 0600)."""
    path = Path(run_dir) / PID_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as stream:
        json.dump(record.__dict__, stream)
    return path


def read_record(run_dir: Path) -> ManagerRecord | None:
    """The pid file's record, or None if there is none (or it is unreadable)."""
    path = Path(run_dir) / PID_FILE
    try:
        return ManagerRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def remove_record(run_dir: Path, pgid: int | None = None) -> None:
    """Delete the pid file (only if it still names ``pgid``, when given)."""
    record = read_record(run_dir)
    if record is not None and pgid is not None and record.pgid != pgid:
        return
    (Path(run_dir) / PID_FILE).unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie awaiting its parent counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace"
        )
    except OSError:
        return ""


def group_members(pgid: int) -> list[int]:
    """Live processes of process group ``pgid`` whose command line is an RE Manager's."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            if os.getpgid(pid) != pgid or not process_alive(pid):
                continue
        except (ProcessLookupError, PermissionError):
            continue
        if any(marker in _cmdline(pid) for marker in _MANAGER_MARKERS):
            members.append(pid)
    return sorted(members)


def stop_group(pgid: int, pids: Iterable[int], timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``timeout`` s."""
    pids = list(pids)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while any(process_alive(p) for p in pids):
            if time.monotonic() > deadline:
                break
            _PAUSE.wait(0.05)
        else:
            return
    left = [p for p in pids if process_alive(p)]
    if left:
        raise StaleManagerError(f"could not stop the stale RE Manager processes {left}")


def clear_stale_manager(run_dir: Path, echo=logger.warning) -> list[int]:
    """Stop an RE Manager an earlier ``msc-bluesky qserver`` left running, if any.

    A manager is stale when the process that started it (``owner_pid``) or its
    ``start-re-manager`` process (the group leader) is gone but processes of its group
    still run.

    Returns
    -------
    list of int
        The pids that were stopped (empty when nothing was stale).

    Raises
    ------
    StaleManagerError
        If the recorded manager is still alive and owned by a running process (another
        ``msc-bluesky qserver`` serves this data directory).
    """
    record = read_record(run_dir)
    if record is None:
        return []
    members = group_members(record.pgid)
    if not members:
        remove_record(run_dir)
        return []
    owner_alive = record.owner_pid != os.getpid() and process_alive(record.owner_pid)
    if owner_alive and process_alive(record.pgid):
        raise StaleManagerError(
            f"an RE Manager (pid {record.pgid}) started by process {record.owner_pid} is "
            f"running with this data directory ({record.control_addr}); stop that "
            "`msc-bluesky qserver` first (Ctrl-C), or use another --data-dir"
        )
    echo(
        f"stopping a stale RE Manager left by an earlier run (pids {members}, "
        f"{record.control_addr}) …"
    )
    stop_group(record.pgid, members)
    remove_record(run_dir)
    return members


def check_port_free(addr: str, what: str) -> None:
    """Refuse when something listens on the TCP port of the 0MQ address ``addr``.

    Raises
    ------
    StaleManagerError
        Naming the address and what to do.
    """
    host_port = addr.split("://", 1)[-1]
    host, _, port = host_port.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT
        try:
            probe.bind((host if host != "localhost" else "127.0.0.1", int(port)))
        except OSError:
            raise StaleManagerError(
                f"{what} {addr} is already in use by another process (an RE Manager not "
                "started by `msc-bluesky qserver` with this data directory, or another "
                "program); stop it, or choose another address with "
                f"--zmq-{'control' if 'control' in what else 'info'}-addr"
            ) from None
