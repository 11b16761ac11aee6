"""Report figures from synthetic plain data (no tiled): panels, lines, markers, files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from report_synthetic import (
    Q,
    paper_grid,
    phase_of,
    precursor_record,
    saxs_record,
    spectrum_record,
)

from msc_bluesky.physics.sizing import MSC_FAMILIES_NM
from msc_bluesky.storage.report import (
    FIGURE_FILES,
    PHASE_COLOURS,
    PHASES,
    ConditionRecord,
    figures_from_records,
    parse_since,
    phase_map_figure,
    precursor_figure,
    saxs_figure,
    spectra_figure,
)
from msc_bluesky.storage.report.write import select_saxs, select_spectra


def _by_gid(container, gid, kind="lines"):
    return [a for a in getattr(container, kind) if a.get_gid() == gid]


def _axes(fig, gid):
    return [ax for ax in fig.axes if ax.get_gid() == gid]


# ----------------------------------------------------------------------------- Fig. 1


def test_spectra_one_panel_per_nucleation_temperature():
    records = paper_grid((250, 280, 300), n_growth=4)
    fig = spectra_figure(records)
    panels = _axes(fig, "spectra-panel")
    assert len(panels) == 3
    assert [p.get_title() for p in panels] == [
        f"$T_\\mathrm{{nuc}}$ = {t} \N{DEGREE SIGN}C" for t in (250, 280, 300)
    ]
    for panel in panels:
        assert len(_by_gid(panel, "spectrum")) == 4
        lines = [_by_gid(panel, f"msc-line-{f}") for f in MSC_FAMILIES_NM]
        assert [ln[0].get_xdata()[0] for ln in lines] == list(MSC_FAMILIES_NM)
        assert panel.get_xlabel() in ("", "Wavelength (nm)")
    assert panels[-1].get_xlabel() == "Wavelength (nm)"
    assert panels[0].get_ylabel().startswith("Absorbance")
    # a colour bar over T_growth
    colorbars = [ax for ax in fig.axes if "growth" in ax.get_ylabel()]
    assert len(colorbars) == 1
    assert "t = 14 s" in fig.get_suptitle()


def test_spectra_highlight_only_detected_bands():
    fig = spectra_figure(paper_grid((250, 280), n_growth=3))
    cold, window = _axes(fig, "spectra-panel")
    assert _by_gid(cold, "msc-detected-437", "patches") == []
    spans = _by_gid(window, "msc-detected-437", "patches")
    assert len(spans) == 1
    span = spans[0]
    assert span.get_x() < 437 < span.get_x() + span.get_width()
    assert all(_by_gid(window, f"msc-detected-{f}", "patches") == [] for f in (350, 380, 403))
    assert (
        _by_gid(window, "msc-line-437")[0].get_color()
        != _by_gid(cold, "msc-line-437")[0].get_color()
    )


def test_spectra_colour_follows_growth_temperature_and_offset():
    records = [spectrum_record(300, tg) for tg in (300, 260, 280)]
    fig = spectra_figure(records, offset=0.5)
    (panel,) = _axes(fig, "spectra-panel")
    lines = _by_gid(panel, "spectrum")
    # stacked in order of T_growth: 260, 280, 300
    by_growth = sorted(records, key=lambda r: r.t_growth)
    for k, (line, rec) in enumerate(zip(lines, by_growth, strict=True)):
        np.testing.assert_allclose(line.get_ydata(), rec.absorbance + 0.5 * k)
    colours = [tuple(line.get_color()) for line in lines]
    assert len(set(colours)) == 3


def test_spectra_needs_a_spectrum():
    with pytest.raises(ValueError, match="UV-Vis spectrum"):
        spectra_figure([saxs_record(200)])


# ----------------------------------------------------------------------------- Fig. 2


def test_saxs_distributions_offset_and_marked():
    temps = (190, 220, 250, 280)
    fig = saxs_figure([saxs_record(t) for t in temps])
    (size,) = _axes(fig, "size-panel")
    (iq,) = _axes(fig, "iq-panel")
    curves = _by_gid(size, "size-distribution")
    assert len(curves) == len(temps)
    baselines = [float(np.min(c.get_ydata())) for c in curves]
    assert baselines == sorted(baselines) and baselines[0] < baselines[-1]
    peaks = _by_gid(size, "size-peak")
    expected = [saxs_record(t).analysis["saxs_pop1_radius_nm"] for t in temps]
    np.testing.assert_allclose([p.get_xdata()[0] for p in peaks], expected)
    assert iq.get_xscale() == "log" and iq.get_yscale() == "log"
    assert len(_by_gid(iq, "saxs-curve")) == len(temps)
    assert [t.get_text() for t in iq.get_legend().get_texts()] == [
        f"{t} \N{DEGREE SIGN}C" for t in temps
    ]
    assert size.get_xlabel() == "Radius (nm)"
    assert "nm$^{-1}$" in iq.get_xlabel() and "cm$^{-1}$" in iq.get_ylabel()


def test_saxs_keeps_the_last_measurement_per_temperature():
    old = saxs_record(230, time=1.0)
    new = dataclasses.replace(saxs_record(230, time=2.0), intensity=2 * old.intensity)
    fig = saxs_figure([new, old])
    (iq,) = _axes(fig, "iq-panel")
    (line,) = _by_gid(iq, "saxs-curve")
    np.testing.assert_allclose(line.get_ydata(), new.intensity)


def test_saxs_without_distributions_still_draws_curves():
    rec = dataclasses.replace(saxs_record(230), analysis={})
    fig = saxs_figure([rec])
    (size,) = _axes(fig, "size-panel")
    assert _by_gid(size, "size-distribution") == []
    assert len(_by_gid(_axes(fig, "iq-panel")[0], "saxs-curve")) == 1


# ----------------------------------------------------------------------------- Fig. 3


def test_precursor_marks_bragg_peaks_at_their_q():
    fig = precursor_figure([precursor_record(t) for t in (25, 50, 100)], scale_step=1.0)
    (ax,) = _axes(fig, "precursor-panel")
    curves = _by_gid(ax, "precursor-curve")
    assert len(curves) == 3
    np.testing.assert_allclose(curves[-1].get_ydata(), precursor_record(25).intensity)
    peaks = _by_gid(ax, "bragg-peak")
    assert len(peaks) == 4  # two peaks at 25 and at 50 °C, none at 100 °C
    assert sorted(round(p.get_xdata()[0], 2) for p in peaks) == [1.84, 1.84, 3.69, 3.69]
    for p in peaks:  # above the curve
        q = p.get_xdata()[0]
        curve_y = np.interp(q, Q, precursor_record(25).intensity)
        assert p.get_ydata()[0] > 0.9 * curve_y
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(lbl.startswith("25 \N{DEGREE SIGN}C") and "d = 3.41 nm" in lbl for lbl in labels)
    assert any(lbl.startswith("Bragg peak") for lbl in labels)


def test_precursor_scaling_separates_curves():
    fig = precursor_figure([precursor_record(t) for t in (25, 100)], scale_step=3.0)
    hot, cold = _by_gid(_axes(fig, "precursor-panel")[0], "precursor-curve")
    np.testing.assert_allclose(hot.get_ydata(), precursor_record(100).intensity)
    np.testing.assert_allclose(cold.get_ydata(), 3 * precursor_record(25).intensity)


# ----------------------------------------------------------------------------- phase map


def _phase_points():
    pts = [(t, t, rt) for t in (220, 260, 280, 320) for rt in (1.5, 4.5, 14.0)]
    pts += [(tn, tn - 20, 14.0) for tn in (280, 320)]
    tn, tg, rt = (np.array(v, dtype=float) for v in zip(*pts, strict=True))
    return tn, tg, rt, [phase_of(*p) for p in pts]


def test_phase_map_cells_hold_the_phase_codes():
    tn, tg, rt, phase = _phase_points()
    fig = phase_map_figure(tn, tg, rt, phase)
    (ax,) = _axes(fig, "phase-time-panel")
    (mesh,) = [c for c in ax.collections if c.get_gid() == "phase-map"]
    grid = np.ma.getdata(mesh.get_array()).reshape(4, 3)  # 4 temperatures x 3 times
    for i, t in enumerate((220, 260, 280, 320)):
        for j, r in enumerate((1.5, 4.5, 14.0)):
            assert grid[i, j] == PHASES.index(phase_of(t, t, r))
    assert ax.get_xlabel() == "Reaction time (s)"
    assert "T_\\mathrm{growth}" in ax.get_ylabel()
    (grid_ax,) = _axes(fig, "phase-grid-panel")
    assert "t = 14 s" in grid_ax.get_title()
    legend_labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert set(legend_labels) == set(phase)
    assert set(PHASE_COLOURS) == set(PHASES)


def test_phase_map_without_growth_grid_has_one_panel_and_uses_t_nuc():
    fig = phase_map_figure([250, 300], [200, 200], [14.0, 14.0], ["NC", "MSC+NC"])
    assert _axes(fig, "phase-grid-panel") == []
    (ax,) = _axes(fig, "phase-time-panel")
    assert ax.get_ylabel().startswith("$T_\\mathrm{nuc}$")


@pytest.mark.parametrize(
    "args, match",
    [
        (([250], [250], [14.0], ["gas"]), "unknown phase"),
        (([250, 260], [250], [14.0], ["NC"]), "equal length"),
        (([], [], [], []), "non-empty"),
    ],
)
def test_phase_map_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        phase_map_figure(*args)


# ----------------------------------------------------------------------------- selection


def test_select_spectra_prefers_grid_and_most_common_time():
    grid = paper_grid((280,), n_growth=3)
    short = [spectrum_record(280, 280, 4.5)]
    other = [spectrum_record(250, 250, 14.0, plan_name="condition_scan")]
    chosen = select_spectra(grid + short + other)
    assert chosen and all(r.plan_name == "temperature_grid" for r in chosen)
    assert {r.reaction_time for r in chosen} == {14.0}
    assert len(chosen) == 3


def test_select_saxs_uses_one_growth_temperature():
    records = [saxs_record(t) for t in (190, 200, 210)] + [saxs_record(200, t_growth=260)]
    chosen = select_saxs(records)
    assert [r.t_nuc for r in chosen] == [190, 200, 210]
    assert {r.t_growth for r in chosen} == {230}


# ----------------------------------------------------------------------------- files


def test_figures_from_records_writes_pngs_and_notes_skips(tmp_path):
    notes: list[str] = []
    records = paper_grid((270, 300), n_growth=2) + [saxs_record(t) for t in (200, 240)]
    written = figures_from_records(records, tmp_path / "out", echo=notes.append)
    assert [p.name for p in written] == [
        FIGURE_FILES["spectra"],
        FIGURE_FILES["saxs"],
        FIGURE_FILES["phase_map"],
    ]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 10_000
    assert len(notes) == 1 and FIGURE_FILES["precursor"] in notes[0]


def test_figures_from_nothing_writes_nothing(tmp_path):
    notes: list[str] = []
    empty = [ConditionRecord(t_nuc=250, t_growth=250, reaction_time=14.0)]
    assert figures_from_records(empty, tmp_path, echo=notes.append) == []
    assert len(notes) == 4
    assert list(tmp_path.iterdir()) == []


def test_parse_since():
    assert parse_since(None) is None
    assert parse_since("1700000000") == 1.7e9
    assert parse_since("2026-11-21T00:00:00+00:00") == pytest.approx(1795219200.0)
    with pytest.raises(ValueError, match="ISO date"):
        parse_since("yesterday")


def test_saxs_figure_marks_magic_radii_and_resolved_populations():
    rec = saxs_record(230.0)
    rec.analysis.update(
        saxs_pop1_radius_nm=0.94, saxs_pop1_volume_fraction=6e-4,
        saxs_pop1_volume_fraction_sigma=3e-5,
        saxs_pop2_radius_nm=1.02, saxs_pop2_volume_fraction=4e-4,
        saxs_pop2_volume_fraction_sigma=2e-5,
    )
    (size,) = _axes(saxs_figure([rec, saxs_record(190.0)]), "size-panel")
    guides = _by_gid(size, "magic-radius")
    assert sorted(g.get_xdata()[0] for g in guides) == [0.87, 0.94, 1.02]
    dots = _by_gid(size, "size-population")
    assert sorted(d.get_xdata()[0] for d in dots) == [0.94, 1.02]  # one record has two
    texts = [t.get_text() for t in size.texts]
    assert "0.94 nm 60 ± 3 % | 1.02 nm 40 ± 2 %" in texts
    assert size.get_xscale() == "log"
