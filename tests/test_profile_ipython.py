"""The IPython profile: startup files load, `RE(count([uvvis]))` works against the IOC."""

from __future__ import annotations

import ast
import builtins
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROFILE = Path(__file__).resolve().parents[1] / "profile_collection"
STARTUP_FILES = sorted((PROFILE / "startup").glob("*.py"))

SESSION_CODE = r"""
import json
from bluesky.plans import count
docs = []
uids = RE(count([uvvis], num=2), lambda name, doc: docs.append((name, doc)))
events = [d for n, d in docs if n == "event"]
stop = [d for n, d in docs if n == "stop"][0]
names = {"reactor": reactor.name, "uvvis": uvvis.name, "saxs": saxs.name}
plans = [p for p in ("temperature_grid", "condition_scan", "reaction_time_series",
                     "nucleation_series", "precursor_blank", "equilibrate") if p in globals()]
print("RESULT " + json.dumps({
    "uids": list(uids), "n_events": len(events), "exit_status": stop["exit_status"],
    "keys": sorted(events[0]["data"]), "n_points": len(events[0]["data"]["uvvis_absorbance"]),
    "names": names, "plans": plans, "bec": type(bec).__name__,
    "db_last": db[-1].start["uid"], "db_rows": len(db[-1].table()),
}))
"""


def test_startup_files_are_thin_and_independent():
    """Each file only imports from msc_bluesky/bluesky and uses no other file's globals."""
    defined_by_file = {}
    for path in STARTUP_FILES:
        tree = ast.parse(path.read_text())
        defined = set()
        for node in ast.walk(tree):
            assert not isinstance(node, ast.FunctionDef | ast.ClassDef | ast.For | ast.While), (
                f"{path.name} holds logic ({type(node).__name__}); move it into msc_bluesky"
            )
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.asname or a.name.split(".")[0] for a in node.names]
                module = getattr(node, "module", None) or node.names[0].name
                assert module.split(".")[0] in {"msc_bluesky", "bluesky"}, module
                defined.update(names)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined.add(node.id)
        used = {
            n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
        }
        foreign = used - defined - set(dir(builtins))
        assert not foreign, f"{path.name} uses globals of other startup files: {foreign}"
        defined_by_file[path.name] = defined
    assert "RE" in defined_by_file[STARTUP_FILES[0].name]


@pytest.mark.integration
def test_profile_runs_count_of_uvvis_against_the_ioc(tmp_path):
    from msc_bluesky.iocs.launcher import SimulatedIOC

    profile = tmp_path / "profile_collection"  # IPython writes history and logs into it
    shutil.copytree(PROFILE, profile, ignore=shutil.ignore_patterns("__pycache__"))
    with SimulatedIOC(time_scale=200.0) as ioc:
        env = {
            **os.environ,
            **ioc.env,
            "MSC_PREFIX": ioc.prefix,
            "MSC_DATA_DIR": str(tmp_path / "data"),
            "IPYTHONDIR": str(tmp_path / "ipython"),
            "MPLBACKEND": "Agg",
        }
        env.pop("MSC_CONFIG", None)
        done = subprocess.run(
            [sys.executable, "-m", "IPython", f"--profile-dir={profile}", "--no-banner",
             "--colors=nocolor", "-c", SESSION_CODE],
            env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT ") :])
    assert result["exit_status"] == "success"
    assert len(result["uids"]) == 1
    assert result["n_events"] == 2
    assert "uvvis_absorbance" in result["keys"]
    assert result["n_points"] == 1000
    assert result["names"] == {"reactor": "reactor", "uvvis": "uvvis", "saxs": "saxs"}
    assert len(result["plans"]) == 6
    # BestEffortCallback: its table of the count (no display here: tables only).
    assert result["bec"] == "BestEffortCallback"
    assert "Transient Scan ID:" in done.stdout and "seq_num" in done.stdout
    # The banner says what is defined.
    assert "msc_bluesky profile — defined names:" in done.stdout
    assert "bec" in done.stdout and f"{ioc.prefix!r}" in done.stdout
    assert result["db_last"] == result["uids"][0] and result["db_rows"] == 2  # databroker
