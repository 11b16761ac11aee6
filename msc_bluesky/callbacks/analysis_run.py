"""Live analysis: fit each raw event and emit the results as a linked analysis run.

``LiveAnalysis(emit, settings)`` is a document callback for the raw runs (subscribe it to
the RunEngine or to a 0MQ ``RemoteDispatcher``). For every raw run with spectra or SAXS
curves in its primary stream it emits, through ``emit(name, doc)``, a second run (see
docs/architecture.md "Linked analysis runs"). Nothing raised by a fit, by ``emit`` or by
a listener ever propagates back to the caller.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
from event_model import DocumentRouter, RunRouter, compose_run

from msc_bluesky.callbacks import result_fields as rf
from msc_bluesky.callbacks.point_analysis import PointResult, RawPoint, analyse_point
from msc_bluesky.callbacks.settings import DEFAULT_FUNCTIONS, AnalysisSettings

logger = logging.getLogger(__name__)

#: ``plan_name`` of the analysis runs this module emits.
ANALYSIS_PLAN_NAME = "msc_analysis"
#: ``plan_name`` of 0MQ probe documents (see ``zmq_consumer``); never analysed.
PROBE_PLAN_NAME = "msc_probe"

#: Fields a plot of the analysis stream shows by default.
HINTED_FIELDS: tuple[str, ...] = ("nc_peak_nm", "nc_diameter_nm", "msc437_absorbance")

Emit = Callable[[str, dict], Any]
Listener = Callable[[PointResult], Any]


def _analysis_version() -> str:
    import msc_bluesky

    return msc_bluesky.__version__


class LiveAnalysis:
    """Document callback that turns raw runs into linked analysis runs.

    Parameters
    ----------
    emit : callable
        ``emit(name, doc)`` receives the analysis run's documents (start, descriptor,
        events, stop), e.g. a ``TiledWriter``. Exceptions it raises are logged and
        swallowed.
    settings : AnalysisSettings or dict, optional
        Data keys and fitting functions (see :class:`AnalysisSettings`).
    listeners : iterable of callable, optional
        Each is called with the :class:`PointResult` of every analysed event (live plot,
        live table). Exceptions they raise are logged and swallowed.

    Examples
    --------
    >>> live = LiveAnalysis(writer)          # doctest: +SKIP
    >>> RE.subscribe(live)                   # doctest: +SKIP
    """

    def __init__(
        self,
        emit: Emit,
        settings: AnalysisSettings | Mapping[str, Any] | None = None,
        *,
        listeners: Iterable[Listener] = (),
    ) -> None:
        if not callable(emit):
            raise TypeError(f"emit must be callable as emit(name, doc), not {emit!r}")
        self.settings = AnalysisSettings.coerce(settings)
        self._emit = emit
        self._outputs: list[Emit] = []
        self._listeners: list[Listener] = list(listeners)
        self._router = RunRouter([self._factory])
        #: raw start uid -> analysis start uid, for every analysis run started.
        self.analysis_uids: dict[str, str] = {}
        #: The most recent point analysed (None before the first).
        self.last_result: PointResult | None = None

    def prepare(self) -> LiveAnalysis:
        """Import the fitting functions now rather than at the first event (~2 s of scipy).

        Raises
        ------
        ImportError
            If a default analysis module is missing.
        """
        for name in DEFAULT_FUNCTIONS:
            self.settings.function(name)
        return self

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(point_result)`` after every analysed event."""
        self._listeners.append(listener)

    def __call__(self, name: str, doc: dict) -> None:
        """Consume one raw document; never raises."""
        try:
            self._router(name, doc)
        except Exception:
            logger.exception("live analysis could not process a %r document", name)

    def _factory(self, name: str, start: dict) -> tuple[list, list]:
        if start.get("plan_name") in (ANALYSIS_PLAN_NAME, PROBE_PLAN_NAME):
            return [], []
        return [_RunAnalysis(start, self)], []

    def add_output(self, emit: Emit) -> None:
        """Also send every analysis document to ``emit(name, doc)`` (after ``emit``)."""
        if not callable(emit):
            raise TypeError(f"emit must be callable as emit(name, doc), not {emit!r}")
        self._outputs.append(emit)

    def _safe_emit(self, name: str, doc: dict) -> None:
        for emit in (self._emit, *self._outputs):
            try:
                emit(name, doc)
            except Exception:
                logger.exception("analysis %r document was not accepted downstream", name)

    def _notify(self, result: PointResult) -> None:
        self.last_result = result
        for listener in list(self._listeners):
            try:
                listener(result)
            except Exception:
                logger.exception("live analysis listener %r failed", listener)


#: Raw start keys that describe the raw run's plan, not the experiment: not inherited.
NOT_INHERITED: frozenset[str] = frozenset(
    {"uid", "time", "plan_name", "plan_type", "plan_args", "plan_pattern",
     "plan_pattern_args", "plan_pattern_module", "hints", "detectors", "motors",
     "num_points", "num_intervals", "reactor", "versions", "condition_bounds"}
)


