"""Phase of a sample — which species are present — from its spectrum fit, SAXS fit or both.

The one place that decides a phase. The live analysis, the campaign summary and the
report all call it (on fit objects or on the stored flat fields):

- a fitted spectrum that shows MSC bands or an NC exciton decides
  (UV-Vis resolves individual MSC families and is the more sensitive probe);
- otherwise a SAXS size distribution decides, if its fit describes the curve
  (``fit_ok``; a fit that does not never decides a phase);
- otherwise a spectrum that shows nothing gives ``"none"``; with neither, ``"unknown"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from msc_bluesky.analysis.results import SpectrumFit

Phase = Literal["MSC", "MSC+NC", "NC", "none"]

#: Every value :func:`classify` can return.
PHASES: tuple[Phase, ...] = ("MSC", "MSC+NC", "NC", "none")

#: What :func:`phase_of` returns when no usable fit is given.
UNKNOWN = "unknown"

#: Largest SAXS radius (nm) counted as a magic-size cluster: CdSe-467, the largest
#: family, has d = 2.06 nm; SAXS sees MSC radii up to about 1.02 nm.
MSC_MAX_RADIUS_NM = 1.1

#: A SAXS population counts when it holds at least this fraction of the total volume.
MIN_POPULATION_SHARE = 0.05

#: Number of ``saxs_pop{i}_*`` populations in the flat fields.
_FLAT_POPULATIONS = 3


def _from_flags(has_msc: bool, has_nc: bool) -> Phase:
    if has_msc and has_nc:
        return "MSC+NC"
    if has_msc:
        return "MSC"
    if has_nc:
        return "NC"
    return "none"


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
    return phase_of(spectrum=spectrum_fit)  # type: ignore[return-value]


def classify_sizes(radii_nm: Sequence[float], volume_fractions: Sequence[float]) -> Phase:
    """Classify SAXS populations as ``"MSC"``, ``"MSC+NC"``, ``"NC"`` or ``"none"``.

    Populations with mean radius up to :data:`MSC_MAX_RADIUS_NM` are clusters, larger
    ones nanocrystals; populations below :data:`MIN_POPULATION_SHARE` of the total
    volume, or with non-finite values, are ignored. UV-Vis resolves individual MSC
    families; SAXS only sizes.

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
    return _from_flags(
        any(r <= MSC_MAX_RADIUS_NM for r, _ in pops), any(r > MSC_MAX_RADIUS_NM for r, _ in pops)
    )


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _spectrum_phase(spectrum: Any) -> Phase | None:
    """Phase of a spectrum fit (object with ``.msc``/``.nc``, or flat ``to_dict`` fields)."""
    if spectrum is None:
        return None
    if isinstance(spectrum, str):
        return spectrum if spectrum in PHASES else None  # type: ignore[return-value]
    if isinstance(spectrum, SpectrumFit):
        return _from_flags(any(b.detected for b in spectrum.msc.values()), spectrum.nc is not None)
    fields = spectrum if isinstance(spectrum, Mapping) else spectrum.to_dict()
    has_msc = any(
        bool(v) for k, v in fields.items() if k.startswith("msc") and k.endswith("_detected")
    )
    return _from_flags(has_msc, bool(fields.get("nc_detected")))


def _sizes_phase(sizes: Any) -> Phase | None:
    """Phase of a size distribution, or None when its fit may not decide (not fit_ok)."""
    if sizes is None:
        return None
    if isinstance(sizes, Mapping):
        fields: Mapping[str, Any] = sizes
        fit_ok = fields.get("saxs_fit_ok", True)
    else:
        fit_ok = getattr(sizes, "fit_ok", True)
        pops = getattr(sizes, "populations", None)
        if pops is not None:
            if not fit_ok:
                return None
            return classify_sizes([p.radius_nm for p in pops], [p.volume_fraction for p in pops])
        fields = sizes.to_dict()
    if not fit_ok:
        return None
    radii, shares = [], []
    for i in range(1, _FLAT_POPULATIONS + 1):
        r = _finite(fields.get(f"saxs_pop{i}_radius_nm"))
        v = _finite(fields.get(f"saxs_pop{i}_volume_fraction"))
        if r is not None and v is not None:
            radii.append(r)
            shares.append(v)
    if not radii and _finite(fields.get("saxs_total_volume_fraction")) is None:
        return None  # no SAXS measured
    return classify_sizes(radii, shares)


def decide(spectrum: Any = None, sizes: Any = None) -> tuple[str, str]:
    """The phase and which measurement decided it.

    Parameters
    ----------
    spectrum : SpectrumFit, object with ``to_dict()``, mapping, str or None
        The spectrum fit, its flat ``msc{F}_detected`` / ``nc_detected`` fields, or
        the phase already classified from it (one of :data:`PHASES`; anything else
        counts as no spectrum); None when no spectrum was measured or its fit failed.
    sizes : SizeDistribution, object with ``to_dict()``, mapping or None
        The SAXS size distribution (``.populations`` and, when present, ``.fit_ok``),
        or its flat ``saxs_pop{i}_*`` fields (and ``saxs_fit_ok`` if stored); None
        when no SAXS curve was measured or its fit failed.

    Returns
    -------
    (str, str)
        ``(phase, source)``: phase one of :data:`PHASES` or ``"unknown"``; source
        ``"uvvis"``, ``"saxs"`` or ``""`` (unknown).
    """
    from_spectrum = _spectrum_phase(spectrum)
    if from_spectrum not in (None, "none"):
        return str(from_spectrum), "uvvis"
    from_sizes = _sizes_phase(sizes)
    if from_sizes is not None and (from_sizes != "none" or from_spectrum is None):
        return str(from_sizes), "saxs"
    if from_spectrum is not None:
        return str(from_spectrum), "uvvis"
    return UNKNOWN, ""


def phase_of(spectrum: Any = None, sizes: Any = None) -> str:
    """The phase of a sample from its spectrum fit, its SAXS fit or both.

    ``"MSC"``, ``"MSC+NC"``, ``"NC"``, ``"none"``, or ``"unknown"`` when neither fit
    can tell (see :func:`decide` for the arguments and the module docstring for the
    rule).
    """
    return decide(spectrum, sizes)[0]
