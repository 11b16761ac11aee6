"""What the analysis reports, computed from the model: the observation mapping.

The fit compares the model with the fields of the stored analysis runs
(docs/architecture.md, "Analysis results"). :func:`model_observables` maps a
:class:`msc_bluesky.sim.Composition` onto the same fields; :func:`measured_observables`
reads them from one row of a campaign table (deriving the SAXS summaries from the
``saxs_pop{i}_*`` fields); :func:`uncertainty` gives each value's standard uncertainty,
from the row's ``<field>_sigma`` when the analysis reports one, else from the default
of :data:`OBSERVABLES`.

| field | model |
|---|---|
| ``msc{F}_absorbance`` | ``ε(d_F) c_F l``: Yu ε at the band centre × cluster conc. × path |
| ``nc_peak_nm`` | Yu wavelength of the absorption-weighted NC diameter ``2 Σr³/Σr²`` |
| ``nc_diameter_nm`` | that diameter (drawn, not fitted: it repeats ``nc_peak_nm``) |
| ``nc_concentration_molar`` | NC number concentration (mol/L) |
| ``saxs_total_volume_fraction`` | CdSe volume fraction of every particle population |
| ``saxs_msc_volume_fraction`` | volume fraction of populations of radius <= 1.1 nm (clusters) |
| ``saxs_nc_radius_nm`` | volume-weighted mean radius of the NC population |

Uncertainties have two parts, added in quadrature (:func:`uncertainty`): the noise the
analysis reports (``<field>_sigma``) and the *discrepancy* between an analysis readout
and the model quantity it stands for (the default of :data:`OBSERVABLES`): the
analysis' line shapes are not the simulator's (an NC peak read from a broad or bimodal
population is off by 1–2 nm where its noise σ is 0.05 nm), clusters below detection
read as small positive amplitudes, and so on. Without it a fit to a measured campaign
weighs the NC peak by its noise alone, and its χ² at the twin's own parameters is ~60
000 for 680 observations (the paper campaign measured on the simulated reactor).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from msc_bluesky.analysis.phase import MSC_MAX_RADIUS_NM
from msc_bluesky.analysis.uvvis import FAMILY_CENTRES_NM
from msc_bluesky.physics.sizing import MSC_FAMILIES_NM, extinction_coefficient, yu_diameter_nm
from msc_bluesky.sim import Composition

#: CdSe-437 "persists" where its predicted band absorbance reaches 0.01: a band the
#: live analysis detects at ~5 noise σ on a typical flow-cell spectrum (noise ~2e-3).
DETECTION_ABSORBANCE: float = 0.01

#: Default optical path (cm) of the UV-Vis flow cell, when the table does not tell.
DEFAULT_PATH_LENGTH_CM = 0.1

#: Number of SAXS populations the analysis reports per condition.
SAXS_POPULATIONS = 3


@dataclass(frozen=True)
class Observable:
    """One analysis field the model predicts.

    Attributes
    ----------
    name : str
        Field name in the analysis run (and the campaign table).
    label, unit : str
        For tables and plots.
    absolute_sigma, relative_sigma : float
        Default standard uncertainty ``hypot(absolute_sigma, relative_sigma |value|)``
        when the analysis reports no ``<name>_sigma``.
    in_fit : bool
        False for a field that repeats another one (drawn, not fitted).
    broad_absolute, broad_relative : float or None
        For a readout of the NC exciton: the discrepancy when the analysis reports the
        exciton's width, ``hypot(broad_absolute (w/w0)², broad_relative (w/w0)² |value|)``
        with ``w`` the reported FWHM and ``w0`` = :data:`NC_REFERENCE_FWHM_NM`, floored
        at :data:`NC_FLOOR_FRACTION` of the default (and at ``broad_floor`` of the
        value). None: the default applies.
    broad_floor : float
        With the width law: a relative floor too, ``broad_floor |value|`` (the larger
        of the two floors applies; 0: none). The NC concentration's is
        :data:`NC_CONCENTRATION_FLOOR_FRACTION`.
    """

    name: str
    label: str
    unit: str
    absolute_sigma: float
    relative_sigma: float
    in_fit: bool = True
    broad_absolute: float | None = None
    broad_relative: float | None = None
    broad_floor: float = 0.0

    def floor(self, value: float) -> float:
        """Floor of the width law: the larger of :data:`NC_FLOOR_FRACTION` of the
        default and ``broad_floor |value|``."""
        return max(NC_FLOOR_FRACTION * self.default_sigma(value), self.broad_floor * abs(value))

    def default_sigma(self, value: float) -> float:
        """Default standard uncertainty of a measured ``value``."""
        return math.hypot(self.absolute_sigma, self.relative_sigma * abs(value))

    def discrepancy_parts(
        self, value: float, nc_fwhm_nm: float = math.nan
    ) -> tuple[float, float]:
        """The two parts ``(width law, flat)`` of the discrepancy the fit scales
        (:mod:`.discrepancy`): without a width law or a reported FWHM ``(0, default)``;
        with them the law and its floor (:meth:`floor`)."""
        default = self.default_sigma(value)
        if self.broad_absolute is None or not (math.isfinite(nc_fwhm_nm) and nc_fwhm_nm > 0):
            return 0.0, default
        b = (nc_fwhm_nm / NC_REFERENCE_FWHM_NM) ** 2
        broad = math.hypot(self.broad_absolute * b, (self.broad_relative or 0.0) * b * abs(value))
        return broad, self.floor(value)

    def discrepancy(self, value: float, nc_fwhm_nm: float = math.nan) -> float:
        """Analysis–model discrepancy of ``value``, from the exciton width where it applies."""
        default = self.default_sigma(value)
        if self.broad_absolute is None or not (math.isfinite(nc_fwhm_nm) and nc_fwhm_nm > 0):
            return default
        b = (nc_fwhm_nm / NC_REFERENCE_FWHM_NM) ** 2
        broad = math.hypot(self.broad_absolute * b, (self.broad_relative or 0.0) * b * abs(value))
        return max(broad, self.floor(value))


#: The analysis reads the NC exciton with its own line shape, the simulator draws it with
#: another: the readouts drift from the model's quantities as the exciton broadens
#: (a broad or bimodal NC population, e.g. burst seeds beside newly nucleated NCs). On
#: the paper campaign measured on the simulated reactor at the twin's parameters, the
#: NC peak is off by ~0.5 nm at FWHM 30 nm, ~1.5 nm at 57 nm and 2–3.5 nm at 75–86
#: nm, the NC concentration by 2–3 %, 5–7 % and 10–18 %: both grow about as the FWHM
#: squared. So with a reported FWHM the discrepancy is that law (FWHM in units of
#: NC_REFERENCE_FWHM_NM = 40 nm): NC peak 0.7 nm × (w/w0)², NC concentration 4 % ×
#: (w/w0)², floored at NC_FLOOR_FRACTION (a quarter) of the flat default (the NC
#: concentration also at NC_CONCENTRATION_FLOOR_FRACTION of the value).
NC_REFERENCE_FWHM_NM = 40.0
NC_FLOOR_FRACTION = 0.25

#: Floor of the NC concentration's discrepancy, as a fraction of the value. The
#: ``transitions`` NC analysis reads the NC concentration of *narrow* excitons (FWHM
#: below ~45 nm) 3–5 % off rms, up to +5 % on a whole series (the recovery campaign's
#: 4.5 s diagonal; benchmarks/nc_concentration_bias.py), where the width law gives 1–4 %
#: and NC_FLOOR_FRACTION of the default 2.5 %; the noise σ the analysis states for it
#: is 2–11× smaller than that error. So its discrepancy is never below 5 % of the value.
NC_CONCENTRATION_FLOOR_FRACTION = 0.05


#: Every observable, in table order. Default uncertainties (the analysis–model
#: discrepancy, added to the reported noise; see :func:`uncertainty`): MSC band absorbance
#: 0.003 (a band's noise-limited amplitude, well below the 0.01 detection level) and 5 %
#: (band shape on an NC background); NC peak 2 nm; NC concentration 10 % (the Yu ε
#: itself is a common scale, not a scatter); SAXS volume fractions 10–15 % with a floor
#: of 1e-5, the NC radius 0.05 nm and 5 %.
OBSERVABLES: tuple[Observable, ...] = (
    *(
        Observable(f"msc{f}_absorbance", f"CdSe-{f} band", "", 3.0e-3, 0.05)
        for f in MSC_FAMILIES_NM
    ),
    Observable("nc_peak_nm", "NC peak", "nm", 2.0, 0.0, broad_absolute=0.7),
    Observable("nc_diameter_nm", "NC diameter", "nm", 0.02, 0.0, in_fit=False),
    Observable(
        "nc_concentration_molar", "NC concentration", "M", 1.0e-9, 0.10,
        broad_absolute=0.0, broad_relative=0.04,
        broad_floor=NC_CONCENTRATION_FLOOR_FRACTION,
    ),
    Observable("saxs_total_volume_fraction", "SAXS volume fraction", "", 1.0e-5, 0.10),
    Observable("saxs_msc_volume_fraction", "SAXS cluster volume fraction", "", 1.0e-5, 0.15),
    Observable("saxs_nc_radius_nm", "SAXS NC radius", "nm", 0.05, 0.05),
)
OBSERVABLE_NAMES: tuple[str, ...] = tuple(o.name for o in OBSERVABLES)
_BY_NAME = {o.name: o for o in OBSERVABLES}

#: Residual (in standard uncertainties) of a measured value the model cannot produce at
#: all (e.g. an NC peak where the model has no NCs).
UNPREDICTED_RESIDUAL = 5.0


def observable(name: str) -> Observable:
    """The :class:`Observable` called ``name``."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(
            f"unknown observable {name!r}; known: {', '.join(OBSERVABLE_NAMES)}"
        ) from None


