"""The fixed fields of an analysis event (docs/architecture.md "Analysis results").

Every event of a linked analysis run carries the same keys, whatever happened to the
fit, so that one event descriptor fits every event. The fit results' keys and kinds come
from the result classes (``SpectrumFit.fields()`` …); this module adds the event's own
fields, fills the ones a fit did not produce, and builds the descriptor's ``data_keys``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from msc_bluesky.analysis.results import Mesophase, SizeDistribution, SpectrumFit
from msc_bluesky.physics.sizing import MSC_FAMILIES_NM

#: MSC families named by their absorption peak in nm (same order as the contract).
MSC_FAMILIES: tuple[int, ...] = tuple(MSC_FAMILIES_NM)

#: Scalar kinds: "bool", "int", "float", "str".
BASE_FIELDS: dict[str, str] = {
    "raw_seq_num": "int",
    "t_nuc": "float",
    "t_growth": "float",
    "reaction_time": "float",
    "phase": "str",
    "phase_source": "str",
    "fit_ok": "bool",
    "fit_error": "str",
}

# The fit results' fields come from the result classes themselves (one list each).
SPECTRUM_FIELDS: dict[str, str] = SpectrumFit.fields()
SAXS_FIELDS: dict[str, str] = SizeDistribution.fields()
#: Arrays of the size distribution; their length is fixed by the fit's radius grid.
SAXS_ARRAY_FIELDS: tuple[str, ...] = SizeDistribution.array_fields()
MESOPHASE_FIELDS: dict[str, str] = Mesophase.fields()

SCALAR_FIELDS: dict[str, str] = {
    **BASE_FIELDS,
    **SPECTRUM_FIELDS,
    **SAXS_FIELDS,
    **MESOPHASE_FIELDS,
}

_DTYPES = {"bool": "boolean", "int": "integer", "float": "number", "str": "string"}
_NUMPY = {"bool": "|b1", "int": "<i8", "float": "<f8"}


def coerce(kind: str, value: Any) -> bool | int | float | str:
    """Convert ``value`` to the plain Python type of ``kind``; None/NaN become the blank.

    Parameters
    ----------
    kind : {"bool", "int", "float", "str"}
    value : Any
        A value from a result's ``to_dict()`` (numpy scalars allowed).
    """
    missing = value is None or (isinstance(value, float | np.floating) and math.isnan(value))
    if kind == "float":
        return math.nan if value is None else float(value)
    if kind == "bool":
        return False if missing else bool(value)
    if kind == "int":
        return 0 if missing else int(value)
    if kind == "str":
        return "" if value is None else str(value)
    raise ValueError(f"unknown field kind {kind!r}; allowed: bool, int, float, str")


def blank(fields: Mapping[str, str]) -> dict[str, Any]:
    """The values a part that was absent or failed contributes: NaN, False, 0 or ""."""
    return {key: coerce(kind, None) for key, kind in fields.items()}


def pick(fields: Mapping[str, str], values: Mapping[str, Any]) -> dict[str, Any]:
    """Take the contract keys of ``fields`` from ``values``, coerced; missing keys blank."""
    return {key: coerce(kind, values.get(key)) for key, kind in fields.items()}


def as_list(values: Any) -> list[float]:
    """A 1-D float array as a plain list (what events and JSON carry)."""
    return np.asarray(values, dtype=float).ravel().tolist()


def fit_length(values: list[float], length: int) -> list[float]:
    """Pad with NaN or cut ``values`` to ``length`` so every event has the same shape."""
    return (values + [math.nan] * length)[:length]


def data_keys(array_length: int, source: str = "msc_analysis") -> dict[str, dict]:
    """Event descriptor ``data_keys`` for an analysis event.

    Parameters
    ----------
    array_length : int
        Length of the size-distribution arrays (the fit's radius grid).
    source : str
        The ``source`` recorded for every key.
    """
    keys: dict[str, dict] = {}
    for key, kind in SCALAR_FIELDS.items():
        keys[key] = {"source": source, "dtype": _DTYPES[kind], "shape": []}
        if kind in _NUMPY:  # strings: let the consumer infer a width
            keys[key]["dtype_numpy"] = _NUMPY[kind]
    for key in SAXS_ARRAY_FIELDS:
        keys[key] = {
            "source": source,
            "dtype": "array",
            "dtype_numpy": "<f8",
            "shape": [array_length],
        }
    for key, unit in _UNITS.items():
        if key in keys:
            keys[key]["units"] = unit
    return keys


_UNITS: dict[str, str] = {
    "t_nuc": "degC",
    "t_growth": "degC",
    "reaction_time": "s",
    "nc_peak_nm": "nm",
    "nc_peak_nm_sigma": "nm",
    "nc_diameter_nm_sigma": "nm",
    "nc_concentration_molar_sigma": "mol/L",
    "nc_fwhm_nm": "nm",
    "nc_diameter_nm": "nm",
    "nc_extinction_coefficient": "1/(M cm)",
    "nc_concentration_molar": "mol/L",
    "saxs_background": "1/cm",
    "saxs_radius_nm": "nm",
    "mesophase_q1_per_nm": "1/nm",
    "mesophase_q2_per_nm": "1/nm",
    "mesophase_d_spacing_nm": "nm",
    **{f"msc{f}_concentration_molar": "mol/L" for f in MSC_FAMILIES},
    **{f"msc{f}_centre_nm": "nm" for f in MSC_FAMILIES},
    **{f"saxs_pop{i}_radius_nm": "nm" for i in (1, 2, 3)},
    **{f"saxs_pop{i}_width_nm": "nm" for i in (1, 2, 3)},
}
