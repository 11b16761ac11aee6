"""The one parameter set of the kinetic model (docs/science.md, "The model").

Every rate constant is Arrhenius, ``k(T) = k_ref exp(-Ea/R (1/T - 1/T_ref))`` with
``k_ref`` at ``reference_temperature_c``. Amounts: precursor P and monomer M in mM of
CdSe units, clusters and NCs in mM of particles.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

GAS_CONSTANT_KJ = 8.314462618e-3  # kJ mol^-1 K^-1


@dataclass(frozen=True)
class KineticParameters:
    """Parameters of the kinetic model, each with its physical meaning.

    Rates are given at ``reference_temperature_c`` with an activation energy ``ea_*``
    in kJ/mol (see :meth:`rate`).

    Attributes
    ----------
    reference_temperature_c : float
        Temperature (°C) at which the ``k_*`` values apply.
    precursor_mM : float
        Precursor fed in, P0 (mM of CdSe units).
    k_precursor, ea_precursor : float
        Precursor -> monomer, ``kp [P]`` (s^-1): the Cd/Se precursor complexes
        reacting to free CdSe monomer, in chamber and oven alike.
    k_nucleation, ea_nucleation : float
        Nucleation ``kn [M]^2`` of (CdSe)13 nuclei (the 350 nm family), mM^-1 s^-1.
        It needs the supersaturation spike where the two precursor streams meet, so it
        runs in the nucleation chamber only; in the oven particles only grow, ripen or
        dissolve. The steep activation energy is the nucleation burst set by T_nuc.
    k_403, ea_403, k_437, ea_437 : float
        Sequential monomer addition nucleus -> 403 -> 437, ``k [F][M]`` (mM^-1 s^-1),
        the same for open and closed-shell clusters.
    k_465, ea_465 : float
        437 -> 467 by monomer addition (mM^-1 s^-1), open-shell clusters only: a
        closed-shell CdSe-437 adds no monomer.
    k_nc, ea_nc : float
        467 -> NC by monomer addition (mM^-1 s^-1): NCs are fed from the 465 family and
        are born at its size.
    k_growth, ea_growth : float
        NC growth ``kg [M][NC] N^(2/3)`` (mM^-1 s^-1): monomer uptake through the NC
        surface (N CdSe units per NC).
    k_ripening, ea_ripening : float
        First-order dissolution of open-shell clusters back to monomer (s^-1): Ostwald
        ripening, clusters being more soluble than the NCs that take the monomer up.
        Closed-shell CdSe-437 and its closed-shell precursors do not ripen.
    closed_shell_max : float
        Largest fraction of the chamber's nuclei born closed-shell.
    closed_shell_onset_c, closed_shell_onset_width_c : float
        Below this chamber temperature (°C, logistic width in °C) nuclei are too cold to
        anneal into the closed-shell structure: they stay open and grow on into NCs on
        the plentiful monomer (mild temperature).
    closed_shell_limit_c, closed_shell_limit_width_c : float
        Above this chamber temperature (°C, logistic width) the ligand shell does not
        hold: nuclei form open and follow the high-temperature pathway to NCs, the
        clusters ripening away.
    burst_max_fraction : float
        Largest fraction of precursor the mixing burst turns into clusters at once.
    burst_onset_c, ea_burst : float
        Chamber temperature (°C) at which the burst reaches 63 % of its maximum, and its
        activation energy (kJ/mol). Below ~100 °C the burst is negligible.
    burst_onset_437_c, burst_onset_467_c, burst_onset_nc_c : float
        Chamber temperatures (°C) at which the burst lands half in the next family (403
        below the first, then 437, 467, NC seeds): the quantized SAXS series.
    burst_step_width_c : float
        Width (°C) of those steps (logistic).
    burst_seed_growth_c : float
        NC seeds hold ``84 exp((T_nuc - burst_onset_nc_c) / burst_seed_growth_c)`` units.
    burst_seed_survival_c : float
        NC seeds are supercritical only in an oven colder than the chamber: they survive
        fully when the oven is this much colder (°C), not at all at T_growth >= T_nuc
        (the rest returns to precursor).
    """

    reference_temperature_c: float = 280.0
    precursor_mM: float = 20.0
    k_precursor: float = 1.002
    ea_precursor: float = 36.1
    k_nucleation: float = 0.223
    ea_nucleation: float = 80.0
    k_403: float = 1.031
    ea_403: float = 47.19
    k_437: float = 0.2883
    ea_437: float = 92.95
    k_465: float = 0.06185
    ea_465: float = 16.54
    k_nc: float = 0.05502
    ea_nc: float = 69.93
    k_growth: float = 0.05444
    ea_growth: float = 155.2
    k_ripening: float = 0.4539
    ea_ripening: float = 0.5885
    closed_shell_max: float = 0.2671
    closed_shell_onset_c: float = 265.0
    closed_shell_onset_width_c: float = 1.0
    closed_shell_limit_c: float = 304.5
    closed_shell_limit_width_c: float = 1.0
    burst_max_fraction: float = 0.2
    burst_onset_c: float = 170.0
    ea_burst: float = 200.0
    burst_onset_437_c: float = 198.0
    burst_onset_467_c: float = 236.0
    burst_onset_nc_c: float = 245.0
    burst_step_width_c: float = 1.5
    burst_seed_growth_c: float = 40.0
    burst_seed_survival_c: float = 20.0

    def rate(self, name: str, temperature_c: float) -> float:
        """Arrhenius rate constant ``k_<name>`` at ``temperature_c`` (°C)."""
        k_ref = getattr(self, f"k_{name}")
        ea = getattr(self, f"ea_{name}")
        inv = 1.0 / (temperature_c + 273.15) - 1.0 / (self.reference_temperature_c + 273.15)
        return k_ref * math.exp(-ea / GAS_CONSTANT_KJ * inv)

    def to_dict(self) -> dict[str, float]:
        """All parameters as a JSON-able dict."""
        return asdict(self)
