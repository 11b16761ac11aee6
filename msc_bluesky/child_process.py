"""What a process started by another msc-bluesky process needs: a free port, and an exit
when its parent dies.

A process the campaign starts (the simulated IOC, the campaign's store) must not outlive
it: if the campaign is killed (SIGKILL, a crash), nothing else would stop them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

#: Seconds (wall) between checks that the process which started this one still lives.
PARENT_POLL_S = 0.5


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is currently free for both TCP and UDP on ``host``."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free TCP+UDP port found on {host}")


def exit_with_parent(pid: int, who: str) -> None:
    """Exit this process as soon as ``pid`` is no longer its parent (the parent died).

    A daemon thread polls the parent's pid every :data:`PARENT_POLL_S` seconds and ends
    the process with ``os._exit(0)`` once it changed (the orphan was adopted).

    Parameters
    ----------
    pid : int
        The process that started this one.
    who : str
        This process, as its messages name it (e.g. ``"msc-bluesky IOC"``).

    Raises
    ------
    SystemExit
        If ``pid`` is not this process's parent (a wrong command line).
    """

    def watch() -> None:
        stop = threading.Event()
        while os.getppid() == pid:
            stop.wait(PARENT_POLL_S)
        print(f"{who}: parent process {pid} is gone; exiting", file=sys.stderr, flush=True)
        os._exit(0)

    if os.getppid() != pid:
        raise SystemExit(f"{who}: --exit-with-parent {pid}: not this process's parent")
    threading.Thread(target=watch, name="msc-parent-watch", daemon=True).start()


def end_process(proc: subprocess.Popen | None, timeout: float) -> None:
    """Terminate ``proc`` (SIGTERM) and wait for it; SIGKILL if it is still there after
    ``timeout`` seconds (a frozen process ignores SIGTERM until resumed). None: nothing."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def read_log(log) -> str:
    """All a child wrote so far to ``log`` (a binary temporary file; None: "")."""
    if log is None:
        return ""
    log.seek(0)
    return log.read().decode(errors="replace")
