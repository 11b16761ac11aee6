"""The fit as a bluesky run, stored next to the data it came from.

:func:`fit_run_documents` composes, with :func:`event_model.compose_run`, the documents
of one run (``plan_name`` :data:`FIT_PLAN_NAME`) whose start document names the
campaign, the raw and analysis runs used, the settings and the result summary, so a fit
can be found (``Key("start.plan_name") == "msc_kinetic_fit"``, ``start.campaign_id``)
and reproduced. Streams (no ``primary``, so the fit is never read as measured data):

- ``parameters``: one event per model parameter: ``name``, ``value``, ``stderr``,
  ``start``, ``held``, ``identifiable``;
- ``residuals``: one event per condition: ``t_nuc``, ``t_growth``, ``reaction_time``,
  ``raw_uid``, ``chi2`` and ``measured_<field>``, ``model_<field>``, ``sigma_<field>``;
- ``windows``: one event per reaction time: ``reaction_time``, ``low_c``, ``high_c``.

Feed the documents to any bluesky callback (e.g. the project's tiled writer).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

from event_model import compose_run

from msc_bluesky.modelling.fit import WINDOW_REACTION_TIMES_S, KineticFit
from msc_bluesky.modelling.observables import DETECTION_ABSORBANCE, OBSERVABLE_NAMES

#: ``plan_name`` of stored kinetic fits.
FIT_PLAN_NAME = "msc_kinetic_fit"


def _key(kind: str) -> dict[str, Any]:
    dtype = {"str": "string", "bool": "boolean", "num": "number"}[kind]
    return {"source": "msc_bluesky.modelling", "dtype": dtype, "shape": []}


def _num(v: Any) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return math.nan
    return v


def _stream(run, name: str, rows: list[dict[str, Any]], kinds: dict[str, str]):
    if not rows:
        return []
    bundle = run.compose_descriptor(name=name, data_keys={k: _key(v) for k, v in kinds.items()})
    now = time.time()
    docs = [("descriptor", bundle.descriptor_doc)]
    for row in rows:
        docs.append(("event", bundle.compose_event(data=row, timestamps={k: now for k in row})))
    return docs


def fit_run_documents(
    fit: KineticFit,
    *,
    campaign_id: str | None = None,
    window_times: Iterable[float] = WINDOW_REACTION_TIMES_S,
    md: Mapping[str, Any] | None = None,
) -> list[tuple[str, dict]]:
    """The (name, document) pairs of one run recording ``fit``.

    Parameters
    ----------
    fit : KineticFit
    campaign_id : str, optional
        The campaign the data came from (``start["campaign_id"]``).
    window_times : iterable of float
        Reaction times of the ``windows`` stream.
    md : mapping, optional
        Extra start metadata.

    Returns
    -------
    list of (str, dict)
        start, descriptors and events of the three streams, stop.
    """
    import msc_bluesky

    window_times = [float(t) for t in window_times]
    summary = fit.to_dict(window_times)
    summary.pop("correlation", None)
    summary.pop("raw_uids", None)
    # Start-document keys may not contain dots: windows as a list.
    windows_c = summary.pop("msc437_window_c")
    summary["msc437_windows"] = [
        {"reaction_time": float(t), "window_c": w} for t, w in windows_c.items()
    ]
    metadata = {
        "plan_name": FIT_PLAN_NAME,
        "campaign_id": campaign_id,
        "raw_uids": list(fit.raw_uids),
        "analysis_uids": list(fit.analysis_uids),
        "modelling_version": msc_bluesky.__version__,
        "fit_settings": {
            "free": list(fit.free),
            "held": {n: fit.parameters[n].value for n in fit.held},
            "start": {n: fit.parameters[n].start for n in fit.free},
            "path_length_cm": fit.path_length_cm,
            "reactor_geometry": fit.geometry.to_dict(),
            "detection_absorbance": DETECTION_ABSORBANCE,
        },
        "kinetic_parameters": dict(fit.values),
        "fit": summary,
        **(md or {}),
    }
    run = compose_run(metadata=metadata)
    docs: list[tuple[str, dict]] = [("start", run.start_doc)]

    params = [
        {
            "name": p.name,
            "value": p.value,
            "stderr": _num(p.stderr),
            "start": p.start,
            "held": p.held,
            "identifiable": p.identifiable,
        }
        for p in fit.parameters.values()
    ]
    docs += _stream(
        run, "parameters", params,
        {"name": "str", "value": "num", "stderr": "num", "start": "num", "held": "bool",
         "identifiable": "bool"},
    )

    residual_rows = []
    for r in fit.residuals:
        row: dict[str, Any] = {
            "t_nuc": r.t_nuc,
            "t_growth": r.t_growth,
            "reaction_time": r.reaction_time,
            "raw_uid": r.raw_uid or "",
            "chi2": r.chi2,
        }
        for n in OBSERVABLE_NAMES:
            row[f"measured_{n}"] = _num(r.measured.get(n))
            row[f"model_{n}"] = _num(r.model.get(n))
            row[f"sigma_{n}"] = _num(r.sigma.get(n))
        residual_rows.append(row)
    first = residual_rows[0] if residual_rows else {}
    kinds = {k: ("str" if k == "raw_uid" else "num") for k in first}
    docs += _stream(run, "residuals", residual_rows, kinds)

    windows = []
    for t in window_times:
        w = windows_c.get(f"{t:.1f}")
        low, high = w if w else (math.nan, math.nan)
        windows.append({"reaction_time": t, "low_c": low, "high_c": high})
    docs += _stream(run, "windows", windows, {"reaction_time": "num", "low_c": "num",
                                              "high_c": "num"})
    reason = "; ".join([fit.message, *fit.warnings])
    docs.append(("stop", run.compose_stop(exit_status="success", reason=reason)))
    return docs
