"""Fit one raw event: spectrum, size distribution, mesophase and phase, never raising."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from msc_bluesky.analysis import phase as phase_rule
from msc_bluesky.callbacks import result_fields as rf
from msc_bluesky.callbacks.settings import AnalysisSettings

logger = logging.getLogger(__name__)

#: ``phase`` of a point with neither a usable spectrum nor a usable SAXS fit.
PHASE_UNKNOWN = phase_rule.UNKNOWN


@dataclass
class RawPoint:
    """What one raw event gives the analysis (arrays None when the part is absent)."""

    seq_num: int
    t_nuc: float = math.nan
    t_growth: float = math.nan
    reaction_time: float = math.nan
    wavelength_nm: np.ndarray | None = None
    absorbance: np.ndarray | None = None
    path_length_cm: float = 0.1
    q_per_nm: np.ndarray | None = None
    intensity: np.ndarray | None = None
    intensity_sigma: np.ndarray | None = None

    @property
    def has_spectrum(self) -> bool:
        """True when both the absorbance and its wavelength axis are known."""
        return self.absorbance is not None and self.wavelength_nm is not None

    @property
    def has_saxs(self) -> bool:
        """True when both I(q) and its q axis are known."""
        return self.intensity is not None and self.q_per_nm is not None


@dataclass
class PointResult:
    """The analysis of one raw event: fit objects, the event row and the raw arrays.

    ``row`` holds exactly the keys of the analysis event (see ``result_fields``) except
    that its size-distribution arrays are not yet padded to the run's common length.
    """

    raw_uid: str
    point: RawPoint
    row: dict[str, Any]
    spectrum_fit: Any = None
    size_distribution: Any = None
    mesophase: Any = None
    errors: list[str] = field(default_factory=list)

    @property
    def fit_ok(self) -> bool:
        """True when every part that was present was fitted."""
        return not self.errors


def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def analyse_point(raw_uid: str, point: RawPoint, settings: AnalysisSettings) -> PointResult:
    """Fit what ``point`` holds; failures are logged and recorded, never raised.

    Parameters
    ----------
    raw_uid : str
        The raw run's start uid (for messages and listeners).
    point : RawPoint
        Spectrum and/or SAXS curve of one raw event.
    settings : AnalysisSettings
        Fitting functions and their options.

    Returns
    -------
    PointResult
        With ``row`` holding every scalar field of the contract and the
        size-distribution arrays (empty lists when absent or failed).
    """
    row: dict[str, Any] = {
        "raw_seq_num": int(point.seq_num),
        "t_nuc": _float_or_nan(point.t_nuc),
        "t_growth": _float_or_nan(point.t_growth),
        "reaction_time": _float_or_nan(point.reaction_time),
    }
    result = PointResult(raw_uid=raw_uid, point=point, row=row)

    row.update(rf.blank(rf.SPECTRUM_FIELDS))
    spectrum_phase = None
    if point.has_spectrum:
        try:
            fit = settings.function("fit_spectrum")(
                point.wavelength_nm,
                point.absorbance,
                path_length_cm=point.path_length_cm,
                **dict(settings.spectrum_options),
            )
            row.update(rf.pick(rf.SPECTRUM_FIELDS, fit.to_dict()))
            result.spectrum_fit = fit
            spectrum_phase = str(settings.function("classify")(fit))
        except Exception as exc:  # any fit failure is data, not a crash
            _fail(result, "spectrum", exc)

    row.update(rf.blank(rf.SAXS_FIELDS))
    row.update(rf.blank(rf.MESOPHASE_FIELDS))
    for key in rf.SAXS_ARRAY_FIELDS:
        row[key] = []
    if point.has_saxs:
        sigma = point.intensity_sigma
        if sigma is None:
            sigma = settings.fallback_relative_sigma * np.abs(point.intensity)
        try:
            dist = settings.function("fit_size_distribution")(
                point.q_per_nm, point.intensity, sigma, **dict(settings.saxs_options)
            )
            values = dist.to_dict()
            row.update(rf.pick(rf.SAXS_FIELDS, values))
            for key in rf.SAXS_ARRAY_FIELDS:
                row[key] = rf.as_list(values.get(key, []))
            result.size_distribution = dist
        except Exception as exc:
            _fail(result, "saxs", exc)
        try:
            meso = settings.function("find_mesophase")(point.q_per_nm, point.intensity)
            row.update(rf.pick(rf.MESOPHASE_FIELDS, meso.to_dict()))
            result.mesophase = meso
        except Exception as exc:
            _fail(result, "mesophase", exc)

    # One rule for every caller (analysis.phase): the spectrum decides when it shows
    # something, else a SAXS fit that describes its curve.
    row["phase"], row["phase_source"] = phase_rule.decide(
        spectrum=spectrum_phase, sizes=result.size_distribution
    )
    row["fit_ok"] = result.fit_ok
    row["fit_error"] = "; ".join(result.errors)
    return result


def _fail(result: PointResult, part: str, exc: Exception) -> None:
    message = f"{part}: {_describe(exc)}"
    result.errors.append(message)
    logger.warning(
        "analysis of raw run %s event %s failed (%s)",
        result.raw_uid,
        result.point.seq_num,
        message,
        exc_info=logger.isEnabledFor(logging.DEBUG),
    )
