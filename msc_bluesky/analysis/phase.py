"""Phase of a sample from its spectrum fit: which species are present."""

from __future__ import annotations

from typing import Literal

from msc_bluesky.analysis.results import SpectrumFit

Phase = Literal["MSC", "MSC+NC", "NC", "none"]

#: Every value :func:`classify` can return.
PHASES: tuple[Phase, ...] = ("MSC", "MSC+NC", "NC", "none")


def classify(spectrum_fit: SpectrumFit) -> Phase:
    """Classify a fitted spectrum as ``"MSC"``, ``"MSC+NC"``, ``"NC"`` or ``"none"``.

    Parameters
    ----------
    spectrum_fit : SpectrumFit
        Result of :func:`msc_bluesky.analysis.uvvis.fit_spectrum`.

    Returns
    -------
    str
        ``"MSC"`` when at least one MSC family is detected and there is no NC peak,
        ``"MSC+NC"`` when both are present, ``"NC"`` for an NC peak alone, ``"none"``
        otherwise.
    """
    if not isinstance(spectrum_fit, SpectrumFit):
        raise ValueError(
            "classify needs a SpectrumFit from uvvis.fit_spectrum, got "
            f"{type(spectrum_fit).__name__}"
        )
    has_msc = any(band.detected for band in spectrum_fit.msc.values())
    has_nc = spectrum_fit.nc is not None
    if has_msc and has_nc:
        return "MSC+NC"
    if has_msc:
        return "MSC"
    if has_nc:
        return "NC"
    return "none"
