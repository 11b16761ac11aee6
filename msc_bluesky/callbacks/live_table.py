"""A running table of live-analysis results, printed to the terminal."""

from __future__ import annotations

import math
import sys
from typing import Any, TextIO

from msc_bluesky.callbacks.point_analysis import PointResult
from msc_bluesky.callbacks.result_fields import MSC_FAMILIES

_COLUMNS: tuple[tuple[str, int], ...] = (
    ("seq", 4),
    ("T_nuc/C", 8),
    ("T_gr/C", 8),
    ("t/s", 6),
    ("phase", 8),
    ("MSC/nm", 16),
    ("NC/nm", 6),
    ("d/nm", 5),
    ("R_sx/nm", 7),
    ("fit", 4),
)


def _num(value: Any, digits: int) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "-"
    return "-" if math.isnan(v) else f"{v:.{digits}f}"


def msc_families_detected(row: dict[str, Any]) -> list[int]:
    """MSC family wavelengths (nm) flagged as detected in an analysis row."""
    return [f for f in MSC_FAMILIES if row.get(f"msc{f}_detected")]


def format_row(row: dict[str, Any]) -> list[str]:
    """The table cells of one analysis row (phase, MSC families, NC peak and diameter)."""
    msc = ",".join(str(f) for f in msc_families_detected(row)) or "-"
    nc_peak = _num(row.get("nc_peak_nm"), 0) if row.get("nc_detected") else "-"
    nc_d = _num(row.get("nc_diameter_nm"), 2) if row.get("nc_detected") else "-"
    return [
        str(row.get("raw_seq_num", "")),
        _num(row.get("t_nuc"), 1),
        _num(row.get("t_growth"), 1),
        _num(row.get("reaction_time"), 2),
        str(row.get("phase", "")),
        msc,
        nc_peak,
        nc_d,
        _num(row.get("saxs_pop1_radius_nm"), 2),
        "ok" if row.get("fit_ok") else "FAIL",
    ]


class LiveTable:
    """Listener of :class:`LiveAnalysis` that prints one line per analysed event.

    Parameters
    ----------
    file : text stream, optional
        Where to print (default ``sys.stdout``).

    Examples
    --------
    >>> live = LiveAnalysis(writer, listeners=[LiveTable()])   # doctest: +SKIP
    """

    def __init__(self, file: TextIO | None = None) -> None:
        self._file = file
        self._raw_uid: str | None = None
        #: Every row printed, as the cells shown (for inspection and tests).
        self.rows: list[list[str]] = []

    def _line(self, cells: list[str]) -> str:
        return " ".join(
            c.rjust(w)[: max(w, len(c))] for c, (_, w) in zip(cells, _COLUMNS, strict=False)
        )

    def __call__(self, result: PointResult) -> None:
        """Print the row of ``result`` (and a header when a new raw run begins)."""
        out = self._file or sys.stdout
        if result.raw_uid != self._raw_uid:
            self._raw_uid = result.raw_uid
            header = self._line([name for name, _ in _COLUMNS])
            print(f"msc analysis of raw run {result.raw_uid[:8]}", file=out)
            print(header, file=out)
            print("-" * len(header), file=out)
        cells = format_row(result.row)
        self.rows.append(cells)
        line = self._line(cells)
        if result.row.get("fit_error"):
            line += f"  {result.row['fit_error']}"
        print(line, file=out, flush=True)
