"""msc_bluesky.sim: pure numpy/scipy physics of the simulated reactor (issue 2).

See docs/architecture.md for the contract and docs/simulator.md for the model.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> submodule. Imported on first use, so that ``msc_bluesky.sim.geometry``
#: (the campaign checks its steps against it) does not import scipy's integrators.
_WHERE = {
    "Composition": "composition",
    "Population": "composition",
    "ReactorGeometry": "geometry",
    "KineticParameters": "kinetics",
    "simulate_kinetics": "kinetics",
    "Measurement": "measurement",
    "default_q_per_nm": "measurement",
    "default_wavelength_nm": "measurement",
    "simulate": "measurement",
    "absorbance_spectrum": "optics",
    "add_spectrum_noise": "optics",
    "ReactorWorld": "reactor",
    "mesophase_intensity": "scattering",
    "saxs_counting_noise": "scattering",
    "saxs_curve": "scattering",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


__all__ = [
    "Composition",
    "KineticParameters",
    "Measurement",
    "Population",
    "ReactorGeometry",
    "ReactorWorld",
    "absorbance_spectrum",
    "add_spectrum_noise",
    "default_q_per_nm",
    "default_wavelength_nm",
    "mesophase_intensity",
    "saxs_counting_noise",
    "saxs_curve",
    "simulate",
    "simulate_kinetics",
]
