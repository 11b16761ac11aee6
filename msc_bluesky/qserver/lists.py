"""Generate and check ``existing_plans_and_devices.yaml`` for the profile.

The file is what the queue server validates submitted items against before the worker
environment is open. It is generated from the startup code itself by
``qserver-list-plans-devices`` (run in a fresh process, without any IOC, with an
embedded tiled store in a temporary directory) and committed next to the startup
directory; :func:`describe_differences` tells whether the committed copy is stale.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from msc_bluesky.qserver.manager import EXISTING_PLANS_AND_DEVICES, default_profile_dir


def _list_command() -> list[str]:
    tool = Path(sys.executable).with_name("qserver-list-plans-devices")
    if tool.is_file():
        return [str(tool)]
    return [sys.executable, "-c", "from bluesky_queueserver.manager.gen_lists import "
            "gen_list_of_plans_and_devices_cli as m; m()"]  # fmt: skip


def generation_env(data_dir: Path) -> dict[str, str]:
    """Environment for generating the lists: no ``MSC_*`` settings but a scratch data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSC_")}
    env["MSC_DATA_DIR"] = str(data_dir)
    env.setdefault("MPLBACKEND", "Agg")
    return env


def generate_lists(
    file_dir: Path, startup_dir: Path | None = None, *, timeout: float = 180.0
) -> Path:
    """Write ``existing_plans_and_devices.yaml`` for ``startup_dir`` into ``file_dir``.

    Parameters
    ----------
    file_dir : Path
        Output directory (the profile directory to update the committed file).
    startup_dir : Path or None
        Startup files; this repository's ``profile_collection/startup`` when None.
    timeout : float
        Seconds allowed for loading the startup code.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    RuntimeError
        If ``qserver-list-plans-devices`` fails; the message holds its output.
    """
    startup_dir = Path(startup_dir or default_profile_dir() / "startup").resolve()
    file_dir = Path(file_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="msc_lists_") as scratch:
        cmd = [*_list_command(), "--startup-dir", str(startup_dir), "--file-dir", str(file_dir)]
        done = subprocess.run(
            cmd,
            env=generation_env(Path(scratch) / "data"),
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed with status {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return file_dir / EXISTING_PLANS_AND_DEVICES


def load_lists(path: Path) -> dict[str, Any]:
    """Read an ``existing_plans_and_devices.yaml`` file into a dict."""
    with open(path) as stream:
        return yaml.safe_load(stream) or {}


def describe_differences(fresh: Any, committed: Any, where: str = "") -> list[str]:
    """List the places where two loaded plan/device lists differ (empty when equal).

    Mapping order is ignored (YAML loads into dicts); list order is kept, as plan
    parameters are ordered.
    """
    if isinstance(fresh, dict) and isinstance(committed, dict):
        out = []
        for key in sorted(set(fresh) | set(committed), key=str):
            path = f"{where}/{key}"
            if key not in committed:
                out.append(f"{path}: new, not in the committed file")
            elif key not in fresh:
                out.append(f"{path}: in the committed file, no longer generated")
            else:
                out.extend(describe_differences(fresh[key], committed[key], path))
        return out
    if isinstance(fresh, list) and isinstance(committed, list) and len(fresh) == len(committed):
        out = []
        for i, (a, b) in enumerate(zip(fresh, committed, strict=True)):
            out.extend(describe_differences(a, b, f"{where}[{i}]"))
        return out
    return [] if fresh == committed else [f"{where}: {committed!r} -> {fresh!r}"]
