"""Settings of the live analysis: which data keys to read and which functions fit them."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Default fitting functions, as "module:attribute" (imported on first use).
DEFAULT_FUNCTIONS: dict[str, str] = {
    "fit_spectrum": "msc_bluesky.analysis.uvvis:fit_spectrum",
    "fit_size_distribution": "msc_bluesky.analysis.saxs:fit_size_distribution",
    "find_mesophase": "msc_bluesky.analysis.saxs:find_mesophase",
    "classify": "msc_bluesky.analysis.phase:classify",
}


@dataclass(frozen=True)
class AnalysisSettings:
    """What the live analysis reads and how it fits.

    Data-key defaults follow docs/architecture.md "Devices and event data keys".
    Axes (``wavelength_key``, ``q_key``) and ``path_length_key`` are looked up in the
    event data first, then in the descriptor's configuration of any device.

    Parameters
    ----------
    stream_name : str
        The raw stream analysed; other streams (dark, reference, baseline) are noted only.
    absorbance_key, wavelength_key, path_length_key : str
        UV-Vis spectrum (absorbance), its axis (nm) and optical path (cm).
    intensity_key, sigma_key, q_key : str
        SAXS curve I(q) (cm^-1), its uncertainty and q axis (nm^-1).
    t_nuc_key, t_growth_key, reaction_time_key : str
        Readbacks copied into each analysis event as ``t_nuc``, ``t_growth``,
        ``reaction_time``.
    default_path_length_cm : float
        Used when no path length is recorded.
    fallback_relative_sigma : float
        Relative uncertainty assumed for I(q) when the raw run has no ``sigma_key``.
    fit_spectrum, fit_size_distribution, find_mesophase, classify : callable, str or None
        Fitting functions; None means the ones of :mod:`msc_bluesky.analysis`
        (``DEFAULT_FUNCTIONS``). Pass your own, or its ``"module:attribute"`` path (the
        form ``to_dict`` records), to change or test the fitting.
    spectrum_options, saxs_options : dict
        Extra keyword arguments for ``fit_spectrum`` / ``fit_size_distribution``.
    """

    stream_name: str = "primary"
    absorbance_key: str = "uvvis_absorbance"
    wavelength_key: str = "uvvis_wavelength"
    path_length_key: str = "uvvis_path_length"
    intensity_key: str = "saxs_intensity"
    sigma_key: str = "saxs_intensity_sigma"
    q_key: str = "saxs_q"
    t_nuc_key: str = "reactor_t_nuc"
    t_growth_key: str = "reactor_t_growth"
    reaction_time_key: str = "reactor_reaction_time"
    default_path_length_cm: float = 0.1
    fallback_relative_sigma: float = 0.05
    fit_spectrum: Callable[..., Any] | str | None = None
    fit_size_distribution: Callable[..., Any] | str | None = None
    find_mesophase: Callable[..., Any] | str | None = None
    classify: Callable[..., str] | str | None = None
    spectrum_options: Mapping[str, Any] = field(default_factory=dict)
    saxs_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in DEFAULT_FUNCTIONS:
            value = getattr(self, name)
            if isinstance(value, str):
                if value.count(":") != 1 or value.startswith(":") or value.endswith(":"):
                    raise ValueError(
                        f"{name}={value!r}: a function path must look like "
                        "'package.module:function'"
                    )
            elif value is not None and not callable(value):
                raise TypeError(f"{name} must be callable, a 'module:function' path or None")
        for f in dataclasses.fields(self):
            if f.name.endswith("_key") or f.name == "stream_name":
                if not isinstance(getattr(self, f.name), str) or not getattr(self, f.name):
                    raise TypeError(f"{f.name} must be a non-empty string")

    @classmethod
    def coerce(cls, settings: AnalysisSettings | Mapping[str, Any] | None) -> AnalysisSettings:
        """Accept None (defaults), an ``AnalysisSettings`` or a mapping of overrides.

        Raises
        ------
        TypeError
            For an unknown setting name (the message lists the allowed ones) or a value
            of the wrong kind.
        """
        if settings is None:
            return cls()
        if isinstance(settings, cls):
            return settings
        if isinstance(settings, Mapping):
            allowed = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(settings) - allowed)
            if unknown:
                raise TypeError(
                    f"unknown analysis setting(s) {unknown}; allowed: {sorted(allowed)}"
                )
            return cls(**settings)
        raise TypeError(
            f"settings must be None, AnalysisSettings or a dict, not {type(settings).__name__}"
        )

    def function(self, name: str) -> Callable[..., Any]:
        """The fitting function ``name`` (one of ``DEFAULT_FUNCTIONS``), importing the default.

        Raises
        ------
        ImportError
            If the default analysis module is not available.
        """
        if name not in DEFAULT_FUNCTIONS:
            raise ValueError(f"unknown function {name!r}; allowed: {sorted(DEFAULT_FUNCTIONS)}")
        func = getattr(self, name)
        if func is None:
            func = DEFAULT_FUNCTIONS[name]
        if callable(func):
            return func
        return import_function(func)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description, stored as ``analysis_settings`` in the analysis run."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in DEFAULT_FUNCTIONS:
                if value is None:
                    value = DEFAULT_FUNCTIONS[f.name]
                out[f.name] = value if isinstance(value, str) else _qualname(value)
            elif isinstance(value, Mapping):
                out[f.name] = {str(k): _jsonable(v) for k, v in value.items()}
            else:
                out[f.name] = value
        return out


def import_function(path: str) -> Callable[..., Any]:
    """Import ``"package.module:attribute"`` (nested attributes allowed after the colon).

    Raises
    ------
    ValueError
        If ``path`` has no colon.
    ImportError, AttributeError
        If the module or attribute does not exist.
    """
    module, sep, attribute = path.partition(":")
    if not sep or not module or not attribute:
        raise ValueError(f"function path {path!r} must look like 'package.module:function'")
    obj: Any = importlib.import_module(module)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{path!r} is not callable")
    return obj


def _qualname(func: Callable[..., Any]) -> str:
    module = getattr(func, "__module__", None) or "?"
    name = getattr(func, "__qualname__", None) or type(func).__qualname__
    return f"{module}:{name}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return repr(value)