def inherited_metadata(raw_start: Mapping[str, Any]) -> dict[str, Any]:
    """The raw run's start keys an analysis (or fit) run carries too.

    Everything but the plan's own description (:data:`NOT_INHERITED`): ``scan_id``,
    campaign keys (``campaign_id``, ``campaign_step``), user and ``RE.md`` keys
    (``proposal``, ``sample``, ...), the conditions and their flat search keys
    (``t_nuc``, ``t_nuc_min``, ...), ``reactor_geometry``. So
    ``find_runs(kind="analysis", md={"campaign_id": ...})`` and ``Key("scan_id") == 7``
    find analysis runs as they find raw runs.

    Parameters
    ----------
    raw_start : mapping
        The raw run's start document.

    Returns
    -------
    dict
    """
    return {k: v for k, v in raw_start.items() if k not in NOT_INHERITED}


def _config_value(descriptor: dict, key: str) -> Any:
    """``key`` from any device's configuration in ``descriptor`` (None if absent)."""
    for config in (descriptor.get("configuration") or {}).values():
        data = (config or {}).get("data") or {}
        if key in data:
            return data[key]
    return None


def _array(value: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=float).ravel()


class _RunAnalysis(DocumentRouter):
    """Analysis of one raw run (made per run by ``LiveAnalysis``'s RunRouter)."""

    def __init__(self, raw_start: dict, owner: LiveAnalysis) -> None:
        super().__init__()
        self._raw_start = raw_start
        self._owner = owner
        self._settings = owner.settings
        self._descriptors: dict[str, dict] = {}
        self._ignored_streams: set[str] = set()
        self._bundle = None
        self._compose_event = None
        self._expects_saxs = False
        self._array_length: int | None = None
        self._pending: list[dict] = []
        self._failed_points = 0

    # -- raw documents -------------------------------------------------------------

    def start(self, doc: dict) -> None:
        self._raw_start = doc

    def descriptor(self, doc: dict) -> None:
        s = self._settings
        if doc.get("name") != s.stream_name:
            if doc.get("name") not in self._ignored_streams:
                logger.info("raw run %s: stream %r is not analysed", self._raw_uid, doc.get("name"))
            self._ignored_streams.add(doc.get("name"))
            return
        keys = doc.get("data_keys") or {}
        has_spectrum = s.absorbance_key in keys
        has_saxs = s.intensity_key in keys
        if not (has_spectrum or has_saxs):
            logger.info(
                "raw run %s: stream %r has neither %r nor %r; nothing to analyse",
                self._raw_uid,
                s.stream_name,
                s.absorbance_key,
                s.intensity_key,
            )
            return
        self._descriptors[doc["uid"]] = doc
        self._expects_saxs = self._expects_saxs or has_saxs
        if self._bundle is None:
            self._start_analysis_run()

    def event(self, doc: dict) -> None:
        descriptor = self._descriptors.get(doc.get("descriptor"))
        if descriptor is None:
            return
        try:
            point = self._raw_point(doc, descriptor)
            problem = ""
        except Exception as exc:  # malformed event: record the point as failed
            point = RawPoint(seq_num=int(doc.get("seq_num", 0)))
            problem = f"event: {type(exc).__name__}: {exc}"
            logger.warning("raw run %s: unreadable event (%s)", self._raw_uid, problem)
        result = analyse_point(self._raw_uid, point, self._settings)
        if problem:
            result.errors.insert(0, problem)
            result.row["fit_ok"] = False
            result.row["fit_error"] = "; ".join(result.errors)
        if not result.fit_ok:
            self._failed_points += 1
        self._queue_row(result.row)
        self._owner._notify(result)

    def stop(self, doc: dict) -> None:
        if self._bundle is None:
            return
        self._flush(final=True)
        stop = self._bundle.compose_stop(
            exit_status=doc.get("exit_status", "success"), reason=doc.get("reason", "")
        )
        stop["ignored_streams"] = sorted(str(n) for n in self._ignored_streams)
        stop["failed_points"] = self._failed_points
        self._owner._safe_emit("stop", stop)

    # -- helpers -------------------------------------------------------------------

    @property
    def _raw_uid(self) -> str:
        return str(self._raw_start.get("uid", "?"))

    def _start_analysis_run(self) -> None:
        raw = self._raw_start
        metadata = {
            **inherited_metadata(raw),
            "plan_name": ANALYSIS_PLAN_NAME,
            "raw_uid": self._raw_uid,
            "analysis_version": _analysis_version(),
            "analysis_settings": self._settings.to_dict(),
            "raw_plan_name": raw.get("plan_name", ""),
            "conditions": raw.get("conditions") or [],
            "hints": {"dimensions": [[["raw_seq_num"], "primary"]]},
        }
        if "scan_id" in raw:
            metadata["raw_scan_id"] = raw["scan_id"]
        self._bundle = compose_run(metadata=metadata)
        self._owner.analysis_uids[self._raw_uid] = self._bundle.start_doc["uid"]
        self._owner._safe_emit("start", self._bundle.start_doc)

    def _raw_point(self, event: dict, descriptor: dict) -> RawPoint:
        s = self._settings
        data = event.get("data") or {}

        def lookup(key: str) -> Any:
            return data[key] if key in data else _config_value(descriptor, key)

        path = lookup(s.path_length_key)
        path_cm = s.default_path_length_cm if path is None else float(path)
        return RawPoint(
            seq_num=int(event.get("seq_num", 0)),
            t_nuc=data.get(s.t_nuc_key, math.nan),
            t_growth=data.get(s.t_growth_key, math.nan),
            reaction_time=data.get(s.reaction_time_key, math.nan),
            wavelength_nm=_array(lookup(s.wavelength_key)),
            absorbance=_array(data.get(s.absorbance_key)),
            path_length_cm=path_cm,
            q_per_nm=_array(lookup(s.q_key)),
            intensity=_array(data.get(s.intensity_key)),
            intensity_sigma=_array(data.get(s.sigma_key)),
        )

    def _queue_row(self, row: dict) -> None:
        radii = row.get("saxs_radius_nm") or []
        if self._array_length is None and radii:
            self._array_length = len(radii)
        self._pending.append(row)
        self._flush(final=False)

    def _default_array_length(self) -> int:
        """Size-distribution length when no SAXS fit gave one: the fit's default grid.

        A run without SAXS curves (UV-Vis only), or whose SAXS fits all failed, still
        declares the arrays, NaN-filled, with the length a fit would give: the keys and
        shapes are those of every other analysis run, and nothing has zero length.
        """
        from msc_bluesky.analysis.results import DEFAULT_N_RADII

        try:
            length = int(self._settings.saxs_options.get("n_radii", DEFAULT_N_RADII))
        except (TypeError, ValueError):
            length = DEFAULT_N_RADII
        return length if length > 0 else DEFAULT_N_RADII

    def _flush(self, final: bool) -> None:
        """Emit queued rows once the size-distribution length is known (or at the end).

        The descriptor must declare one array length for every event; a run whose first
        SAXS fits fail waits for the first success to learn it.
        """
        if not self._pending:
            return
        if self._compose_event is None:
            if self._array_length is None and self._expects_saxs and not final:
                return
            length = self._array_length or self._default_array_length()
            self._array_length = length
            bundle = self._bundle.compose_descriptor(
                name="primary",
                data_keys=rf.data_keys(length),
                object_keys={ANALYSIS_PLAN_NAME: [*rf.SCALAR_FIELDS, *rf.SAXS_ARRAY_FIELDS]},
                hints={ANALYSIS_PLAN_NAME: {"fields": list(HINTED_FIELDS)}},
            )
            self._compose_event = bundle.compose_event
            self._owner._safe_emit("descriptor", bundle.descriptor_doc)
        while self._pending:
            row = dict(self._pending.pop(0))
            for key in rf.SAXS_ARRAY_FIELDS:
                values = row.get(key) or []
                if values and len(values) != self._array_length:
                    logger.warning(
                        "raw run %s: %s has %d values, expected %d; padded/cut",
                        self._raw_uid,
                        key,
                        len(values),
                        self._array_length,
                    )
                row[key] = rf.fit_length(list(values), self._array_length)
            now = time.time()
            event = self._compose_event(data=row, timestamps={key: now for key in row})
            self._owner._safe_emit("event", event)


