"""Phase of a sample: which species are present, from its spectrum or SAXS fit."""

from __future__ import annotations

import math
from collections.abc import Sequence
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


#: Largest SAXS radius (nm) counted as a magic-size cluster: CdSe-467, the largest
#: family, has d = 2.06 nm; SAXS sees MSC radii up to about 1.02 nm.
MSC_MAX_RADIUS_NM = 1.1

#: A SAXS population counts when it holds at least this fraction of the total volume.
MIN_POPULATION_SHARE = 0.05


def classify_sizes(radii_nm: Sequence[float], volume_fractions: Sequence[float]) -> Phase:
    """Classify SAXS populations as ``"MSC"``, ``"MSC+NC"``, ``"NC"`` or ``"none"``.

    For conditions measured by SAXS alone. Populations with mean radius up to
    :data:`MSC_MAX_RADIUS_NM` are clusters, larger ones nanocrystals; populations
    below :data:`MIN_POPULATION_SHARE` of the total volume, or with non-finite values,
    are ignored. UV-Vis resolves individual MSC families; SAXS only sizes.

    Parameters
    ----------
    radii_nm, volume_fractions : sequence of float
        Mean radius and volume fraction of each population (e.g. the
        ``saxs_pop{i}_*`` fields of a size distribution).
    """
    pops = [
        (float(r), float(v))
        for r, v in zip(radii_nm, volume_fractions, strict=True)
        if math.isfinite(r) and math.isfinite(v) and v > 0
    ]
    total = sum(v for _, v in pops)
    pops = [(r, v) for r, v in pops if total > 0 and v >= MIN_POPULATION_SHARE * total]
    has_msc = any(r <= MSC_MAX_RADIUS_NM for r, _ in pops)
    has_nc = any(r > MSC_MAX_RADIUS_NM for r, _ in pops)
    if has_msc and has_nc:
        return "MSC+NC"
    if has_msc:
        return "MSC"
    if has_nc:
        return "NC"
    return "none"
