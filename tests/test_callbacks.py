"""Unit tests of the live analysis with hand-made documents (event_model.compose_run)."""

from __future__ import annotations

import io
import math
import subprocess
import sys

import numpy as np
import pytest
from callbacks_helpers import (
    FAKE_SETTINGS,
    N_RADII,
    Collector,
    failing,
    fake_fit_size_distribution,
    raw_run,
)

import msc_bluesky
from msc_bluesky.analysis.results import DEFAULT_N_RADII
from msc_bluesky.callbacks import AnalysisSettings, LiveAnalysis, LivePlot, LiveTable
from msc_bluesky.callbacks.result_fields import SAXS_ARRAY_FIELDS, SCALAR_FIELDS


def run_through(live: LiveAnalysis, docs) -> None:
    for name, doc in docs:
        live(name, doc)


def test_analysis_run_links_to_raw_run_and_has_one_event_per_raw_event():
    out = Collector()
    live = LiveAnalysis(out, settings=FAKE_SETTINGS)
    docs = raw_run(nc_peaks=(500.0, 520.0, 540.0), exit_status="abort")
    run_through(live, docs)

    raw_start = docs[0][1]
    assert [n for n, _ in out.docs] == ["start", "descriptor", "event", "event", "event", "stop"]
    start = out.named("start")[0]
    assert start["plan_name"] == "msc_analysis"
    assert start["raw_uid"] == raw_start["uid"]
    assert start["analysis_version"] == msc_bluesky.__version__
    assert start["raw_plan_name"] == "temperature_grid"
    assert start["conditions"] == raw_start["conditions"]
    assert start["analysis_settings"]["absorbance_key"] == "uvvis_absorbance"
    assert start["analysis_settings"]["fit_spectrum"].endswith("fake_fit_spectrum")
    assert live.analysis_uids == {raw_start["uid"]: start["uid"]}

    descriptor = out.named("descriptor")[0]
    assert descriptor["name"] == "primary"
    assert set(descriptor["data_keys"]) == set(SCALAR_FIELDS) | set(SAXS_ARRAY_FIELDS)
    assert descriptor["data_keys"]["saxs_radius_nm"]["shape"] == [N_RADII]

    events = out.named("event")
    assert [e["data"]["raw_seq_num"] for e in events] == [1, 2, 3]
    assert [e["data"]["t_nuc"] for e in events] == [260.0, 270.0, 280.0]
    for event, peak in zip(events, (500.0, 520.0, 540.0), strict=False):
        data = event["data"]
        assert set(data) == set(descriptor["data_keys"])
        assert data["fit_ok"] is True and data["fit_error"] == ""
        assert data["phase"] == "MSC+NC"
        assert data["nc_peak_nm"] == pytest.approx(peak, abs=0.5)
        assert data["msc437_detected"] is True and data["msc403_detected"] is False
        assert len(data["saxs_radius_nm"]) == N_RADII
    stop = out.named("stop")[0]
    assert stop["exit_status"] == "abort"
    assert stop["num_events"] == {"primary": 3}
    assert stop["run_start"] == start["uid"]


def test_event_pages_are_analysed_like_events():
    plain, paged = Collector(), Collector()
    run_through(LiveAnalysis(plain, FAKE_SETTINGS), raw_run())
    run_through(LiveAnalysis(paged, FAKE_SETTINGS), raw_run(as_page=True))
    rows = [[e["data"]["nc_peak_nm"] for e in c.named("event")] for c in (plain, paged)]
    assert len(rows[1]) == 3
    assert rows[0] == rows[1]


@pytest.mark.parametrize("spectrum, saxs", [(True, False), (False, True)])
def test_only_one_kind_of_data_still_works(spectrum, saxs):
    out = Collector()
    run_through(LiveAnalysis(out, FAKE_SETTINGS), raw_run(with_spectrum=spectrum, with_saxs=saxs))
    events = out.named("event")
    assert len(events) == 3
    data = events[0]["data"]
    assert data["fit_ok"] is True
    assert math.isnan(data["nc_peak_nm"]) != spectrum
    assert math.isnan(data["saxs_pop1_radius_nm"]) != saxs
    # Without a spectrum the SAXS sizes decide (the fake finds one ~1.5 nm population).
    assert (data["phase"], data["phase_source"]) == (
        ("MSC+NC", "uvvis") if spectrum else ("NC", "saxs")
    )
    # without SAXS the arrays keep the fit's default length, NaN-filled (never 0: tiled
    # cannot store a zero-length array)
    expected_length = N_RADII if saxs else DEFAULT_N_RADII
    assert out.named("descriptor")[0]["data_keys"]["saxs_radius_nm"]["shape"] == [expected_length]
    assert np.isnan(data["saxs_radius_nm"]).all() != saxs


