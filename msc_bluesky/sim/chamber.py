"""What the nucleation chamber decides (docs/science.md, "The model").

Two things are set by the chamber temperature T_nuc alone, whatever the oven does later:

- the **mixing burst**: where the precursor streams meet, a fraction of the precursor
  turns at once into clusters of the family T_nuc selects (403, 437, 467, then NC seeds
  that grow with T_nuc) — the quantized 1.5 s SAXS series;
- the **closed-shell fraction** of the nuclei the chamber makes: between about 265 and
  305 °C they anneal into clusters with a closed ligand shell that add monomer only up
  to CdSe-437 and then stop, the persistent CdSe-437. Colder nuclei stay open and grow on
  into NCs; hotter ones cannot keep a shell and go the high-temperature way to NCs.
"""

from __future__ import annotations

import math

from msc_bluesky.sim.composition import FAMILY_UNITS, nc_radius_from_units
from msc_bluesky.sim.parameters import GAS_CONSTANT_KJ, KineticParameters

#: Order of the ODE state vector: precursor, monomer, open-shell clusters of the 350,
#: 403, 437 and 467 families, closed-shell 350, 403 and 437 (mM of particles), and the
#: NC radius moments (number, Σr, Σr², Σr³).
STATE = (
    "P", "M", "o350", "o403", "o437", "o467", "c350", "c403", "c437", "n0", "m1", "m2", "m3",
)
INDEX = {name: i for i, name in enumerate(STATE)}


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(min(-x, 700.0)))


def _step(t: float, onset: float, width: float) -> float:
    return 0.5 * (1.0 + math.tanh((t - onset) / (2.0 * width)))


def closed_shell_fraction(params: KineticParameters, t_nuc: float) -> float:
    """Fraction of the chamber's nuclei born with a closed shell at ``t_nuc`` (°C).

    ``max · σ((T - onset)/w_on) · (1 - σ((T - limit)/w_lim))`` with σ the logistic.
    """
    rise = _logistic((t_nuc - params.closed_shell_onset_c) / params.closed_shell_onset_width_c)
    fall = _logistic((t_nuc - params.closed_shell_limit_c) / params.closed_shell_limit_width_c)
    return params.closed_shell_max * rise * (1.0 - fall)


def burst_fraction(params: KineticParameters, t_nuc: float) -> float:
    """Fraction of precursor the mixing burst turns into clusters at ``t_nuc`` (°C)."""
    inv = 1.0 / (t_nuc + 273.15) - 1.0 / (params.burst_onset_c + 273.15)
    x = math.exp(min(-params.ea_burst / GAS_CONSTANT_KJ * inv, 50.0))
    return params.burst_max_fraction * -math.expm1(-x)


def burst_landing(params: KineticParameters, t_nuc: float) -> dict[str, float]:
    """How the burst splits between ``"403"``, ``"437"``, ``"467"`` and ``"nc"`` (sums to 1)."""
    w = params.burst_step_width_c
    s437 = _step(t_nuc, params.burst_onset_437_c, w)
    s467 = _step(t_nuc, params.burst_onset_467_c, w)
    snc = _step(t_nuc, params.burst_onset_nc_c, w)
    return {"403": 1.0 - s437, "437": s437 - s467, "467": s467 - snc, "nc": snc}


def initial_state(params: KineticParameters, t_nuc: float, t_growth: float) -> list[float]:
    """State vector (order :data:`STATE`) just after the precursors mix at ``t_nuc``.

    Burst clusters are open-shell. NC seeds survive in proportion to how much colder the
    oven is than the chamber (``burst_seed_survival_c``); the rest stays precursor.
    """
    p0 = params.precursor_mM
    amount = p0 * burst_fraction(params, t_nuc)
    land = burst_landing(params, t_nuc)
    survive = min(max((t_nuc - t_growth) / params.burst_seed_survival_c, 0.0), 1.0)
    seeds = amount * land["nc"] * survive
    y = [0.0] * len(STATE)
    for fam in ("403", "437", "467"):
        y[INDEX[f"o{fam}"]] = amount * land[fam] / FAMILY_UNITS[int(fam)]
    if seeds > 0:
        units = FAMILY_UNITS[467] * math.exp(
            max(t_nuc - params.burst_onset_nc_c, 0.0) / params.burst_seed_growth_c
        )
        r = nc_radius_from_units(units)
        n = seeds / units
        y[INDEX["n0"]:] = [n, n * r, n * r * r, n * r**3]
    y[INDEX["P"]] = p0 - amount * (1.0 - land["nc"]) - seeds
    return y