def _number(value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan


def msc_absorbance_per_molar(family: int, path_length_cm: float) -> float:
    """Band absorbance per mol/L of clusters of one family: ``ε(d_F) l`` (Yu ε)."""
    centre = FAMILY_CENTRES_NM.get(family, float(family))
    return float(extinction_coefficient(yu_diameter_nm(centre))) * float(path_length_cm)


def model_observables(
    composition: Composition, path_length_cm: float = DEFAULT_PATH_LENGTH_CM
) -> dict[str, float]:
    """The analysis fields the model predicts for one composition.

    Parameters
    ----------
    composition : msc_bluesky.sim.Composition
        What the model says the liquid holds.
    path_length_cm : float
        Optical path of the flow cell (cm).

    Returns
    -------
    dict
        One value per :data:`OBSERVABLE_NAMES` (NaN where the model has nothing: no NC
        peak without NCs).
    """
    out: dict[str, float] = {}
    for fam in MSC_FAMILIES_NM:
        particles_mM = composition.msc_particles_mM(fam) if fam in composition.msc_units_mM else 0.0
        out[f"msc{fam}_absorbance"] = (
            msc_absorbance_per_molar(fam, path_length_cm) * particles_mM * 1e-3
        )
    peak = composition.nc_exciton_nm
    out["nc_peak_nm"] = peak
    radius = composition.nc_absorption_radius_nm
    out["nc_diameter_nm"] = 2.0 * radius if math.isfinite(peak) else math.nan
    out["nc_concentration_molar"] = composition.nc_number_mM * 1e-3
    pops = composition.populations()
    out["saxs_total_volume_fraction"] = sum(p.volume_fraction for p in pops)
    out["saxs_msc_volume_fraction"] = sum(
        p.volume_fraction for p in pops if p.radius_nm <= MSC_MAX_RADIUS_NM
    )
    nc = [p for p in pops if p.radius_nm > MSC_MAX_RADIUS_NM]
    if nc:
        big = max(nc, key=lambda p: p.volume_fraction)
        out["saxs_nc_radius_nm"] = volume_weighted_radius_nm(big.radius_nm, big.width_nm)
    else:
        out["saxs_nc_radius_nm"] = math.nan
    return out


def volume_weighted_radius_nm(mean_nm: float, sd_nm: float) -> float:
    """Volume-weighted mean radius ``⟨R⁴⟩/⟨R³⟩`` of a Gaussian number distribution.

    The SAXS analysis reports a population's volume-weighted mean radius (its size
    distribution is in volume fraction); the model carries the number mean and its
    spread. For a 10 % spread the two differ by 3 %, which is 0.6 σ of a SAXS NC radius:
    reading the number mean as the analysis' radius biased the NC rates.
    """
    m, s2 = float(mean_nm), float(sd_nm) ** 2
    return (m**4 + 6 * m * m * s2 + 3 * s2 * s2) / (m**3 + 3 * m * s2)


def _saxs_populations(row: Mapping[str, Any]) -> list[tuple[float, float]]:
    pops = []
    for i in range(1, SAXS_POPULATIONS + 1):
        r = _number(row.get(f"saxs_pop{i}_radius_nm"))
        v = _number(row.get(f"saxs_pop{i}_volume_fraction"))
        if math.isfinite(r) and math.isfinite(v) and v > 0:
            pops.append((r, v))
    return pops


def _flag(value: Any) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value)


