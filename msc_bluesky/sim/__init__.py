"""msc_bluesky.sim: pure numpy/scipy physics of the simulated reactor (issue 2).

See docs/architecture.md for the contract and docs/simulator.md for the model.
"""

from msc_bluesky.sim.composition import Composition, Population
from msc_bluesky.sim.geometry import ReactorGeometry
from msc_bluesky.sim.kinetics import KineticParameters, simulate_kinetics
from msc_bluesky.sim.measurement import (
    Measurement,
    default_q_per_nm,
    default_wavelength_nm,
    simulate,
)
from msc_bluesky.sim.optics import absorbance_spectrum, add_spectrum_noise
from msc_bluesky.sim.reactor import ReactorWorld
from msc_bluesky.sim.scattering import mesophase_intensity, saxs_counting_noise, saxs_curve

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
