"""Report figures from the tiled store (issue 6; see docs/report.md).

``write_report(client, report_dir)`` reads raw and linked analysis runs and writes
``fig1_spectra.png``, ``fig2_saxs.png``, ``fig3_precursor.png`` and ``phase_map.png``.
The figure functions take plain data (:class:`ConditionRecord` lists, arrays) and can be
used without tiled.
"""

from .figures import (
    PHASE_COLOURS,
    phase_map_figure,
    precursor_figure,
    save_figure,
    saxs_figure,
    spectra_figure,
)
from .loader import load_records, parse_since
from .records import PHASES, ConditionRecord
from .write import FIGURE_FILES, figures_from_records, write_report

__all__ = [
    "FIGURE_FILES",
    "figures_from_records",
    "load_records",
    "parse_since",
    "write_report",
    "PHASES",
    "PHASE_COLOURS",
    "ConditionRecord",
    "phase_map_figure",
    "precursor_figure",
    "saxs_figure",
    "save_figure",
    "spectra_figure",
]