def measured_observables(row: Mapping[str, Any]) -> dict[str, float]:
    """The observables of one campaign-table row (NaN where not measured).

    The SAXS cluster volume fraction and NC radius are derived from the row's
    ``saxs_pop{i}_radius_nm`` / ``saxs_pop{i}_volume_fraction`` (radius <= 1.1 nm:
    clusters, as :func:`msc_bluesky.analysis.phase.classify_sizes` counts them).

    Two SAXS values are left out because they do not measure what the model predicts:

    - the cluster volume fraction where the row also has a spectrum: beside NCs,
      SAXS does not resolve clusters (UV-Vis counts each family instead);
    - every SAXS volume fraction where the precursor mesophase was detected
      (``mesophase_detected``): its lamellae scatter too.
    """
    out = {name: _number(row.get(name)) for name in OBSERVABLE_NAMES}
    total = _number(row.get("saxs_total_volume_fraction"))
    if math.isfinite(total):
        pops = _saxs_populations(row)
        out["saxs_msc_volume_fraction"] = sum(v for r, v in pops if r <= MSC_MAX_RADIUS_NM)
        nc = [(r, v) for r, v in pops if r > MSC_MAX_RADIUS_NM]
        out["saxs_nc_radius_nm"] = max(nc, key=lambda p: p[1])[0] if nc else math.nan
    has_spectrum = any(
        math.isfinite(_number(row.get(f"msc{f}_absorbance"))) for f in MSC_FAMILIES_NM
    )
    if has_spectrum:
        out["saxs_msc_volume_fraction"] = math.nan
    if _flag(row.get("mesophase_detected")):
        out["saxs_total_volume_fraction"] = math.nan
        out["saxs_msc_volume_fraction"] = math.nan
    if not math.isfinite(out["nc_peak_nm"]):
        out["nc_diameter_nm"] = math.nan
    return out


