"""Monomer-driven kinetics of CdSe MSCs and NCs in the two-zone flow reactor.

The model of docs/science.md ("The model"). Concentrations in mM: precursor P and
monomer M of CdSe units, clusters and NCs of particles::

    P -> M                          kp [P]
    2M... -> (CdSe)13 nucleus       kn [M]^2        chamber only; a fraction f(T_nuc)
                                                    of the nuclei is closed-shell
    nucleus + M -> 403              k403 [350][M]   open and closed shell
    403 + M -> 437                  k437 [403][M]   open and closed shell
    437 + M -> 467                  k465 [437][M]   open shell only
    467 + M -> NC                   kNC  [467][M]   NCs are born at the 467 size
    NC growth                       kg [M] N^(2/3) units per NC and s
    open cluster F -> N_F M         kr [F]          ripening (closed shells do not)

The chamber (:mod:`msc_bluesky.sim.chamber`) sets the starting state (the mixing
burst) and the closed-shell fraction; the same equations then run for the chamber time
at T_nuc and for the oven time at T_growth, without nucleation in the oven.

Every NC grows at the same mean radial speed, so the NC size distribution is carried by
its radius moments (number, Σr, Σr², Σr³): NCs are born at the 467-family radius and the
spread comes from their birth times; diffusion-like size focusing (``dr/dt = g r̄ / r``,
linearised about the mean) shrinks the variance as they grow.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import odeint

from msc_bluesky.limits import check_reaction_time, check_temperature
from msc_bluesky.sim.chamber import (
    INDEX,
    burst_fraction,
    burst_landing,
    closed_shell_fraction,
    initial_state,
)
from msc_bluesky.sim.composition import (
    FAMILY_UNITS,
    UNITS_PER_NM3,
    Composition,
    nc_radius_from_units,
)
from msc_bluesky.sim.geometry import ReactorGeometry
from msc_bluesky.sim.parameters import KineticParameters

__all__ = [
    "Composition",
    "KineticParameters",
    "burst_fraction",
    "burst_landing",
    "closed_shell_fraction",
    "composition_of",
    "simulate_kinetics",
]


def _rhs_factory(params: KineticParameters, temperature_c: float, closed_fraction: float | None):
    """Right-hand side at ``temperature_c``; nucleation only when ``closed_fraction`` is set."""
    kp, kn, k403, k437, k465, knc, kg, kr = (
        params.rate(n, temperature_c)
        for n in ("precursor", "nucleation", "403", "437", "465", "nc", "growth", "ripening")
    )
    if closed_fraction is None:
        kn, f_closed = 0.0, 0.0
    else:
        f_closed = closed_fraction
    a = UNITS_PER_NM3 * 4.0 / 3.0 * math.pi  # units per nm^3 of r^3
    a23 = a ** (2.0 / 3.0)
    g_per_m = kg * a ** (-1.0 / 3.0) / 3.0  # dr/dt per mM of monomer
    r0 = nc_radius_from_units(FAMILY_UNITS[467])
    n350, n403, n437, n467 = (FAMILY_UNITS[f] for f in (350, 403, 437, 467))

    def rhs(y, _t):
        p, m, o350, o403, o437, o467, c350, c403, _c437, n0, m1, m2, _m3 = y
        m = max(m, 0.0)
        rp = kp * p
        rn = kn * m * m
        ro403, rc403 = k403 * o350 * m, k403 * c350 * m
        ro437, rc437 = k437 * o403 * m, k437 * c403 * m
        r465 = k465 * o437 * m
        rnc = knc * o467 * m
        g = g_per_m * m
        # Size focusing: dr/dt = g r̄/r linearised about the mean relaxes the variance.
        focus = 2.0 * g * (m2 - m1 * m1 / n0) * n0 / m1 if m1 > 1e-30 else 0.0
        ripened = kr * (n350 * o350 + n403 * o403 + n437 * o437 + n467 * o467)
        dm = (
            rp
            - n350 * rn
            - (n403 - n350) * (ro403 + rc403)
            - (n437 - n403) * (ro437 + rc437)
            - (n467 - n437) * r465
            - kg * m * a23 * m2
            + ripened
        )
        return (
            -rp,
            dm,
            (1.0 - f_closed) * rn - ro403 - kr * o350,
            ro403 - ro437 - kr * o403,
            ro437 - r465 - kr * o437,
            r465 - rnc - kr * o467,
            f_closed * rn - rc403,
            rc403 - rc437,
            rc437,
            rnc,
            g * n0 + rnc * r0,
            2.0 * g * m1 + rnc * r0 * r0 - focus,
            3.0 * g * m2 + rnc * r0**3,
        )

    return rhs


def _integrate(params, temperature_c, y0, duration, closed_fraction=None):
    if duration <= 0:
        return np.asarray(y0, dtype=float)
    out = odeint(
        _rhs_factory(params, temperature_c, closed_fraction),
        y0,
        (0.0, duration),
        rtol=1e-6,
        atol=1e-10,
        mxstep=5000,
    )
    return out[-1]


def simulate_kinetics(
    t_nuc: float,
    t_growth: float,
    reaction_time: float,
    *,
    geometry: ReactorGeometry | None = None,
    params: KineticParameters | None = None,
) -> Composition:
    """What leaves the reactor after ``reaction_time`` s at ``t_nuc`` then ``t_growth``.

    Parameters
    ----------
    t_nuc, t_growth : float
        Nucleation chamber and growth oven temperatures (°C), 20–360.
    reaction_time : float
        Residence time in chamber plus oven (s), finite and > 0; split between the
        zones by :meth:`ReactorGeometry.split`.
    geometry : ReactorGeometry, optional
        Reactor volumes (default: architecture defaults).
    params : KineticParameters, optional
        The model's parameters (default: the documented set, docs/science.md).

    Returns
    -------
    Composition
        Amounts of precursor, monomer, MSC families (open and closed shell summed: they
        absorb and scatter alike) and the NC population.

    Raises
    ------
    msc_bluesky.limits.ConditionError
        For temperatures outside 20–360 °C or a non-positive / non-finite time.
    """
    t_nuc = check_temperature("t_nuc", t_nuc)
    t_growth = check_temperature("t_growth", t_growth)
    geometry = geometry or ReactorGeometry()
    params = params or KineticParameters()
    t_chamber, t_oven = geometry.split(check_reaction_time(reaction_time))
    y = initial_state(params, t_nuc, t_growth)
    y = _integrate(params, t_nuc, y, t_chamber, closed_shell_fraction(params, t_nuc))
    y = _integrate(params, t_growth, y, t_oven)
    return composition_of(y, params)


def composition_of(y, params: KineticParameters) -> Composition:
    """The :class:`Composition` of a final state vector (order of ``chamber.STATE``)."""
    y = np.maximum(y, 0.0)
    msc = dict.fromkeys((350, 380, 403, 437, 467), 0.0)
    for fam in (350, 403, 437):
        msc[fam] = float(y[INDEX[f"o{fam}"]] + y[INDEX[f"c{fam}"]]) * FAMILY_UNITS[fam]
    msc[467] = float(y[INDEX["o467"]]) * FAMILY_UNITS[467]
    return Composition(
        precursor_mM=float(y[INDEX["P"]]),
        monomer_mM=float(y[INDEX["M"]]),
        msc_units_mM=msc,
        nc_moments=tuple(float(v) for v in y[INDEX["n0"]:]),
        initial_precursor_mM=params.precursor_mM,
    )