def test_run_without_spectra_or_saxs_gets_no_analysis_run():
    out = Collector()
    run_through(LiveAnalysis(out, FAKE_SETTINGS), raw_run(with_spectrum=False, with_saxs=False))
    assert out.docs == []


def test_failed_fit_is_recorded_and_never_raises():
    out = Collector()
    settings = {**FAKE_SETTINGS, "fit_spectrum": failing}
    live = LiveAnalysis(out, settings)
    run_through(live, raw_run())
    events = out.named("event")
    assert len(events) == 3
    for event in events:
        assert event["data"]["fit_ok"] is False
        assert "deliberate fit failure" in event["data"]["fit_error"]
        assert event["data"]["fit_error"].startswith("spectrum: RuntimeError")
        assert math.isnan(event["data"]["nc_peak_nm"])
        # The SAXS part is independent of the failed spectrum fit.
        assert event["data"]["saxs_pop1_radius_nm"] == 1.5
    assert out.named("stop")[0]["failed_points"] == 3


def test_first_saxs_failures_wait_for_the_array_length():
    calls = {"n": 0}

    def fails_first(q, intensity, sigma):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("no convergence")
        return fake_fit_size_distribution(q, intensity, sigma)

    out = Collector()
    run_through(
        LiveAnalysis(out, {**FAKE_SETTINGS, "fit_size_distribution": fails_first}), raw_run()
    )
    descriptor = out.named("descriptor")[0]
    assert descriptor["data_keys"]["saxs_radius_nm"]["shape"] == [N_RADII]
    first, second = out.named("event")[:2]
    assert first["data"]["fit_ok"] is False and "no convergence" in first["data"]["fit_error"]
    assert len(first["data"]["saxs_radius_nm"]) == N_RADII
    assert all(math.isnan(v) for v in first["data"]["saxs_radius_nm"])
    assert second["data"]["fit_ok"] is True


def test_all_saxs_fits_failing_still_closes_the_run():
    out = Collector()
    run_through(LiveAnalysis(out, {**FAKE_SETTINGS, "fit_size_distribution": failing}), raw_run())
    assert [n for n, _ in out.docs].count("event") == 3
    assert out.named("descriptor")[0]["data_keys"]["saxs_radius_nm"]["shape"] == [DEFAULT_N_RADII]
    assert np.isnan(out.named("event")[0]["data"]["saxs_radius_nm"]).all()
    assert out.named("stop")[0]["exit_status"] == "success"


def test_downstream_exceptions_do_not_propagate():
    received = []

    def broken_emit(name, doc):
        received.append(name)
        raise OSError("tiled is down")

    live = LiveAnalysis(broken_emit, FAKE_SETTINGS)
    run_through(live, raw_run())  # must not raise
    assert received == ["start", "descriptor", "event", "event", "event", "stop"]


def test_listener_exceptions_do_not_propagate():
    out = Collector()
    live = LiveAnalysis(out, FAKE_SETTINGS, listeners=[failing])
    run_through(live, raw_run())
    assert len(out.named("event")) == 3


def test_other_streams_are_noted_not_analysed():
    out = Collector()
    run_through(LiveAnalysis(out, FAKE_SETTINGS), raw_run(extra_stream=True))
    assert len(out.named("event")) == 3
    assert out.named("stop")[0]["ignored_streams"] == ["dark"]


def test_analysis_runs_are_not_reanalysed():
    first, second = Collector(), Collector()
    run_through(LiveAnalysis(first, FAKE_SETTINGS), raw_run())
    run_through(LiveAnalysis(second, FAKE_SETTINGS), first.docs)
    assert second.docs == []


def test_interleaved_runs_are_kept_apart():
    out = Collector()
    live = LiveAnalysis(out, FAKE_SETTINGS)
    a, b = raw_run(nc_peaks=(500.0, 510.0)), raw_run(nc_peaks=(600.0, 610.0))
    for pair in zip(a, b, strict=False):
        for name, doc in pair:
            live(name, doc)
    starts = out.named("start")
    assert {s["raw_uid"] for s in starts} == {a[0][1]["uid"], b[0][1]["uid"]}
    by_run = {s["uid"]: s["raw_uid"] for s in starts}
    desc_run = {d["uid"]: by_run[d["run_start"]] for d in out.named("descriptor")}
    peaks = {}
    for event in out.named("event"):
        peaks.setdefault(desc_run[event["descriptor"]], []).append(event["data"]["nc_peak_nm"])
    assert peaks[a[0][1]["uid"]] == pytest.approx([500.0, 510.0], abs=0.5)
    assert peaks[b[0][1]["uid"]] == pytest.approx([600.0, 610.0], abs=0.5)


