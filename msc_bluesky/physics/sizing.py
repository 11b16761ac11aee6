"""CdSe sizing relations: Yu et al., Chem. Mater. 2003, 15, 2854.

The Yu curve is fitted for roughly 2–8 nm nanocrystals; below that it is an
extrapolation, used (as in Palencia et al. 2020) to size magic-size clusters. It is
monotonic from 300 nm up, so it can be inverted there.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

#: Nominal first-absorption maxima (nm) of the magic-size-cluster families.
MSC_FAMILIES_NM: tuple[int, ...] = (350, 380, 403, 437, 467)

#: Name of the extinction model used for every concentration.
EXTINCTION_MODEL = "Yu2003: eps = 5857 d^2.65 M^-1 cm^-1 at the first exciton"

AVOGADRO = 6.02214076e23
CDSE_DENSITY_G_CM3 = 5.82
CDSE_MOLAR_MASS_G_MOL = 191.37

_YU = (1.6122e-9, -2.6575e-6, 1.6242e-3, -0.4277, 41.57)
_YU_VALID_NM = (300.0, 720.0)


def yu_diameter_nm(wavelength_nm: ArrayLike) -> np.ndarray | float:
    """Diameter (nm) from the first-exciton wavelength (nm), Yu et al. 2003.

    ``d = 1.6122e-9 λ^4 - 2.6575e-6 λ^3 + 1.6242e-3 λ^2 - 0.4277 λ + 41.57``
    """
    lam = np.asarray(wavelength_nm, dtype=float)
    d = np.polyval(_YU, lam)
    return float(d) if d.ndim == 0 else d


def yu_wavelength_nm(diameter_nm: float) -> float:
    """First-exciton wavelength (nm) for a diameter (nm): the inverse Yu curve.

    Raises
    ------
    ValueError
        If the diameter lies outside what the curve covers between 300 and 720 nm.
    """
    lo, hi = _YU_VALID_NM
    d_lo, d_hi = yu_diameter_nm(lo), yu_diameter_nm(hi)
    if not d_lo <= diameter_nm <= d_hi:
        raise ValueError(
            f"diameter {diameter_nm:.3g} nm is outside the sizing curve's range "
            f"{d_lo:.3g}–{d_hi:.3g} nm"
        )
    from scipy.optimize import brentq  # here: importing this module stays light (start-up)

    return float(brentq(lambda lam: yu_diameter_nm(lam) - diameter_nm, lo, hi, xtol=1e-6))


def extinction_coefficient(diameter_nm: ArrayLike) -> np.ndarray | float:
    """Molar extinction coefficient at the first exciton, ``ε = 5857 d^2.65`` (M^-1 cm^-1)."""
    d = np.asarray(diameter_nm, dtype=float)
    eps = 5857.0 * d**2.65
    return float(eps) if eps.ndim == 0 else eps


def units_per_particle(diameter_nm: ArrayLike) -> np.ndarray | float:
    """Number of CdSe formula units in a bulk-density sphere of the given diameter (nm)."""
    d_cm = np.asarray(diameter_nm, dtype=float) * 1e-7
    volume_cm3 = np.pi / 6.0 * d_cm**3
    n = volume_cm3 * CDSE_DENSITY_G_CM3 / CDSE_MOLAR_MASS_G_MOL * AVOGADRO
    return float(n) if np.ndim(n) == 0 else n


def diameter_from_units(units: ArrayLike) -> np.ndarray | float:
    """Diameter (nm) of a bulk-density CdSe sphere holding ``units`` formula units."""
    n = np.asarray(units, dtype=float)
    volume_cm3 = n * CDSE_MOLAR_MASS_G_MOL / (CDSE_DENSITY_G_CM3 * AVOGADRO)
    d = (6.0 * volume_cm3 / np.pi) ** (1.0 / 3.0) * 1e7
    return float(d) if np.ndim(d) == 0 else d


def particle_concentration_molar(
    absorbance: float, diameter_nm: float, path_length_cm: float
) -> float:
    """Beer–Lambert particle concentration ``c = A / (ε l)`` in mol/L."""
    return float(absorbance) / (extinction_coefficient(diameter_nm) * float(path_length_cm))
