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

from msc_bluesky.analysis import phase, saxs, sizing, spectral_noise, uvvis
from msc_bluesky.analysis.results import (
    Mesophase,
    MscBand,
    NcPeak,
    Population,
    SizeDistribution,
    SpectrumFit,
)

__all__ = [
    "Mesophase",
    "MscBand",
    "NcPeak",
    "Population",
    "SizeDistribution",
    "SpectrumFit",
    "phase",
    "saxs",
    "sizing",
    "spectral_noise",
    "uvvis",
]