def test_missing_default_analysis_is_a_recorded_failure(monkeypatch):
    settings = AnalysisSettings(fit_size_distribution=failing, find_mesophase=failing)
    monkeypatch.setitem(
        sys.modules, "msc_bluesky.analysis.uvvis", None
    )  # import of the default now fails
    out = Collector()
    run_through(LiveAnalysis(out, settings), raw_run(with_saxs=False))
    data = out.named("event")[0]["data"]
    assert data["fit_ok"] is False
    assert "ImportError" in data["fit_error"] or "ModuleNotFoundError" in data["fit_error"]


def test_settings_reject_unknown_names_and_bad_types():
    with pytest.raises(TypeError, match="allowed"):
        AnalysisSettings.coerce({"absorbtion_key": "x"})
    with pytest.raises(TypeError, match="settings must be"):
        AnalysisSettings.coerce(42)
    with pytest.raises(TypeError, match="emit must be callable"):
        LiveAnalysis(None)


def test_custom_data_keys():
    docs = raw_run()
    renamed = []
    for name, doc in docs:
        if name == "descriptor":
            doc = {
                **doc,
                "data_keys": {
                    ("spec" if k == "uvvis_absorbance" else k): v
                    for k, v in doc["data_keys"].items()
                },
            }
        elif name == "event":
            doc = {
                **doc,
                "data": {
                    ("spec" if k == "uvvis_absorbance" else k): v for k, v in doc["data"].items()
                },
            }
        renamed.append((name, doc))
    out = Collector()
    run_through(LiveAnalysis(out, {**FAKE_SETTINGS, "absorbance_key": "spec"}), renamed)
    assert out.named("event")[0]["data"]["nc_peak_nm"] == pytest.approx(500.0, abs=0.5)


def test_live_table_prints_phase_families_and_nc_peak():
    buffer = io.StringIO()
    table = LiveTable(file=buffer)
    run_through(LiveAnalysis(Collector(), FAKE_SETTINGS, listeners=[table]), raw_run())
    assert len(table.rows) == 3
    cells = table.rows[1]
    assert cells[4] == "MSC+NC" and cells[5] == "437" and cells[6] == "520"
    text = buffer.getvalue()
    assert "phase" in text and text.count("MSC+NC") == 3


def test_live_plot_marks_detected_bands_and_fit():
    from matplotlib.figure import Figure

    plot = LivePlot(fig=Figure())
    run_through(LiveAnalysis(Collector(), FAKE_SETTINGS, listeners=[plot]), raw_run())
    assert plot.updates == 3
    spectrum_gids = {line.get_gid(): line for line in plot.ax_spectrum.lines}
    assert "msc437" in spectrum_gids and "msc403" not in spectrum_gids
    assert spectrum_gids["msc437"].get_xdata()[0] == 437
    assert spectrum_gids["nc"].get_xdata()[0] == pytest.approx(540.0, abs=0.5)
    saxs_gids = {line.get_gid() for line in plot.ax_saxs.lines}
    assert {"saxs_data", "saxs_fit"} <= saxs_gids
    fit = next(line for line in plot.ax_saxs.lines if line.get_gid() == "saxs_fit")
    assert np.all(np.isfinite(fit.get_ydata()))
    assert [line.get_gid() for line in plot.ax_distribution.lines] == ["distribution"]


def test_importing_callbacks_does_not_import_matplotlib():
    code = (
        "import sys, msc_bluesky.callbacks, msc_bluesky.callbacks.zmq_consumer;"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_prepare_imports_the_fitting_functions_up_front(monkeypatch):
    live = LiveAnalysis(Collector(), FAKE_SETTINGS)
    assert live.prepare() is live
    monkeypatch.setitem(sys.modules, "msc_bluesky.analysis.uvvis", None)
    with pytest.raises(ImportError):
        LiveAnalysis(Collector()).prepare()


def test_function_paths_are_checked_and_resolved():
    settings = AnalysisSettings.coerce({"classify": "callbacks_helpers:fake_classify"})
    from callbacks_helpers import fake_classify

    assert settings.function("classify") is fake_classify
    assert settings.to_dict()["classify"] == "callbacks_helpers:fake_classify"
    with pytest.raises(ValueError, match="package.module:function"):
        AnalysisSettings(fit_spectrum="no_colon_here")


def test_live_plot_distribution_axis_shows_where_the_volume_is():
    from msc_bluesky.callbacks.live_plot import _radius_span

    radius = np.linspace(0.4, 63.0, 60)
    phi = np.where(np.abs(radius - 1.5) < 1.2, 1e-4, 0.0)
    assert 3.0 <= _radius_span(radius, phi) < 6.0
    big = np.where(np.abs(radius - 20.0) < 2.0, 1e-4, 0.0)
    assert _radius_span(radius, big) > 25.0
    assert _radius_span(radius, np.zeros_like(radius)) == pytest.approx(63.0)
