"""Monomer-driven kinetics of CdSe MSCs and NCs in the two-zone flow reactor.

Scheme (SCIENCE.md, "The proposed mechanism" and "Modelling notes"), concentrations in
mM (MSCs and NC number in mM of particles, P and M in mM of CdSe units)::

    P -> M                       kp [P]
    2M... -> (CdSe)13 nucleus    kn [M]^2            (nuclei are the 350 nm family)
    nucleus + M -> 403           k403 [350][M]
    403 + M -> 437               k437 [403][M]
    437 + M -> 467               k465 [437][M]
    467 + M -> NC                kNC  [467][M]
    NC growth                    kg [M] N^(2/3) units per NC and s (dr/dt = g on average)
    MSC_F -> N_F M               (kd + kth(T)) [F]   (dissolution under depletion)

Nucleation is gated by the unconverted precursor, ``kn [M]^2 ([P]/P0)^q``: nuclei form
only while the precursor converts, so at mild temperature the MSCs made in the first
seconds grow on into NCs on the monomer left over. ``kth(T)`` is a thermal-stability
term that switches on (logistic) just above 300 °C and dissolves the MSCs there.

Every rate constant is Arrhenius, ``k(T) = k_ref exp(-Ea/R (1/T - 1/T_ref))``. Because a
growth rate in radius is the same on average for every NC, the NC size distribution is
carried by its radius moments (number, Σr, Σr², Σr³): NCs are born at the 467-family
radius and the spread comes from their birth times; diffusion-like size focusing
(``dr/dt = g r̄ / r``, linearised about the mean) shrinks the variance as they grow.

On mixing in the nucleation chamber, a **mixing burst** turns a temperature-dependent
fraction of precursor straight into clusters of the family the chamber temperature
selects (quantized: 403, 437, 467, then NC seeds of a size that grows with T_nuc). This
phenomenological term reproduces the 1.5 s SAXS series (Fig. 2). NC seeds are only
supercritical in an oven colder than the chamber, so they survive in full when
``T_nuc - T_growth >= burst_seed_survival_c`` and not at all when T_growth >= T_nuc.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.integrate import odeint

from msc_bluesky.limits import check_reaction_time, check_temperature
from msc_bluesky.sim.composition import (
    FAMILY_UNITS,
    UNITS_PER_NM3,
    Composition,
    nc_radius_from_units,
)
from msc_bluesky.sim.geometry import ReactorGeometry

__all__ = ["KineticParameters", "Composition", "simulate_kinetics"]

GAS_CONSTANT_KJ = 8.314462618e-3  # kJ mol^-1 K^-1
_CHAIN = (350, 403, 437, 467)


@dataclass(frozen=True)
class KineticParameters:
    """Arrhenius parameter set of the kinetic model (SCIENCE.md "Modelling notes").

    Each rate is given at ``reference_temperature_c`` with its activation energy.

    Attributes
    ----------
    reference_temperature_c : float
        Temperature (°C) at which the ``k_*`` values apply.
    precursor_mM : float
        Precursor concentration fed in, P0 (mM of CdSe units).
    k_precursor, ea_precursor : float
        Precursor -> monomer, first order (s^-1); activation energy (kJ/mol).
    k_nucleation, ea_nucleation : float
        Nucleation ``kn [M]^2`` giving (CdSe)13 nuclei (mM^-1 s^-1); kJ/mol.
    k_403, ea_403, k_437, ea_437, k_465, ea_465, k_nc, ea_nc : float
        Sequential monomer addition nucleus->403->437->467->NC, ``k [F][M]``
        (mM^-1 s^-1); kJ/mol.
    k_growth, ea_growth : float
        NC growth ``kg [M][NC] N^(2/3)`` (mM^-1 s^-1); kJ/mol.
    k_dissolution, ea_dissolution : float
        First-order dissolution of every MSC family back to monomer (s^-1); kJ/mol.
    burst_max_fraction : float
        Largest fraction of precursor the mixing burst turns into clusters.
    burst_onset_c, ea_burst : float
        Temperature (°C) at which the burst reaches 63 % of its maximum; its
        activation energy (kJ/mol). Below ~100 °C the burst is negligible.
    burst_onset_437_c, burst_onset_467_c, burst_onset_nc_c : float
        Chamber temperatures (°C) at which the burst lands half in the next family
        (403 below the first, then 437, 467, NC seeds).
    burst_step_width_c : float
        Width (°C) of those quantized steps (logistic).
    burst_seed_growth_c : float
        NC seeds hold ``84 exp((T_nuc - burst_onset_nc_c) / burst_seed_growth_c)`` units.
    burst_seed_survival_c : float
        NC seeds survive fully when the oven is this much colder than the chamber (°C).
    nucleation_precursor_order : float
        Nucleation needs unconverted precursor as well as monomer:
        ``kn [M]^2 ([P]/P0)^order``. Nuclei form only during the precursor-conversion
        burst, so at mild temperature (slow nucleation, much monomer left) the MSC supply
        stops after the first seconds and the MSCs grow on into NCs (SCIENCE.md, "Mild T").
        0 gives the plain ``kn [M]^2`` of the scheme.
    k_thermal : float
        Plateau (s^-1) of an extra, thermal-stability dissolution of every MSC family
        back to monomer. It switches on just above 300 °C and, with the monomer already
        depleted there, lets the NCs ripen at the expense of the MSCs (SCIENCE.md,
        "High T"). It saturates instead of rising like an Arrhenius rate, so clusters
        formed in the first second at 350 °C still show at 4.5 s.
    thermal_onset_c, thermal_width_c : float
        Temperature (°C) at which the thermal dissolution reaches half its plateau, and
        the width (°C) of the logistic switch.
    thermal_scale_437 : float
        Factor on the thermal dissolution of CdSe-437, the most stable, most persistent
        family (< 1: it dissolves more slowly than the others).
    """

    reference_temperature_c: float = 280.0
    precursor_mM: float = 20.0
    k_precursor: float = 0.67
    ea_precursor: float = 30.0
    k_nucleation: float = 5.8e-3
    ea_nucleation: float = 400.0
    k_403: float = 1.08
    ea_403: float = 42.0
    k_437: float = 0.19
    ea_437: float = 39.0
    k_465: float = 0.018
    ea_465: float = 0.0
    k_nc: float = 0.53
    ea_nc: float = 163.0
    k_growth: float = 0.125
    ea_growth: float = 60.0
    k_dissolution: float = 1.0e-3
    ea_dissolution: float = 40.0
    burst_max_fraction: float = 0.2
    burst_onset_c: float = 170.0
    ea_burst: float = 200.0
    burst_onset_437_c: float = 195.0
    burst_onset_467_c: float = 233.0
    burst_onset_nc_c: float = 245.0
    burst_step_width_c: float = 3.0
    burst_seed_growth_c: float = 40.0
    burst_seed_survival_c: float = 20.0
    nucleation_precursor_order: float = 1.75
    k_thermal: float = 3.1
    thermal_onset_c: float = 305.6
    thermal_width_c: float = 4.9
    thermal_scale_437: float = 0.3

    def rate(self, name: str, temperature_c: float) -> float:
        """Arrhenius rate constant ``k_<name>`` at ``temperature_c`` (°C)."""
        k_ref = getattr(self, f"k_{name}")
        ea = getattr(self, f"ea_{name}")
        inv = 1.0 / (temperature_c + 273.15) - 1.0 / (self.reference_temperature_c + 273.15)
        return k_ref * math.exp(-ea / GAS_CONSTANT_KJ * inv)

    def to_dict(self) -> dict[str, float]:
        """All parameters as a JSON-able dict."""
        return asdict(self)


def burst_fraction(params: KineticParameters, t_nuc: float) -> float:
    """Fraction of precursor the mixing burst turns into clusters at ``t_nuc`` (°C)."""
    inv = 1.0 / (t_nuc + 273.15) - 1.0 / (params.burst_onset_c + 273.15)
    x = math.exp(min(-params.ea_burst / GAS_CONSTANT_KJ * inv, 50.0))
    return params.burst_max_fraction * -math.expm1(-x)


def thermal_dissolution_rate(params: KineticParameters, temperature_c: float) -> float:
    """Thermal-stability dissolution rate (s^-1) of MSCs at ``temperature_c`` (°C).

    A logistic switch: ``k_thermal / (1 + exp(-(T - thermal_onset_c) / thermal_width_c))``.
    """
    x = (temperature_c - params.thermal_onset_c) / params.thermal_width_c
    return params.k_thermal / (1.0 + math.exp(min(-x, 700.0)))


def _step(t: float, onset: float, width: float) -> float:
    return 0.5 * (1.0 + math.tanh((t - onset) / (2.0 * width)))


def burst_landing(params: KineticParameters, t_nuc: float) -> dict[str, float]:
    """How the burst splits between ``"403"``, ``"437"``, ``"467"`` and ``"nc"`` (sums to 1)."""
    w = params.burst_step_width_c
    s437 = _step(t_nuc, params.burst_onset_437_c, w)
    s467 = _step(t_nuc, params.burst_onset_467_c, w)
    snc = _step(t_nuc, params.burst_onset_nc_c, w)
    return {"403": 1.0 - s437, "437": s437 - s467, "467": s467 - snc, "nc": snc}


def _initial_state(params: KineticParameters, t_nuc: float, t_growth: float) -> list[float]:
    p0 = params.precursor_mM
    amount = p0 * burst_fraction(params, t_nuc)
    land = burst_landing(params, t_nuc)
    survive = min(max((t_nuc - t_growth) / params.burst_seed_survival_c, 0.0), 1.0)
    seeds = amount * land["nc"] * survive
    y = [0.0] * 10  # P, M, c350, c403, c437, c467, n0, m1, m2, m3
    y[3] = amount * land["403"] / FAMILY_UNITS[403]
    y[4] = amount * land["437"] / FAMILY_UNITS[437]
    y[5] = amount * land["467"] / FAMILY_UNITS[467]
    if seeds > 0:
        units = FAMILY_UNITS[467] * math.exp(
            max(t_nuc - params.burst_onset_nc_c, 0.0) / params.burst_seed_growth_c
        )
        r = nc_radius_from_units(units)
        n = seeds / units
        y[6:10] = [n, n * r, n * r * r, n * r**3]
    y[0] = p0 - amount * (1.0 - land["nc"]) - seeds
    return y


def _rhs_factory(params: KineticParameters, temperature_c: float):
    kp, kn, k403, k437, k465, knc, kg, kd = (
        params.rate(n, temperature_c)
        for n in ("precursor", "nucleation", "403", "437", "465", "nc", "growth", "dissolution")
    )
    kth = thermal_dissolution_rate(params, temperature_c)
    kd350 = kd403 = kd467 = kd + kth
    kd437 = kd + params.thermal_scale_437 * kth
    order = params.nucleation_precursor_order
    inv_p0 = 1.0 / params.precursor_mM
    a = UNITS_PER_NM3 * 4.0 / 3.0 * math.pi  # units per nm^3 of r^3
    a23 = a ** (2.0 / 3.0)
    g_per_m = kg * a ** (-1.0 / 3.0) / 3.0  # dr/dt per mM of monomer
    r0 = nc_radius_from_units(FAMILY_UNITS[467])
    n350, n403, n437, n467 = (FAMILY_UNITS[f] for f in _CHAIN)

    def rhs(y, _t):
        p, m, c350, c403, c437, c467, n0, m1, m2, _m3 = y
        m = max(m, 0.0)
        rp = kp * p
        rn = kn * m * m
        if order:
            rn *= max(p * inv_p0, 0.0) ** order
        r403 = k403 * c350 * m
        r437 = k437 * c403 * m
        r465 = k465 * c437 * m
        rnc = knc * c467 * m
        g = g_per_m * m
        # Size focusing: dr/dt = g r̄/r linearised about the mean relaxes the variance.
        focus = 2.0 * g * (m2 - m1 * m1 / n0) * n0 / m1 if m1 > 1e-30 else 0.0
        dm = (
            rp
            - n350 * rn
            - (n403 - n350) * r403
            - (n437 - n403) * r437
            - (n467 - n437) * r465
            - kg * m * a23 * m2
            + n350 * kd350 * c350
            + n403 * kd403 * c403
            + n437 * kd437 * c437
            + n467 * kd467 * c467
        )
        return (
            -rp,
            dm,
            rn - r403 - kd350 * c350,
            r403 - r437 - kd403 * c403,
            r437 - r465 - kd437 * c437,
            r465 - rnc - kd467 * c467,
            rnc,
            g * n0 + rnc * r0,
            2.0 * g * m1 + rnc * r0 * r0 - focus,
            3.0 * g * m2 + rnc * r0**3,
        )

    return rhs


def _integrate(params: KineticParameters, temperature_c: float, y0, duration: float):
    if duration <= 0:
        return np.asarray(y0, dtype=float)
    out = odeint(
        _rhs_factory(params, temperature_c),
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
        Rate constants (default: the SCIENCE.md set plus the mixing burst).

    Returns
    -------
    Composition
        Amounts of precursor, monomer, MSC families and the NC population.

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
    y = _initial_state(params, t_nuc, t_growth)
    y = _integrate(params, t_nuc, y, t_chamber)
    y = _integrate(params, t_growth, y, t_oven)
    y = np.maximum(y, 0.0)
    msc = dict.fromkeys((350, 380, 403, 437, 467), 0.0)
    for i, fam in enumerate(_CHAIN):
        msc[fam] = float(y[2 + i]) * FAMILY_UNITS[fam]
    return Composition(
        precursor_mM=float(y[0]),
        monomer_mM=float(y[1]),
        msc_units_mM=msc,
        nc_moments=tuple(float(v) for v in y[6:10]),
        initial_precursor_mM=params.precursor_mM,
    )
