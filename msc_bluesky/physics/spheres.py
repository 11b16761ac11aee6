"""Homogeneous-sphere small-angle scattering.

``P(q) = [3 (sin qR − qR cos qR) / (qR)^3]^2`` and
``I(q) = Σ φ_i V_i P(q, R_i) Δρ^2 + background``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

#: Scattering-length-density contrast of CdSe in octadecene at ~12.5 keV, in nm^-2
#: (33e-6 Å^-2 = 33e-4 nm^-2).
CDSE_CONTRAST_NM2 = 33e-4


def sphere_amplitude(q_per_nm: ArrayLike, radius_nm: ArrayLike) -> np.ndarray:
    """Normalised sphere amplitude ``3 (sin x − x cos x) / x^3`` with ``x = qR``.

    Broadcasts ``q`` against ``radius``; the limit 1 is used for small ``x``.
    """
    x = np.asarray(q_per_nm, dtype=float) * np.asarray(radius_nm, dtype=float)
    out = np.ones_like(x)
    big = x > 1e-3
    xb = x[big]
    out[big] = 3.0 * (np.sin(xb) - xb * np.cos(xb)) / xb**3
    small = ~big
    out[small] = 1.0 - x[small] ** 2 / 10.0
    return out


def sphere_form_factor(q_per_nm: ArrayLike, radius_nm: ArrayLike) -> np.ndarray:
    """Normalised sphere form factor ``P(q, R)``; ``P(0) = 1``."""
    return sphere_amplitude(q_per_nm, radius_nm) ** 2


def sphere_volume_nm3(radius_nm: ArrayLike) -> np.ndarray | float:
    """Sphere volume ``4/3 π R^3`` in nm^3."""
    v = 4.0 / 3.0 * np.pi * np.asarray(radius_nm, dtype=float) ** 3
    return float(v) if np.ndim(v) == 0 else v


def sphere_intensity_cm(
    q_per_nm: ArrayLike,
    radius_nm: float,
    volume_fraction: float,
    contrast_nm2: float = CDSE_CONTRAST_NM2,
) -> np.ndarray:
    """Absolute intensity (cm^-1) of dilute monodisperse spheres.

    ``I(q) = φ V Δρ^2 P(q)``; with V in nm^3 and Δρ in nm^-2 the product is in nm^-1,
    converted to cm^-1 by 1e7.
    """
    v = sphere_volume_nm3(radius_nm)
    return volume_fraction * v * contrast_nm2**2 * sphere_form_factor(q_per_nm, radius_nm) * 1e7
