"""Choose the data for each figure and write the report's PNG files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from .figures import phase_map_figure, precursor_figure, save_figure, saxs_figure, spectra_figure
from .loader import load_records
from .records import (
    PHASES,
    ConditionRecord,
    latest_per,
    most_common_time,
    temperature_key,
    time_key,
)

#: File name of each figure.
FIGURE_FILES: dict[str, str] = {
    "spectra": "fig1_spectra.png",
    "saxs": "fig2_saxs.png",
    "precursor": "fig3_precursor.png",
    "phase_map": "phase_map.png",
}

GRID_PLAN = "temperature_grid"
SAXS_PLAN = "nucleation_series"
PRECURSOR_PLAN = "precursor_blank"


def _prefer_plan(records: Sequence[ConditionRecord], plan: str) -> list[ConditionRecord]:
    own = [r for r in records if r.plan_name == plan]
    return own or [r for r in records if r.plan_name != PRECURSOR_PLAN]


def select_spectra(records: Sequence[ConditionRecord]) -> list[ConditionRecord]:
    """Fig. 1 data: spectra of the temperature grid (else of any non-precursor run).

    Only the reaction time measured most often is kept, and one spectrum per
    (T_nuc, T_growth): the last one.
    """
    usable = _prefer_plan([r for r in records if r.has_spectrum], GRID_PLAN)
    t = most_common_time(usable)
    usable = [r for r in usable if time_key(r.reaction_time) == t]
    return latest_per(usable, lambda r: (temperature_key(r.t_nuc), temperature_key(r.t_growth)))


def select_saxs(records: Sequence[ConditionRecord]) -> list[ConditionRecord]:
    """Fig. 2 data: SAXS curves of the nucleation series (else of any non-precursor run).

    Only the most common reaction time and T_growth; one curve per T_nuc (the last).
    """
    usable = _prefer_plan([r for r in records if r.has_saxs], SAXS_PLAN)
    t = most_common_time(usable)
    usable = [r for r in usable if time_key(r.reaction_time) == t]
    growth = [temperature_key(r.t_growth) for r in usable]
    if growth:
        common = max(set(growth), key=lambda g: (growth.count(g), g))
        usable = [r for r in usable if temperature_key(r.t_growth) == common]
    return latest_per(usable, lambda r: temperature_key(r.t_nuc))


def select_precursor(records: Sequence[ConditionRecord]) -> list[ConditionRecord]:
    """Fig. 3 data: SAXS curves of precursor-blank runs, one per temperature (the last)."""
    usable = [r for r in records if r.has_saxs and r.plan_name == PRECURSOR_PLAN]
    return latest_per(usable, lambda r: temperature_key(r.t_nuc))


def select_phases(records: Sequence[ConditionRecord]) -> list[ConditionRecord]:
    """Phase-map data: every non-precursor record whose analysis gave a phase."""
    return [r for r in records if r.plan_name != PRECURSOR_PLAN and r.phase in PHASES]


def figures_from_records(
    records: Sequence[ConditionRecord],
    report_dir: str | Path,
    *,
    echo: Callable[[str], None] = print,
) -> list[Path]:
    """Draw every figure the records have data for and write them to ``report_dir``.

    Parameters
    ----------
    records : sequence of ConditionRecord
        Everything in the store (see :func:`~.loader.load_records`).
    report_dir : str or Path
        Output directory (created).
    echo : callable
        Receives one note per figure skipped for lack of data.

    Returns
    -------
    list of Path
        Files written, in the order of ``FIGURE_FILES``.
    """
    report_dir = Path(report_dir)
    written: list[Path] = []

    def emit(name: str, fig) -> None:
        written.append(save_figure(fig, report_dir / FIGURE_FILES[name]))

    spectra = select_spectra(records)
    if spectra:
        emit("spectra", spectra_figure(spectra))
    else:
        echo(f"skipped {FIGURE_FILES['spectra']}: no UV-Vis spectra in the store")
    saxs = select_saxs(records)
    if saxs:
        emit("saxs", saxs_figure(saxs))
    else:
        echo(f"skipped {FIGURE_FILES['saxs']}: no SAXS curves of reaction runs in the store")
    precursor = select_precursor(records)
    if precursor:
        emit("precursor", precursor_figure(precursor))
    else:
        echo(f"skipped {FIGURE_FILES['precursor']}: no {PRECURSOR_PLAN} runs with SAXS curves")
    phases = select_phases(records)
    if phases:
        emit(
            "phase_map",
            phase_map_figure(
                [r.t_nuc for r in phases],
                [r.t_growth for r in phases],
                [r.reaction_time for r in phases],
                [r.phase for r in phases],
            ),
        )
    else:
        echo(f"skipped {FIGURE_FILES['phase_map']}: no analysis runs with a phase in the store")
    return written


def write_report(
    client,
    report_dir: str | Path,
    *,
    since: float | None = None,
    campaign: str | None = None,
    echo: Callable[[str], None] = print,
) -> list[Path]:
    """Write the report figures from what is stored in tiled.

    Parameters
    ----------
    client : tiled container client
        Root of the store holding raw runs and ``msc_analysis`` runs.
    report_dir : str or Path
        Output directory (created).
    since : float, optional
        Only raw runs started at or after this time (epoch seconds).
    campaign : str, optional
        Only raw runs whose start document has ``campaign_id == campaign``.
    echo : callable
        Receives one note per figure skipped for lack of data (default ``print``).

    Returns
    -------
    list of Path
        The PNG files written (a subset of ``FIGURE_FILES``).
    """
    records = load_records(client, since=since, campaign=campaign)
    return figures_from_records(records, report_dir, echo=echo)
