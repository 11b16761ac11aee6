"""Report records collected from the documents as a session produces them.

:func:`~.loader.load_records` reads every run back from tiled (hundreds of requests);
a campaign that has just produced the runs already holds the same documents.
:class:`LiveRecords` is a document callback for both the raw runs (subscribe it to the
RunEngine) and the analysis runs (:meth:`msc_bluesky.callbacks.LiveAnalysis.add_output`)
and gives the same :class:`~.records.ConditionRecord` list as the loader would: the
same keys (:data:`msc_bluesky.storage.browse.EVENT_ARRAYS`), the same choice of
condition (setpoint, else readback, else the planned condition) and the newest analysis
run per raw run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .loader import ANALYSIS_PLAN, CAMPAIGN_KEY, _plain
from .records import ConditionRecord

_CONDITIONS = {
    "t_nuc": ("reactor_t_nuc_setpoint", "reactor_t_nuc"),
    "t_growth": ("reactor_t_growth_setpoint", "reactor_t_growth"),
    "reaction_time": ("reactor_reaction_time_setpoint", "reactor_reaction_time"),
}


def _array(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    array = np.asarray(value, dtype=float)
    return array if array.size else None


class LiveRecords:
    """Document callback collecting :class:`ConditionRecord` of raw and analysis runs.

    Parameters
    ----------
    campaign : str, optional
        Only raw runs whose start has ``campaign_id == campaign``.
    """

    def __init__(self, campaign: str | None = None) -> None:
        self.campaign = campaign
        self._raw: dict[str, dict] = {}  # start uid -> start
        self._primary: dict[str, tuple[str, dict]] = {}  # descriptor -> (raw uid, axes)
        self._events: dict[str, list[dict]] = {}  # raw uid -> events
        self._analysis: dict[str, tuple[str, float]] = {}  # analysis uid -> (raw, time)
        self._analysis_desc: dict[str, str] = {}  # descriptor uid -> analysis uid
        self._rows: dict[str, dict[int, dict]] = {}  # analysis uid -> raw seq -> row

    def __call__(self, name: str, doc: dict) -> None:
        """Take one document of a raw or analysis run."""
        handler = getattr(self, f"_{name}", None)
        if handler is not None:
            handler(doc)

    def _start(self, doc: dict) -> None:
        if doc.get("plan_name") == ANALYSIS_PLAN:
            self._analysis[doc["uid"]] = (str(doc.get("raw_uid", "")), float(doc["time"]))
            self._rows[doc["uid"]] = {}
        elif self.campaign is None or doc.get(CAMPAIGN_KEY) == self.campaign:
            self._raw[doc["uid"]] = doc
            self._events[doc["uid"]] = []

    def _descriptor(self, doc: dict) -> None:
        run = doc.get("run_start")
        if doc.get("name", "primary") != "primary":
            return
        if run in self._raw:
            axes = {}
            for device in (doc.get("configuration") or {}).values():
                data = device.get("data") or {}
                for axis, key in (("wavelength_nm", "uvvis_wavelength"), ("q_per_nm", "saxs_q")):
                    if key in data:
                        axes[axis] = _array(data[key])
            self._primary[doc["uid"]] = (run, axes)
        elif run in self._analysis:
            self._analysis_desc[doc["uid"]] = run

    def _event(self, doc: dict) -> None:
        descriptor = doc.get("descriptor")
        if descriptor in self._primary:
            run, axes = self._primary[descriptor]
            self._events[run].append({"doc": doc, "axes": axes})
        elif descriptor in self._analysis_desc:
            data = doc["data"]
            row = {k: _plain(np.asarray(v)) if isinstance(v, list) else _plain(v)
                   for k, v in data.items()}
            row.setdefault("seq_num", doc["seq_num"])
            row.setdefault("time", doc["time"])
            seq = int(data.get("raw_seq_num", doc["seq_num"]))
            self._rows[self._analysis_desc[descriptor]][seq] = row

    def _event_page(self, doc: dict) -> None:
        from event_model import unpack_event_page

        for event in unpack_event_page(doc):
            self._event(event)

    def records(self) -> list[ConditionRecord]:
        """One record per raw event so far, oldest run first, joined with its analysis."""
        newest: dict[str, tuple[float, str]] = {}
        for uid, (raw, t) in self._analysis.items():
            if raw not in newest or t >= newest[raw][0]:
                newest[raw] = (t, uid)
        out: list[ConditionRecord] = []
        for uid, start in sorted(self._raw.items(), key=lambda kv: kv[1].get("time", 0.0)):
            rows = self._rows.get(newest[uid][1], {}) if uid in newest else {}
            planned = start.get("conditions") if isinstance(start.get("conditions"), list) else []
            for i, item in enumerate(self._events.get(uid, [])):
                out.append(self._record(start, item["doc"], item["axes"], planned, i, rows))
        return out

    @staticmethod
    def _record(start: Mapping, event: dict, axes: dict, planned: list, i: int,
                rows: Mapping[int, dict]) -> ConditionRecord:
        data = event["data"]
        row = rows.get(int(event["seq_num"]), {})
        cond = {}
        for name, keys in _CONDITIONS.items():
            value = math.nan
            for key in keys:
                if key in data and math.isfinite(float(data[key])):
                    value = float(data[key])
                    break
            else:
                if i < len(planned) and isinstance(planned[i], Mapping) and name in planned[i]:
                    value = float(planned[i][name])
                else:
                    try:
                        value = float(row.get(name, math.nan))
                    except (TypeError, ValueError):
                        value = math.nan
            cond[name] = value
        wavelength = axes.get("wavelength_nm") if "uvvis_absorbance" in data else None
        q = axes.get("q_per_nm") if "saxs_intensity" in data else None
        return ConditionRecord(
            **cond,
            wavelength_nm=wavelength,
            absorbance=_array(data.get("uvvis_absorbance")) if wavelength is not None else None,
            q_per_nm=q,
            intensity=_array(data.get("saxs_intensity")) if q is not None else None,
            intensity_sigma=_array(data.get("saxs_intensity_sigma")) if q is not None else None,
            analysis=row,
            plan_name=str(start.get("plan_name", "")),
            raw_uid=str(start["uid"]),
            seq_num=int(event["seq_num"]),
            time=float(event["time"]),
        )
