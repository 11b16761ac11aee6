"""CdSe sizing: the documented ``sizing`` API of the analysis.

This module re-exports the published relations of :mod:`msc_bluesky.physics.sizing`
(one implementation shared with the simulator, because they are facts about CdSe):

- :func:`yu_diameter_nm` — diameter (nm) from the first-exciton wavelength (nm), Yu et
  al. 2003: ``d = 1.6122e-9 λ^4 − 2.6575e-6 λ^3 + 1.6242e-3 λ^2 − 0.4277 λ + 41.57``;
- :func:`yu_wavelength_nm` — its inverse (300–720 nm);
- :func:`extinction_coefficient` — ``ε = 5857 d^2.65`` M^-1 cm^-1 at the first exciton;
- :func:`units_per_particle` — CdSe formula units (aggregation number) in a bulk-density
  sphere (5.82 g/cm³, 191.37 g/mol); :func:`diameter_from_units` is its inverse;
- :func:`particle_concentration_molar` — Beer–Lambert ``c = A / (ε l)``;
- :data:`MSC_FAMILIES_NM` and :data:`EXTINCTION_MODEL`.

Below about 2 nm the Yu curve is an extrapolation (the paper uses it for its MSC table);
MSC extinction coefficients differ by up to ~20× between models, which is why the
analysis reports MSC amounts as band absorbance first.
"""

from __future__ import annotations

from msc_bluesky.physics.sizing import (
    EXTINCTION_MODEL,
    MSC_FAMILIES_NM,
    diameter_from_units,
    extinction_coefficient,
    particle_concentration_molar,
    units_per_particle,
    yu_diameter_nm,
    yu_wavelength_nm,
)

#: Alias: the aggregation number is the number of CdSe units per particle.
aggregation_number = units_per_particle

__all__ = [
    "EXTINCTION_MODEL",
    "MSC_FAMILIES_NM",
    "aggregation_number",
    "diameter_from_units",
    "extinction_coefficient",
    "particle_concentration_molar",
    "units_per_particle",
    "yu_diameter_nm",
    "yu_wavelength_nm",
]
