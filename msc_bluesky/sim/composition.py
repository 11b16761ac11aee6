"""What the liquid holds: precursor, monomer, MSC families and a nanocrystal population.

Every amount is linear in the liquid: the NC size distribution is stored as its radius
moments, so :meth:`Composition.mix` of several compositions is exactly the mixture.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from msc_bluesky.physics.sizing import (
    CDSE_DENSITY_G_CM3,
    CDSE_MOLAR_MASS_G_MOL,
    MSC_FAMILIES_NM,
    units_per_particle,
    yu_wavelength_nm,
)

#: CdSe formula units per MSC of each family (docs/science.md table; 465–467 nm is one family).
FAMILY_UNITS: dict[int, float] = {350: 12.0, 380: 25.0, 403: 38.0, 437: 61.0, 467: 84.0}

#: Radius (nm) at which SAXS sees each MSC family. 403/437/467 are the paper's SAXS radii
#: (0.87, 0.94, 1.02 nm; cluster plus bound ligand shell); 350 and 380 continue the steps.
SAXS_RADIUS_NM: dict[int, float] = {350: 0.72, 380: 0.80, 403: 0.87, 437: 0.94, 467: 1.02}

#: Relative radius width (σ/R) of an MSC family as SAXS sees it.
MSC_RELATIVE_WIDTH = 0.03

#: CdSe formula units per nm^3 of bulk CdSe (≈ 18.3).
UNITS_PER_NM3: float = float(units_per_particle(2.0)) / (4.0 / 3.0 * math.pi)

#: CdSe volume fraction per mM of CdSe units (molar volume 32.9 cm^3/mol × 1e-6 L/cm^3·mM).
VOLUME_FRACTION_PER_MM: float = CDSE_MOLAR_MASS_G_MOL / CDSE_DENSITY_G_CM3 * 1e-6


def nc_radius_from_units(units: float) -> float:
    """Radius (nm) of a bulk-density CdSe sphere holding ``units`` formula units."""
    return (units / (UNITS_PER_NM3 * 4.0 / 3.0 * math.pi)) ** (1.0 / 3.0)


@dataclass(frozen=True)
class Population:
    """One scattering/absorbing population of the truth.

    Attributes
    ----------
    name : str
        ``"MSC403"`` … or ``"NC"``.
    kind : str
        ``"MSC"`` or ``"NC"``.
    family_nm : int or None
        MSC family (absorption maximum, nm); None for NCs.
    radius_nm, width_nm : float
        Mean radius and standard deviation of the radius as seen by SAXS (nm).
    volume_fraction : float
        CdSe volume fraction (dimensionless).
    units_mM, particles_mM : float
        Amount in mM of CdSe units and in mM of particles.
    """

    name: str
    kind: str
    family_nm: int | None
    radius_nm: float
    width_nm: float
    volume_fraction: float
    units_mM: float
    particles_mM: float

    def to_dict(self) -> dict:
        """JSON-able dict of the fields."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class Composition:
    """Amounts in the liquid (mM of CdSe units unless stated).

    Attributes
    ----------
    precursor_mM : float
        Unreacted precursor P.
    monomer_mM : float
        Free monomer M.
    msc_units_mM : dict[int, float]
        CdSe units bound in each MSC family, keyed by ``MSC_FAMILIES_NM``.
    nc_moments : tuple of 4 floats
        Radius moments of the NC population: number (mM of particles), Σr (mM nm),
        Σr^2 (mM nm^2), Σr^3 (mM nm^3).
    initial_precursor_mM : float
        Precursor fed into the reactor (mM), for the unreacted fraction.
    """

    precursor_mM: float
    monomer_mM: float = 0.0
    msc_units_mM: dict[int, float] = field(
        default_factory=lambda: dict.fromkeys(MSC_FAMILIES_NM, 0.0)
    )
    nc_moments: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    initial_precursor_mM: float = 20.0

    @classmethod
    def precursor_only(cls, precursor_mM: float = 20.0) -> Composition:
        """Unreacted precursor: what the reactor delivers when nothing reacts."""
        return cls(precursor_mM=precursor_mM, initial_precursor_mM=precursor_mM)

    @classmethod
    def mix(cls, compositions: Sequence[Composition], weights: Sequence[float]) -> Composition:
        """The weighted mixture ``Σ w_i c_i`` (weights are volume fractions of the mix)."""
        if len(compositions) != len(weights) or not compositions:
            raise ValueError("mix needs one weight per composition and at least one composition")
        w = [float(x) for x in weights]

        def total(get) -> float:
            return sum(wi * get(c) for wi, c in zip(w, compositions, strict=True))

        return cls(
            precursor_mM=total(lambda c: c.precursor_mM),
            monomer_mM=total(lambda c: c.monomer_mM),
            msc_units_mM={f: total(lambda c, f=f: c.msc_units_mM[f]) for f in MSC_FAMILIES_NM},
            nc_moments=tuple(total(lambda c, k=k: c.nc_moments[k]) for k in range(4)),
            initial_precursor_mM=total(lambda c: c.initial_precursor_mM),
        )

    # --- derived quantities -------------------------------------------------
    def msc_particles_mM(self, family: int) -> float:
        """Cluster concentration of one MSC family (mM of particles)."""
        return self.msc_units_mM[family] / FAMILY_UNITS[family]

    @property
    def nc_number_mM(self) -> float:
        """NC concentration (mM of particles)."""
        return self.nc_moments[0]

    @property
    def nc_units_mM(self) -> float:
        """CdSe units bound in NCs (mM)."""
        return UNITS_PER_NM3 * 4.0 / 3.0 * math.pi * self.nc_moments[3]

    @property
    def nc_mean_radius_nm(self) -> float:
        """Number-mean NC radius (nm); NaN without NCs."""
        n0, m1 = self.nc_moments[:2]
        return m1 / n0 if n0 > 1e-15 else math.nan

    @property
    def nc_radius_sd_nm(self) -> float:
        """Standard deviation of the NC radius (nm); NaN without NCs."""
        n0, m1, m2 = self.nc_moments[:3]
        if n0 <= 1e-15:
            return math.nan
        return math.sqrt(max(m2 / n0 - (m1 / n0) ** 2, 0.0))

    @property
    def nc_absorption_radius_nm(self) -> float:
        """Absorption-weighted NC radius ``Σr³/Σr²`` (nm): larger NCs absorb more."""
        m2, m3 = self.nc_moments[2:]
        return m3 / m2 if self.nc_number_mM > 1e-15 and m2 > 0 else math.nan

    @property
    def nc_exciton_nm(self) -> float:
        """NC first-exciton wavelength (nm): Yu curve at the absorption-weighted diameter."""
        r = self.nc_absorption_radius_nm
        if not math.isfinite(r):
            return math.nan
        try:
            return yu_wavelength_nm(2.0 * r)
        except ValueError:
            return math.nan

    @property
    def unreacted_fraction(self) -> float:
        """Precursor left, as a fraction of the precursor fed in."""
        p0 = self.initial_precursor_mM
        return self.precursor_mM / p0 if p0 > 0 else 0.0

    @property
    def total_cd_mM(self) -> float:
        """All Cd (CdSe units) in any form; equals the precursor fed in (mass balance)."""
        return (
            self.precursor_mM + self.monomer_mM + sum(self.msc_units_mM.values()) + self.nc_units_mM
        )

    def populations(self, min_volume_fraction: float = 0.0) -> list[Population]:
        """Every particle population with its SAXS radius, width and volume fraction."""
        pops = []
        for fam in MSC_FAMILIES_NM:
            units = self.msc_units_mM[fam]
            phi = units * VOLUME_FRACTION_PER_MM
            if units > 0 and phi > min_volume_fraction:
                r = SAXS_RADIUS_NM[fam]
                pops.append(
                    Population(
                        f"MSC{fam}",
                        "MSC",
                        fam,
                        r,
                        MSC_RELATIVE_WIDTH * r,
                        phi,
                        units,
                        units / FAMILY_UNITS[fam],
                    )
                )
        phi_nc = self.nc_units_mM * VOLUME_FRACTION_PER_MM
        if self.nc_number_mM > 1e-15 and phi_nc > min_volume_fraction:
            r = self.nc_mean_radius_nm
            width = max(self.nc_radius_sd_nm, MSC_RELATIVE_WIDTH * r)
            pops.append(
                Population("NC", "NC", None, r, width, phi_nc, self.nc_units_mM, self.nc_number_mM)
            )
        return pops

    def dominant_population(self) -> Population | None:
        """The population with the largest volume fraction (None when there are none)."""
        pops = self.populations()
        return max(pops, key=lambda p: p.volume_fraction) if pops else None

    def to_dict(self) -> dict:
        """JSON-able truth: amounts, NC statistics and populations (NaN for absent NCs)."""
        out: dict = {
            "precursor_mM": self.precursor_mM,
            "monomer_mM": self.monomer_mM,
            "initial_precursor_mM": self.initial_precursor_mM,
            "unreacted_fraction": self.unreacted_fraction,
        }
        for fam in MSC_FAMILIES_NM:
            out[f"msc{fam}_units_mM"] = self.msc_units_mM[fam]
            out[f"msc{fam}_particles_mM"] = self.msc_particles_mM(fam)
        out.update(
            nc_units_mM=self.nc_units_mM,
            nc_number_mM=self.nc_number_mM,
            nc_mean_radius_nm=self.nc_mean_radius_nm,
            nc_radius_sd_nm=self.nc_radius_sd_nm,
            nc_absorption_radius_nm=self.nc_absorption_radius_nm,
            nc_exciton_nm=self.nc_exciton_nm,
            nc_moments=list(self.nc_moments),
            populations=[p.to_dict() for p in self.populations()],
        )
        return out
