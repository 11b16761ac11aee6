"""Read raw runs and their linked analysis runs from tiled into :class:`ConditionRecord`.

A raw run is any run of the store's ``raw`` container (or, in stores of the old layout,
any run at the root whose start document is not ``plan_name == "msc_analysis"``) that
has a ``primary`` stream. Its events give the conditions (setpoints when recorded,
else readbacks, else the start document's ``conditions``) and the curves
(``uvvis_absorbance`` on the ``uvvis_wavelength`` axis, ``saxs_intensity`` on
``saxs_q``; the axes come from the stream's device configuration). The analysis run
whose start carries ``raw_uid`` is joined event by event on ``raw_seq_num``; when a raw
run was analysed more than once (reprocessing), the newest analysis run wins.

Runs are found with :func:`msc_bluesky.storage.browse.find_runs`; raw curves, axes and
conditions are read with :func:`~msc_bluesky.storage.browse.run_arrays`. Analysis events
are read whole (scalars, strings, arrays) and keyed by ``raw_seq_num``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np

from .records import ConditionRecord

logger = logging.getLogger(__name__)

ANALYSIS_PLAN = "msc_analysis"
#: Start-document key that names the campaign a run belongs to (``--campaign``).
CAMPAIGN_KEY = "campaign_id"

#: Condition -> run_arrays names to take it from, in order of preference.
_CONDITION_ARRAYS = {
    "t_nuc": ("t_nuc_setpoint", "t_nuc"),
    "t_growth": ("t_growth_setpoint", "t_growth"),
    "reaction_time": ("reaction_time_setpoint", "reaction_time"),
}


def parse_since(value: str | float | datetime | None) -> float | None:
    """Turn ``--since`` into seconds since the epoch.

    Parameters
    ----------
    value : str, float, datetime or None
        Epoch seconds, or an ISO 8601 date/time (``2026-11-21`` or
        ``2026-11-21T14:00``; local time when no zone is given).

    Returns
    -------
    float or None

    Raises
    ------
    ValueError
        If a string is neither a number nor an ISO date/time.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise ValueError(
            f"--since {value!r}: expected epoch seconds or an ISO date/time such as "
            "2026-11-21 or 2026-11-21T14:00"
        ) from None


def load_records(
    client, *, since: float | None = None, campaign: str | None = None
) -> list[ConditionRecord]:
    """All measured conditions in a tiled store, raw curves joined with analysis results.

    Parameters
    ----------
    client : tiled container client
        Root of the store (``open_catalog(data_dir)`` or ``connect(uri, api_key)``).
    since : float, optional
        Only raw runs started at or after this time (epoch seconds).
    campaign : str, optional
        Only raw runs whose start document has ``campaign_id == campaign``.

    Returns
    -------
    list of ConditionRecord
        One per event of every raw run, oldest run first.
    """
    from msc_bluesky.storage.browse import find_runs, latest_analysis

    md = {CAMPAIGN_KEY: campaign} if campaign is not None else None
    records: list[ConditionRecord] = []
    raw_runs = find_runs(client, kind="raw", since=since, md=md)
    analysis = latest_analysis(client, [r.metadata["start"]["uid"] for r in raw_runs])
    for run in raw_runs:
        start = dict(run.metadata["start"])
        if "primary" not in run:
            continue
        linked = analysis.get(start["uid"])  # newest analysis wins
        rows = _analysis_rows(linked) if linked is not None else {}
        try:
            records.extend(_raw_records(start, run, rows))
        except Exception as err:  # one unreadable run must not sink the report
            logger.warning("skipping run %s: cannot read it (%s)", start["uid"], err)
    return records


def read_stream(stream) -> dict[str, np.ndarray]:
    """Read every data key of a bluesky event stream into ``{key: array}`` (events first).

    Scalar keys (and ``seq_num``, ``time``) come from the stream's internal table in one
    request; each array key costs one more request.
    """
    base = stream.base
    tables = sorted(k for k in base if k.startswith("internal"))
    out: dict[str, np.ndarray] = {}
    for name in tables:
        frame = base[name].read()
        for column in frame.columns:
            if not column.startswith("ts_"):
                out[column] = frame[column].to_numpy()
    for key in base:
        if key not in tables and key not in out and not key.startswith("ts_"):
            out[key] = np.asarray(base[key].read())
    return out


def _analysis_rows(run) -> dict[int, dict[str, Any]]:
    try:
        data = read_stream(run["primary"])
    except Exception as err:
        logger.warning("cannot read analysis run %s (%s)", run.metadata["start"]["uid"], err)
        return {}
    n = len(next(iter(data.values()))) if data else 0
    seq = data.get("raw_seq_num", data.get("seq_num", np.arange(1, n + 1)))
    return {int(seq[i]): {k: _plain(v[i]) for k, v in data.items()} for i in range(n)}


def _plain(value: Any) -> Any:
    """numpy scalars to Python scalars; arrays stay arrays; bytes to str."""
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return value
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _raw_records(start: Mapping, run, rows: Mapping[int, dict]) -> list[ConditionRecord]:
    from msc_bluesky.storage.browse import run_arrays

    data = run_arrays(run)
    per_event = [v for k, v in data.items() if k not in {"wavelength_nm", "q_per_nm"}]
    n = max((len(v) for v in per_event if np.ndim(v) > 0), default=0)
    seq = data.get("seq_num", np.arange(1, n + 1))
    times = data.get("time", np.full(n, np.nan))
    wavelength = _axis(data, "wavelength_nm", "absorbance")
    q = _axis(data, "q_per_nm", "intensity")
    planned = start.get("conditions") if isinstance(start.get("conditions"), list) else []

    records = []
    for i in range(n):
        row = rows.get(int(seq[i]), {})
        cond = {
            name: _condition(data, names, i, planned, row, name)
            for name, names in _CONDITION_ARRAYS.items()
        }
        records.append(
            ConditionRecord(
                **cond,
                wavelength_nm=wavelength,
                absorbance=_row(data, "absorbance", i) if wavelength is not None else None,
                q_per_nm=q,
                intensity=_row(data, "intensity", i) if q is not None else None,
                intensity_sigma=_row(data, "intensity_sigma", i) if q is not None else None,
                analysis=row,
                plan_name=str(start.get("plan_name", "")),
                raw_uid=str(start["uid"]),
                seq_num=int(seq[i]),
                time=float(times[i]),
            )
        )
    return records


def _axis(data: Mapping[str, np.ndarray], axis: str, curve: str) -> np.ndarray | None:
    if axis in data and curve in data:
        return np.asarray(data[axis], dtype=float)
    return None


def _row(data: Mapping[str, np.ndarray], name: str, i: int) -> np.ndarray | None:
    return np.asarray(data[name][i], dtype=float) if name in data else None


def _condition(data, names, i: int, planned: list, row: Mapping, name: str) -> float:
    """Setpoint, else readback, else the planned condition, else the analysis readback."""
    for key in names:
        if key in data:
            value = float(data[key][i])
            if math.isfinite(value):
                return value
    if i < len(planned) and isinstance(planned[i], Mapping) and name in planned[i]:
        return float(planned[i][name])
    try:
        return float(row.get(name, math.nan))
    except (TypeError, ValueError):
        return math.nan
