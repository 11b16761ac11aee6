"""Store synthetic records in tiled as real raw + linked analysis runs (report tests).

The documents follow docs/architecture.md: a raw run with the reactor readbacks and
setpoints, ``uvvis_absorbance`` / ``saxs_intensity`` in the primary stream and the axes in
the device configuration; a linked ``msc_analysis`` run with ``raw_uid`` and one event per
raw event keyed by ``raw_seq_num``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from event_model import compose_run

from msc_bluesky.storage.report import ConditionRecord


def _key(value, source: str) -> dict:
    arr = np.asarray(value)
    if arr.dtype.kind in "US":
        return {"source": source, "dtype": "string", "shape": []}
    if arr.dtype.kind == "b":
        return {"source": source, "dtype": "boolean", "shape": []}
    if arr.ndim:
        return {"source": source, "dtype": "array", "shape": list(arr.shape), "dtype_numpy": "<f8"}
    return {"source": source, "dtype": "number", "shape": []}


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_raw_run(
    writer,
    plan_name: str,
    records: Sequence[ConditionRecord],
    *,
    md: dict | None = None,
    analysis: bool = True,
) -> str:
    """Write one raw run (one event per record) and, if asked, its analysis run.

    Returns the raw run's start uid.
    """
    conditions = [
        {"t_nuc": r.t_nuc, "t_growth": r.t_growth, "reaction_time": r.reaction_time}
        for r in records
    ]
    raw = compose_run(
        metadata={
            "plan_name": plan_name,
            "conditions": conditions,
            "num_points": len(records),
            **(md or {}),
        }
    )
    writer("start", raw.start_doc)
    first = records[0]
    data_keys = {
        "reactor_t_nuc": _key(0.0, "PV:reactor:nuc:readback"),
        "reactor_t_growth": _key(0.0, "PV:reactor:growth:readback"),
        "reactor_reaction_time": _key(0.0, "PV:reactor:reaction_time"),
        "reactor_t_nuc_setpoint": _key(0.0, "PV:reactor:nuc:setpoint"),
        "reactor_t_growth_setpoint": _key(0.0, "PV:reactor:growth:setpoint"),
        "reactor_reaction_time_setpoint": _key(0.0, "SIM:reaction_time_setpoint"),
    }
    configuration = {}
    object_keys = {"reactor": list(data_keys)}
    now = time.time()
    if first.has_spectrum:
        data_keys["uvvis_absorbance"] = _key(first.absorbance, "PV:uvvis:absorbance")
        object_keys["uvvis"] = ["uvvis_absorbance"]
        configuration["uvvis"] = {
            "data": {"uvvis_wavelength": first.wavelength_nm.tolist(), "uvvis_path_length": 0.1},
            "timestamps": {"uvvis_wavelength": now, "uvvis_path_length": now},
            "data_keys": {
                "uvvis_wavelength": _key(first.wavelength_nm, "PV:uvvis:wavelength"),
                "uvvis_path_length": _key(0.1, "PV:uvvis:path_length"),
            },
        }
    if first.has_saxs:
        for k in ("saxs_intensity", "saxs_intensity_sigma"):
            data_keys[k] = _key(first.intensity, f"PV:saxs:{k}")
        object_keys["saxs"] = ["saxs_intensity", "saxs_intensity_sigma"]
        configuration["saxs"] = {
            "data": {"saxs_q": first.q_per_nm.tolist()},
            "timestamps": {"saxs_q": now},
            "data_keys": {"saxs_q": _key(first.q_per_nm, "PV:saxs:q")},
        }
    desc = raw.compose_descriptor(
        name="primary", data_keys=data_keys, configuration=configuration, object_keys=object_keys
    )
    writer("descriptor", desc.descriptor_doc)
    rng = np.random.default_rng(0)
    for r in records:
        data = {
            "reactor_t_nuc": r.t_nuc + rng.uniform(-0.4, 0.4),
            "reactor_t_growth": r.t_growth + rng.uniform(-0.4, 0.4),
            "reactor_reaction_time": r.reaction_time * (1 + rng.uniform(-0.01, 0.01)),
            "reactor_t_nuc_setpoint": r.t_nuc,
            "reactor_t_growth_setpoint": r.t_growth,
            "reactor_reaction_time_setpoint": r.reaction_time,
        }
        if first.has_spectrum:
            data["uvvis_absorbance"] = r.absorbance.tolist()
        if first.has_saxs:
            data["saxs_intensity"] = r.intensity.tolist()
            data["saxs_intensity_sigma"] = r.intensity_sigma.tolist()
        writer("event", desc.compose_event(data=data, timestamps={k: now for k in data}))
    writer("stop", raw.compose_stop())
    if analysis:
        write_analysis_run(writer, raw.start_doc, records)
    return raw.start_doc["uid"]


def write_analysis_run(writer, raw_start: dict, records: Sequence[ConditionRecord]) -> str:
    """Write the linked ``msc_analysis`` run of a raw run; returns its uid."""
    run = compose_run(
        metadata={
            "plan_name": "msc_analysis",
            "raw_uid": raw_start["uid"],
            "raw_plan_name": raw_start["plan_name"],
            "conditions": raw_start["conditions"],
            "analysis_version": "test",
            "analysis_settings": {},
        }
    )
    writer("start", run.start_doc)
    keys = sorted({k for r in records for k in r.analysis} - {"t_nuc", "t_growth", "reaction_time"})
    rows = []
    for seq, r in enumerate(records, start=1):
        row = {
            "raw_seq_num": seq,
            "t_nuc": r.t_nuc,
            "t_growth": r.t_growth,
            "reaction_time": r.reaction_time,
            "fit_ok": True,
            "fit_error": "",
        }
        for k in keys:
            row[k] = _jsonable(r.analysis.get(k, np.nan))
        rows.append(row)
    data_keys = {k: _key(v, "analysis") for k, v in rows[0].items()}
    desc = run.compose_descriptor(name="primary", data_keys=data_keys)
    writer("descriptor", desc.descriptor_doc)
    now = time.time()
    for row in rows:
        writer("event", desc.compose_event(data=row, timestamps={k: now for k in row}))
    writer("stop", run.compose_stop())
    return run.start_doc["uid"]
