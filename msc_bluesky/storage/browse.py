"""Finding runs by condition, and reading them as arrays and tables.

Examples
--------
>>> from msc_bluesky.storage.catalog import open_catalog
>>> from msc_bluesky.storage.browse import find_runs, run_arrays, campaign_table
>>> client = open_catalog("msc_data")
>>> runs = find_runs(client, t_nuc=240, reaction_time=(2, 8))
>>> arrays = run_arrays(runs[0])            # arrays["absorbance"]: (n_events, 1000)
>>> table = campaign_table(client, plan_name="temperature_grid")
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .conditions import BOUNDS_KEY, CONDITION_NAMES
from .layout import ANALYSIS, ANALYSIS_PLAN_NAME, RAW, Sources, sources, store_sources

#: Allowed values of the ``kind`` argument.
RUN_KINDS = ("raw", "analysis", "all")

#: run_arrays name -> event data key, for raw and analysis runs.
EVENT_ARRAYS: dict[str, str] = {
    "absorbance": "uvvis_absorbance",
    "counts": "uvvis_counts",
    "intensity": "saxs_intensity",
    "intensity_sigma": "saxs_intensity_sigma",
    "transmission": "saxs_transmission",
    "t_nuc": "reactor_t_nuc",
    "t_growth": "reactor_t_growth",
    "reaction_time": "reactor_reaction_time",
    "t_nuc_setpoint": "reactor_t_nuc_setpoint",
    "t_growth_setpoint": "reactor_t_growth_setpoint",
    "reaction_time_setpoint": "reactor_reaction_time_setpoint",
    "radius_nm": "saxs_radius_nm",
    "volume_fraction": "saxs_volume_fraction",
    "volume_fraction_sigma": "saxs_volume_fraction_sigma",
    "seq_num": "seq_num",
    "time": "time",
}
#: run_arrays name -> configuration data key (the curves' axes).
CONFIGURATION_AXES: dict[str, str] = {
    "wavelength_nm": "uvvis_wavelength",
    "path_length_cm": "uvvis_path_length",
    "q_per_nm": "saxs_q",
}
#: Analysis fields that are already in an analysis event under the raw names.
_ANALYSIS_CONDITION_KEYS = {name: name for name in CONDITION_NAMES}

ConditionValue = float | tuple[float, float] | None


def _interval(name: str, value: ConditionValue, tolerance: float) -> tuple[float, float] | None:
    if value is None:
        return None
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise ValueError(f"{name}: give one number or a (low, high) pair, got {value!r}")
        low, high = (float(v) for v in value)
    else:
        low = high = float(value)
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(f"{name}: need finite numbers with low <= high, got {value!r}")
    return low - tolerance, high + tolerance


def _condition_matches(condition: Mapping, wanted: dict[str, tuple[float, float]]) -> bool:
    for name, (low, high) in wanted.items():
        try:
            value = float(condition.get(name))
        except (TypeError, ValueError):
            return False
        if not low <= value <= high:
            return False
    return True


def find_runs(
    client,
    *,
    t_nuc: ConditionValue = None,
    t_growth: ConditionValue = None,
    reaction_time: ConditionValue = None,
    plan_name: str | None = None,
    kind: str = "raw",
    raw_uid: str | None = None,
    since: float | None = None,
    until: float | None = None,
    md: Mapping[str, Any] | None = None,
    tolerance: float = 1e-6,
) -> list:
    """Runs whose conditions match, oldest first.

    A run matches when one of its conditions (``start["conditions"]``) satisfies every
    condition given. The server narrows the search on the flat bounds ``start.t_nuc_min``,
    ``start.t_nuc_max``, ... (``start.condition_bounds`` in stores of the old layout); the
    conditions themselves are then checked here. Raw runs are looked for in the store's
    ``raw`` container, analysis runs in ``analysis``, and both at the root of a store of
    the old layout (:mod:`.layout`).

    Parameters
    ----------
    client : tiled client
        The store's root (or a catalog of runs).
    t_nuc, t_growth : float or (float, float), optional
        Nucleation / growth temperature in °C: a value or an inclusive range.
    reaction_time : float or (float, float), optional
        Reaction time in s: a value or an inclusive range.
    plan_name : str, optional
        Plan that made the raw run (for analysis runs: ``start["raw_plan_name"]``).
    kind : {"raw", "analysis", "all"}
        Raw runs, linked analysis runs, or both.
    raw_uid : str, optional
        Only analysis runs linked to this raw run.
    since, until : float, optional
        Start time bounds (epoch seconds).
    md : mapping, optional
        Further start-document keys that must be equal (dotted keys allowed), e.g.
        ``{"campaign_id": ...}`` (analysis runs carry their raw run's keys).
    tolerance : float
        Absolute tolerance of condition comparisons.

    Returns
    -------
    list of BlueskyRun clients
    """
    if kind not in RUN_KINDS:
        raise ValueError(f"kind must be one of {RUN_KINDS}, got {kind!r}")
    kinds = (RAW, ANALYSIS) if kind == "all" else (kind,)
    where = store_sources(client) if len(kinds) > 1 else {kind: sources(client, kind)}
    return _find_runs(
        where, t_nuc=t_nuc, t_growth=t_growth, reaction_time=reaction_time,
        plan_name=plan_name, raw_uid=raw_uid, since=since, until=until, md=md,
        tolerance=tolerance,
    )


def _find_runs(
    where: Mapping[str, Sources],
    *,
    t_nuc: ConditionValue = None,
    t_growth: ConditionValue = None,
    reaction_time: ConditionValue = None,
    plan_name: str | None = None,
    raw_uid: str | None = None,
    since: float | None = None,
    until: float | None = None,
    md: Mapping[str, Any] | None = None,
    tolerance: float = 1e-6,
) -> list:
    """:func:`find_runs` in the containers ``where`` gives for each kind searched."""
    wanted = {
        name: interval
        for name, value in zip(CONDITION_NAMES, (t_nuc, t_growth, reaction_time), strict=True)
        if (interval := _interval(name, value, tolerance)) is not None
    }
    runs = []
    for one_kind, found_in in where.items():
        for container, mixed in found_in.all():
            results = _narrow(
                container, one_kind, mixed, wanted,
                plan_name=plan_name, raw_uid=raw_uid, since=since, until=until, md=md,
            )
            for run in results.values():
                conditions = run.metadata["start"].get("conditions") or []
                if wanted and not any(_condition_matches(c, wanted) for c in conditions):
                    continue
                runs.append(run)
    return sorted(runs, key=lambda r: r.metadata["start"].get("time", 0.0))


def _narrow(container, kind, mixed, wanted, *, plan_name, raw_uid, since, until, md):
    """The server-side search of one container."""
    from tiled.queries import Key

    results = container
    if mixed:  # old layout: raw and analysis runs side by side
        if kind == ANALYSIS:
            results = results.search(Key("start.plan_name") == ANALYSIS_PLAN_NAME)
        else:
            results = results.search(Key("start.plan_name") != ANALYSIS_PLAN_NAME)
    if plan_name is not None:
        field = "raw_plan_name" if kind == ANALYSIS else "plan_name"
        results = results.search(Key(f"start.{field}") == plan_name)
    if raw_uid is not None:
        results = results.search(Key("start.raw_uid") == raw_uid)
    if since is not None:
        results = results.search(Key("start.time") >= float(since))
    if until is not None:
        results = results.search(Key("start.time") <= float(until))
    for key, value in (md or {}).items():
        results = results.search(Key(f"start.{key}") == value)
    prefix = f"start.{BOUNDS_KEY}." if mixed else "start."
    for name, (low, high) in wanted.items():
        results = results.search(Key(f"{prefix}{name}_min") <= high)
        results = results.search(Key(f"{prefix}{name}_max") >= low)
    return results


def _configuration_values(stream) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for descriptor in stream.descriptors:
        for device in (descriptor.get("configuration") or {}).values():
            values.update(device.get("data") or {})
    return values


def run_arrays(run, stream: str = "primary") -> dict[str, np.ndarray]:
    """The spectra, curves and conditions of a run as numpy arrays.

    Parameters
    ----------
    run : BlueskyRun client
        A raw or analysis run.
    stream : str
        Event stream name.

    Returns
    -------
    dict of str -> numpy.ndarray
        Per-event arrays with the event as first axis (``absorbance`` (n, 1000),
        ``intensity`` / ``intensity_sigma`` (n, 300), ``t_nuc``, ``t_growth``,
        ``reaction_time``, setpoints, ``seq_num``, ``time``; analysis runs:
        ``radius_nm``, ``volume_fraction``, ...) and axes from the configuration
        (``wavelength_nm``, ``q_per_nm``, ``path_length_cm``). Only what the run holds.
    """
    if stream not in run:
        raise KeyError(
            f"run {run.metadata['start']['uid']} has no stream {stream!r}; it has {list(run)}"
        )
    node = run[stream]
    keys = set(node)
    arrays: dict[str, np.ndarray] = {}
    is_analysis = run.metadata["start"].get("plan_name") == ANALYSIS_PLAN_NAME
    sources = dict(EVENT_ARRAYS)
    if is_analysis:
        sources.update(_ANALYSIS_CONDITION_KEYS)
    for name, key in sources.items():
        if key in keys:
            arrays[name] = np.asarray(node[key].read())
    configuration = _configuration_values(node)
    for name, key in CONFIGURATION_AXES.items():
        if key in configuration:
            arrays[name] = np.asarray(configuration[key])
    return arrays


def _scalar_table(run, stream: str = "primary"):
    """The stream's scalar event table in one request (no node lookup, no dask).

    The table is fetched whole from the server's ``table/full`` route as Arrow; an
    absent table (a stream without events) gives an empty DataFrame.
    """
    import io

    import pandas as pd
    import pyarrow

    context = run.context
    path = "/".join([*run.path_parts, stream, "internal"])
    response = context.http_client.get(
        f"{context.api_uri}table/full/{path}",
        headers={"Accept": "application/vnd.apache.arrow.file"},
    )
    if response.status_code == 404:
        return pd.DataFrame()
    response.raise_for_status()
    table = pyarrow.ipc.open_file(io.BytesIO(response.content)).read_all().to_pandas()
    return table.drop(columns=[c for c in table.columns if c.startswith("ts_")])


#: Tables read at once by :func:`campaign_table` from a tiled server.
TABLE_READ_THREADS = 8


def _scalar_tables(runs: list) -> list:
    """:func:`_scalar_table` of each run, in order; concurrent requests to a server."""
    if len(runs) < 2 or not _is_remote(runs[0]):
        return [_scalar_table(run) for run in runs]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(TABLE_READ_THREADS, len(runs))) as pool:
        return list(pool.map(_scalar_table, runs))


def _is_remote(run) -> bool:
    """Whether the client talks to a server over the network (not an in-process app)."""
    import httpx

    return type(run.context.http_client) is httpx.Client


def latest_analysis(client, raw_uids: Iterable[str]) -> dict[str, Any]:
    """The newest linked analysis run of each raw run (one search per container).

    Parameters
    ----------
    client : tiled client
        The store's root.
    raw_uids : iterable of str
        Start uids of raw runs.

    Returns
    -------
    dict
        Raw uid -> analysis run client, for raw runs that have one.
    """
    return _latest_analysis(sources(client, ANALYSIS), raw_uids)


def _latest_analysis(where: Sources, raw_uids: Iterable[str]) -> dict[str, Any]:
    """:func:`latest_analysis` in the containers ``where``."""
    from tiled.queries import In, Key

    uids = list(raw_uids)
    if not uids:
        return {}
    latest: dict[str, Any] = {}
    for container, mixed in where.all():
        found = container
        if mixed:
            found = found.search(Key("start.plan_name") == ANALYSIS_PLAN_NAME)
        for run in found.search(In("start.raw_uid", uids)).values():
            start = run.metadata["start"]
            previous = latest.get(start["raw_uid"])
            if previous is None or start["time"] > previous.metadata["start"]["time"]:
                latest[start["raw_uid"]] = run
    return latest


def campaign_table(
    client,
    *,
    t_nuc: ConditionValue = None,
    t_growth: ConditionValue = None,
    reaction_time: ConditionValue = None,
    plan_name: str | None = None,
    since: float | None = None,
    until: float | None = None,
    md: Mapping[str, Any] | None = None,
    use_copies: bool = True,
):
    """One table over a campaign: a row per condition (raw event), fit results as columns.

    Raw runs are chosen as in :func:`find_runs`; every event of a chosen run is a row.
    The scalar event data of the raw run come first, then the scalar fields of the
    newest linked analysis run (``start["raw_uid"]``) joined on ``raw_seq_num``
    (missing fits are NaN); the tables come from copies kept in the analysis runs where
    they match (``use_copies``), else from the store. Array data (spectra, curves, size
    distributions) are not in the table: use :func:`run_arrays`.

    Parameters
    ----------
    client : tiled client
        Catalog of runs.
    t_nuc, t_growth, reaction_time, plan_name, since, until, md
        As in :func:`find_runs`.
    use_copies : bool
        Use the copies of the scalar tables that the writer keeps in each analysis run
        (:mod:`.stored_tables`) where they match the stored runs: two searches instead
        of a table read per run. False reads every table from the store.

    Returns
    -------
    pandas.DataFrame
        Columns ``raw_uid``, ``scan_id``, ``plan_name``, ``seq_num``, ``time``, the raw
        scalar data keys, ``analysis_uid`` and the analysis fields (``phase``,
        ``fit_ok``, ``nc_peak_nm``, ...). A field present in both gets the suffix
        ``_analysis`` on the analysis side.
    """
    where = _layout_of(client)
    raw_runs = _find_runs(
        {RAW: where[RAW]},
        t_nuc=t_nuc,
        t_growth=t_growth,
        reaction_time=reaction_time,
        plan_name=plan_name,
        since=since,
        until=until,
        md=md,
    )
    analysis = _latest_analysis(where[ANALYSIS], (r.metadata["start"]["uid"] for r in raw_runs))
    linked_runs = [analysis.get(r.metadata["start"]["uid"]) for r in raw_runs]
    return _join_tables(raw_runs, linked_runs, use_copies=use_copies)


#: Seconds campaign_table reuses a store's layout (its ``raw``/``analysis`` containers).
LAYOUT_REUSE_S = 30.0


def _layout_of(client) -> dict[str, Sources]:
    """:func:`~.layout.store_sources`, remembered on the client for a while.

    A dashboard polling the campaign table then needs no root listing per poll. Only a
    store with both containers and no runs of the old layout is remembered: containers
    are created once and never removed, so that answer does not go stale.
    """
    import time

    now = time.monotonic()
    remembered = getattr(client, "_msc_layout", None)
    if remembered is not None and now - remembered[0] < LAYOUT_REUSE_S:
        return remembered[1]
    where = store_sources(client)
    if all(w.containers and not w.mixed for w in where.values()):
        try:
            client._msc_layout = (now, where)
        except AttributeError:  # a client class with slots: look it up each time
            pass
    return where


def _join_tables(raw_runs: list, linked_runs: list, *, use_copies: bool = True):
    """The campaign table of raw runs and their linked analysis runs (or None each).

    With ``use_copies``, tables kept in the analysis runs' metadata
    (:func:`~.stored_tables.cached_tables`) are used where they match the stored runs;
    every other table is read from the store, concurrently.
    """

    from .stored_tables import cached_tables

    raw_tables: list[Any] = [None] * len(raw_runs)
    fit_tables: list[Any] = [None] * len(raw_runs)
    if use_copies:
        for i, (run, linked) in enumerate(zip(raw_runs, linked_runs, strict=True)):
            if linked is not None:
                raw_tables[i], fit_tables[i] = cached_tables(run, linked)
    to_read = [(raw_tables, i, run) for i, run in enumerate(raw_runs) if raw_tables[i] is None]
    to_read += [
        (fit_tables, i, linked)
        for i, linked in enumerate(linked_runs)
        if linked is not None and fit_tables[i] is None
    ]
    for (tables, i, _), table in zip(to_read, _scalar_tables([r for *_, r in to_read]),
                                     strict=True):
        tables[i] = table
    joined = _join_at_once(raw_runs, raw_tables, linked_runs, fit_tables)
    if joined is None:
        joined = _join_per_run(raw_runs, raw_tables, linked_runs, fit_tables)
    return joined


def _one_kind(values) -> bool:
    """Whether the values are all int, all str or all None (pandas then infers alike)."""
    kinds = {int if type(v) is int else str if isinstance(v, str) else v for v in values}
    return len(kinds) == 1 and kinds <= {int, str, None}


def _repeat(values: list, counts: list[int]) -> list:
    """Each value ``count`` times, in order."""
    return [value for value, count in zip(values, counts, strict=True) for _ in range(count)]


#: Columns campaign_table puts before a raw run's scalar data.
_RUN_COLUMNS = ("raw_uid", "scan_id", "plan_name")


def _join_per_run(raw_runs: list, raw_tables: list, linked_runs: list, fit_tables: list):
    """The campaign table, one merge per raw run (any mix of columns)."""
    import pandas as pd

    frames = []
    for run, table, linked, fits in zip(raw_runs, raw_tables, linked_runs, fit_tables,
                                        strict=True):
        start = run.metadata["start"]
        if table.empty:
            continue
        table.insert(0, "plan_name", start.get("plan_name"))
        table.insert(0, "scan_id", start.get("scan_id"))
        table.insert(0, "raw_uid", start["uid"])
        if linked is not None:
            fits = fits.drop(columns=["seq_num", "time"], errors="ignore")
            fits.insert(0, "analysis_uid", linked.metadata["start"]["uid"])
            if "raw_seq_num" in fits.columns:
                table = table.merge(
                    fits,
                    how="left",
                    left_on="seq_num",
                    right_on="raw_seq_num",
                    suffixes=("", "_analysis"),
                ).drop(columns=["raw_seq_num"])
        frames.append(table)
    if not frames:
        return pd.DataFrame(columns=["raw_uid", "scan_id", "plan_name", "seq_num", "time"])
    return pd.concat(frames, ignore_index=True)


def _join_at_once(raw_runs: list, raw_tables: list, linked_runs: list, fit_tables: list):
    """:func:`_join_per_run`'s table in a few pandas operations, or None.

    Applies to the usual campaign: every raw run with events has a linked analysis run,
    all raw tables have the same columns, all analysis tables too (with
    ``raw_seq_num``), and ``scan_id`` and ``plan_name`` are each of one kind (all
    integers, all text or all missing).
    The per-run join costs ~10 ms of pandas per run, which dominates a campaign table
    built from copies.
    """
    import pandas as pd

    rows = [(run.metadata["start"], table, linked, fits)
            for run, table, linked, fits in zip(raw_runs, raw_tables, linked_runs, fit_tables,
                                                strict=True)
            if not table.empty]  # fmt: skip
    if not rows or any(linked is None for _, _, linked, _ in rows):
        return None
    raw_columns, fit_columns = list(rows[0][1].columns), list(rows[0][3].columns)
    if (
        "raw_seq_num" not in fit_columns
        or "seq_num" not in raw_columns
        or "analysis_uid" in fit_columns
        or set(_RUN_COLUMNS) & set(raw_columns)
        or any(list(t.columns) != raw_columns or list(f.columns) != fit_columns
               for _, t, _, f in rows)
        or not all(_one_kind(s.get(key) for s, *_ in rows) for key in ("scan_id", "plan_name"))
    ):
        return None
    raw = pd.concat([t for _, t, _, _ in rows], ignore_index=True)
    fits = pd.concat([f for *_, f in rows], ignore_index=True)
    fits = fits.drop(columns=["seq_num", "time"], errors="ignore")
    raw_counts = [len(t) for _, t, _, _ in rows]
    fit_counts = [len(f) for *_, f in rows]
    for name, key in reversed(list(zip(_RUN_COLUMNS, ("uid", "scan_id", "plan_name"),
                                       strict=True))):
        raw.insert(0, name, _repeat([s.get(key) for s, *_ in rows], raw_counts))
    uids = [linked.metadata["start"]["uid"] for _, _, linked, _ in rows]
    fits.insert(0, "analysis_uid", _repeat(uids, fit_counts))
    fits.insert(0, "raw_uid", _repeat([s["uid"] for s, *_ in rows], fit_counts))
    return raw.merge(
        fits,
        how="left",
        left_on=["raw_uid", "seq_num"],
        right_on=["raw_uid", "raw_seq_num"],
        suffixes=("", "_analysis"),
    ).drop(columns=["raw_seq_num"])
