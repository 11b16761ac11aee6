"""Live analysis subscribed to a real RunEngine scanning in-process simulated devices."""

from __future__ import annotations

import io

import pytest
from bluesky import RunEngine
from callbacks_helpers import (
    Collector,
    failing,
    grid_plan,
    make_devices,
    real_or_fake_settings,
)

from msc_bluesky.callbacks import LiveAnalysis, LivePlot, LiveTable


@pytest.fixture
def RE():
    engine = RunEngine({})
    yield engine
    if engine.state != "idle":
        engine.halt()


def test_scan_produces_raw_run_and_linked_analysis_run(RE):
    raw, analysis = Collector(), Collector()
    buffer = io.StringIO()
    live = LiveAnalysis(analysis, real_or_fake_settings(), listeners=[LiveTable(buffer)])
    RE.subscribe(raw)
    RE.subscribe(live)
    (raw_uid,) = RE(grid_plan(make_devices(), t_nucs=(260.0, 270.0, 280.0)))

    assert raw.named("stop")[0]["num_events"] == {"dark": 1, "primary": 3}
    (start,) = analysis.named("start")
    assert start["raw_uid"] == raw_uid
    assert start["raw_plan_name"] == "temperature_grid"
    assert len(start["conditions"]) == 3
    events = analysis.named("event")
    assert len(events) == 3
    for event, t_nuc in zip(events, (260.0, 270.0, 280.0), strict=False):
        data = event["data"]
        assert data["fit_ok"], data["fit_error"]
        assert data["t_nuc"] == t_nuc and data["reaction_time"] == 4.5
        assert data["msc437_detected"] is True
        assert data["nc_detected"] is True
        assert data["nc_peak_nm"] == pytest.approx(500.0 + 0.5 * (t_nuc - 260.0), abs=4.0)
        assert data["phase"] == "MSC+NC"
        assert data["saxs_pop1_radius_nm"] == pytest.approx(1.2 + 0.01 * (t_nuc - 260.0), rel=0.2)
    stop = analysis.named("stop")[0]
    assert stop["exit_status"] == "success"
    assert stop["ignored_streams"] == ["dark"]
    assert buffer.getvalue().count("MSC+NC") == 3


def test_live_plot_in_a_scan_marks_the_msc_band_and_nc_peak(RE):
    from matplotlib.figure import Figure

    plot = LivePlot(fig=Figure())
    RE.subscribe(LiveAnalysis(Collector(), real_or_fake_settings(), listeners=[plot]))
    RE(grid_plan(make_devices(), t_nucs=(260.0, 280.0)))
    gids = {line.get_gid(): line for line in plot.ax_spectrum.lines}
    assert gids["msc437"].get_xdata()[0] == 437
    assert gids["nc"].get_xdata()[0] == pytest.approx(510.0, abs=4.0)
    assert "saxs_fit" in {line.get_gid() for line in plot.ax_saxs.lines}


def test_failing_analysis_never_disturbs_the_scan_or_other_subscribers(RE):
    before, after, analysis = Collector(), Collector(), Collector()

    def broken_downstream(name, doc):
        analysis(name, doc)
        raise RuntimeError("analysis store unavailable")

    settings = {
        "fit_spectrum": failing,
        "fit_size_distribution": failing,
        "find_mesophase": failing,
        "classify": failing,
    }
    RE.subscribe(before)
    RE.subscribe(LiveAnalysis(broken_downstream, settings, listeners=[failing]))
    RE.subscribe(after)
    (raw_uid,) = RE(grid_plan(make_devices(), t_nucs=(260.0, 270.0, 280.0)))

    assert [n for n, _ in after.docs] == [n for n, _ in before.docs]
    assert [d["uid"] for _, d in after.docs] == [d["uid"] for _, d in before.docs]
    raw_stop = after.named("stop")[0]
    assert raw_stop["exit_status"] == "success"
    assert raw_stop["num_events"]["primary"] == 3
    events = analysis.named("event")
    assert len(events) == 3
    assert all(e["data"]["fit_ok"] is False for e in events)
    assert all("deliberate fit failure" in e["data"]["fit_error"] for e in events)
    assert analysis.named("start")[0]["raw_uid"] == raw_uid
    assert analysis.named("stop")[0]["failed_points"] == 3
