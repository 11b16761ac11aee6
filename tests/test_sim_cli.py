"""``msc-bluesky simulate`` through main() and once as a subprocess."""

import json
import subprocess
import sys

import pytest

from msc_bluesky.cli import main

ARGS = ["simulate", "--t-nuc", "280", "--t-growth", "280", "--time", "14"]


def test_json_output(capsys):
    assert main([*ARGS, "--seed", "3", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for key in ("wavelength_nm", "absorbance", "q_per_nm", "intensity", "intensity_sigma"):
        assert len(data[key]) > 100 and all(isinstance(v, float) for v in data[key])
    assert data["truth"]["conditions"]["t_nuc"] == 280.0
    assert data["truth"]["msc437_units_mM"] > 0


def test_table_output(capsys):
    assert main(ARGS) == 0
    out = capsys.readouterr().out
    assert "CdSe-437" in out and "NC: peak" in out and "SAXS populations" in out


def test_png_output(tmp_path, capsys):
    path = tmp_path / "fig.png"
    assert main([*ARGS, "--format", "png", "--output", str(path)]) == 0
    assert capsys.readouterr().out.strip() == str(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "bad", [["--t-nuc", "400"], ["--t-growth", "nan"], ["--time", "0"], ["--time", "inf"]]
)
def test_invalid_conditions_exit_2(bad, capsys):
    args = dict(zip(ARGS[1::2], ARGS[2::2], strict=True))
    args.update(dict(zip(bad[::2], bad[1::2], strict=True)))
    argv = ["simulate", *[x for kv in args.items() for x in kv]]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ("20–360 °C" in err or "> 0 s" in err)


def test_subprocess_json_is_deterministic():
    cmd = [sys.executable, "-m", "msc_bluesky.cli", *ARGS, "--seed", "1", "--format", "json"]
    runs = [subprocess.run(cmd, capture_output=True, text=True, timeout=120) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs)
    assert runs[0].stdout == runs[1].stdout
    assert "absorbance" in json.loads(runs[0].stdout)
