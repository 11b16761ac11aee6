"""``msc-bluesky fit-kinetics``: bad input (fast) and end to end on a stored campaign."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from msc_bluesky.cli import main


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "msc_bluesky.cli", *args]


def test_missing_data_dir_is_refused(tmp_path, capsys):
    assert main(["fit-kinetics", "--data-dir", str(tmp_path / "nope"), "--no-store"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_bad_fix_value_is_refused(tmp_path, capsys):
    code = main(["fit-kinetics", "--data-dir", str(tmp_path), "--fix", "k_437=fast"])
    assert code == 2
    assert "not a number" in capsys.readouterr().err


def test_help_lists_fit_kinetics(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "fit-kinetics" in capsys.readouterr().out


@pytest.mark.integration
@pytest.mark.timeout(900)  # a quick campaign (~50 s) and a short fit, with margin
def test_fit_a_stored_quick_campaign_end_to_end(tmp_path):
    """Quick campaign on the simulated reactor into a real tiled store, then the fit."""
    data, summary_file = tmp_path / "data", tmp_path / "summary.json"
    done = subprocess.run(
        _cli("campaign", "--quick", "--data-dir", str(data), "--no-report",
             "--summary-json", str(summary_file), "--time-scale", "200"),
        env=_env(), capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    campaign = json.loads(summary_file.read_text())["campaign_id"]

    out_json, report = tmp_path / "fit.json", tmp_path / "report"
    fitted = subprocess.run(
        _cli("fit-kinetics", "--data-dir", str(data), "--campaign", campaign,
             "--json", str(out_json), "--report-dir", str(report),
             "--max-evaluations", "6", "--workers", "1"),
        env=_env(), capture_output=True, text=True, timeout=900,
    )
    assert fitted.returncode == 0, fitted.stdout[-3000:] + fitted.stderr[-3000:]
    text = fitted.stdout
    assert "predicted CdSe-437 window" in text and "14.0 s:" in text and "7.6 s:" in text
    assert "measured 270–300 °C" in text  # the window read from the stored analysis
    assert "fitting" in fitted.stderr  # the progress bar

    result = json.loads(out_json.read_text())
    from msc_bluesky.modelling import default_free_parameters, parameter_names

    assert set(result["parameters"]) == set(parameter_names())
    for name, entry in result["parameters"].items():
        assert {"value", "stderr", "identifiable"} <= set(entry)
        assert entry["held"] == (name not in default_free_parameters())
    assert set(result["msc437_window_c"]) == {"4.5", "7.6", "14.0"}
    for window in result["msc437_window_c"].values():
        assert window is None or (len(window) == 2 and window[0] <= window[1])
    assert result["reduced_chi2"] > 0
    assert result["campaign_id"] == campaign
    # 13 conditions cannot identify every rate: the fit says which it cannot.
    assert result["not_identified"]
    assert sorted(p.name for p in report.glob("*.png")) == [
        "fit_arrhenius.png", "fit_parity.png", "fit_phase_map.png",
    ] or sorted(p.name for p in report.glob("*.png")) == ["fit_parity.png", "fit_phase_map.png"]

    from tiled.queries import Key

    from msc_bluesky.storage.browse import campaign_table
    from msc_bluesky.storage.catalog import close_client, open_catalog

    client = open_catalog(data)
    try:
        # derived runs (fits) live in the analysis container, scans in raw (storage/layout.py)
        fits = client["analysis"].search(Key("start.plan_name") == "msc_kinetic_fit").search(
            Key("start.campaign_id") == campaign
        )
        assert len(fits) == 1
        run = fits.values().first()
        start = run.metadata["start"]
        assert start["uid"] == result["fit_uid"]
        raw = client["raw"].search(Key("start.campaign_id") == campaign)
        raw_uids = {r.metadata["start"]["uid"] for r in raw.values()}
        assert start["raw_uids"] and set(start["raw_uids"]) <= raw_uids
        assert set(start["kinetic_parameters"]) == set(parameter_names())
        assert run.metadata["stop"]["exit_status"] == "success"
        assert {"parameters", "residuals", "windows"} <= set(run)
        assert "primary" not in run
        params = run["parameters"].read()
        assert sorted(params["name"]) == sorted(parameter_names())
        # The fit run is not read back as measured data.
        table = campaign_table(client, md={"campaign_id": campaign})
        assert start["uid"] not in set(table["raw_uid"])
    finally:
        close_client(client)