def reprocess_documents(
    documents: Iterable[tuple[str, dict]],
    emit: Emit,
    settings: AnalysisSettings | Mapping[str, Any] | None = None,
    *,
    listeners: Iterable[Listener] = (),
) -> str | None:
    """Analyse a stored raw run's documents again and emit a new linked analysis run.

    Parameters
    ----------
    documents : iterable of (name, doc)
        One raw run's documents in order, e.g. ``BlueskyRun.documents()`` from tiled.
    emit : callable
        Receives the new analysis run's documents.
    settings : AnalysisSettings or dict, optional
        As for :class:`LiveAnalysis`.
    listeners : iterable of callable
        As for :class:`LiveAnalysis`.

    Returns
    -------
    str or None
        The new analysis run's start uid; None when the run had nothing to analyse.

    Raises
    ------
    ValueError
        If the documents are an analysis run themselves (give the raw run instead) or
        contain no start document.
    """
    live = LiveAnalysis(emit, settings, listeners=listeners)
    raw_uid = None
    for name, doc in documents:
        if name == "start":
            if doc.get("plan_name") == ANALYSIS_PLAN_NAME:
                raise ValueError(
                    f"run {doc.get('uid')} is an analysis run (of raw run "
                    f"{doc.get('raw_uid')}); reprocess the raw run instead"
                )
            raw_uid = doc["uid"]
        live(name, doc)
    if raw_uid is None:
        raise ValueError("no start document: not a bluesky run")
    return live.analysis_uids.get(raw_uid)
