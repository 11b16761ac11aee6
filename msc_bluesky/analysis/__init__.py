"""Pure numpy/scipy analysis of UV-Vis spectra and SAXS curves (issue 5).

Modules (see docs/analysis.md):

- :mod:`~msc_bluesky.analysis.uvvis` — ``fit_spectrum``: MSC family bands and NC exciton;
- :mod:`~msc_bluesky.analysis.saxs` — ``fit_size_distribution`` and ``find_mesophase``;
- :mod:`~msc_bluesky.analysis.phase` — ``phase_of`` / ``decide``: the phase ("MSC",
  "MSC+NC", "NC", "none" or "unknown") from a spectrum fit, a SAXS fit or both;
- :mod:`~msc_bluesky.analysis.spectral_noise` — a spectrum's noise ``σ(A) = a + b·10^A``
  estimated from the spectrum itself;
- :mod:`~msc_bluesky.analysis.sizing` — Yu sizing curve, extinction, aggregation number;
- :mod:`~msc_bluesky.analysis.results` — result types with flat ``to_dict()``.

Works on curves from any instrument; never imports the simulator.
"""

import importlib
from typing import Any

#: Names this package exports -> the module defining them. Imported on first access,
#: so ``msc_bluesky.analysis.results`` (the live analysis, the campaign's start-up) does
#: not pay for scipy's fitting and signal modules until a curve is fitted.
_LAZY: dict[str, str] = {
    "Mesophase": "msc_bluesky.analysis.results",
    "MscBand": "msc_bluesky.analysis.results",
    "NcPeak": "msc_bluesky.analysis.results",
    "Population": "msc_bluesky.analysis.results",
    "SizeDistribution": "msc_bluesky.analysis.results",
    "SpectrumFit": "msc_bluesky.analysis.results",
    "phase": "msc_bluesky.analysis.phase",
    "saxs": "msc_bluesky.analysis.saxs",
    "sizing": "msc_bluesky.analysis.sizing",
    "spectral_noise": "msc_bluesky.analysis.spectral_noise",
    "uvvis": "msc_bluesky.analysis.uvvis",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
