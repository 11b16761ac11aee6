"""The README stays true: its commands and its PV list match the code."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_opens_with_the_main_job_and_the_test_command():
    blocks = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)
    assert blocks[0].endswith("msc-bluesky campaign")
    assert "pip install -e ." in blocks[0]
    assert blocks[1].endswith("pytest -q")
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "pytest -q" in ci


def test_readme_lists_every_pv_the_ioc_serves():
    from msc_bluesky.iocs.server import pv_table

    served = {name.replace("MSC:", "{P}") for name, *_ in pv_table("MSC:")}
    listed = set(re.findall(r"^\| `(\{P\}[^`]+)` \|", README, flags=re.M))
    assert listed == served


def test_readme_names_every_subcommand():
    from msc_bluesky.cli import COMMANDS

    for command in COMMANDS:
        assert f"msc-bluesky {command}" in README, command