def reported_noise(name: str, row: Mapping[str, Any]) -> float:
    """The noise σ the analysis reports for ``name`` in ``row`` (0 when absent)."""
    reported = _number(row.get(f"{name}_sigma"))
    return reported if math.isfinite(reported) and reported > 0 else 0.0


def uncertainty(name: str, row: Mapping[str, Any], value: float) -> float:
    """Standard uncertainty of a measured value against the model.

    ``hypot(noise, discrepancy)``: the row's ``<name>_sigma`` (the noise the analysis
    reports; 0 when absent) and the analysis–model discrepancy
    (:meth:`Observable.discrepancy`: the default, or for the NC exciton readouts a law
    in the reported ``nc_fwhm_nm``). A reported σ
    never replaces the discrepancy: it says how well the spectrum fixed the analysis'
    own parameter, not how well that parameter stands for the model's quantity.
    """
    noise = reported_noise(name, row)
    discrepancy = observable(name).discrepancy(value, _number(row.get("nc_fwhm_nm")))
    return math.hypot(noise, discrepancy)


def path_length_of(rows: list[Mapping[str, Any]]) -> float:
    """Optical path (cm) of the measurements.

    A ``path_length_cm`` (or ``uvvis_path_length``) column wins; else it is recovered
    from the analysis' own Beer–Lambert conversion (``msc{F}_absorbance /
    msc{F}_concentration_molar = ε l``); else :data:`DEFAULT_PATH_LENGTH_CM`.
    """
    for key in ("path_length_cm", "uvvis_path_length"):
        values = [_number(r.get(key)) for r in rows]
        values = [v for v in values if math.isfinite(v) and v > 0]
        if values:
            return float(sorted(values)[len(values) // 2])
    ratios = []
    for r in rows:
        for fam in MSC_FAMILIES_NM:
            a = _number(r.get(f"msc{fam}_absorbance"))
            c = _number(r.get(f"msc{fam}_concentration_molar"))
            if math.isfinite(a) and math.isfinite(c) and a > 0 and c > 0:
                ratios.append(a / c / msc_absorbance_per_molar(fam, 1.0))
    if ratios:
        return float(sorted(ratios)[len(ratios) // 2])
    return DEFAULT_PATH_LENGTH_CM
