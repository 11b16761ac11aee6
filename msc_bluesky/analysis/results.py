"""Result types of the analysis, each with a flat, JSON-serialisable ``to_dict()``.

``to_dict()`` returns exactly the keys listed in docs/architecture.md ("Analysis
results") for every input — NaN or False where a quantity is absent, arrays as lists of
fixed length — so one event descriptor fits every event of a linked analysis run. Each
type also has ``empty()``: the same keys, all NaN/False, for an event whose fit failed,
and (from :class:`FlatResult`) ``fields()`` / ``array_fields()`` / ``empty_dict()``: the
stored field list, read from ``empty().to_dict()`` so it is written only once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from msc_bluesky.physics.sizing import EXTINCTION_MODEL, MSC_FAMILIES_NM

#: Number of populations a size distribution reports in ``to_dict`` (largest first).
MAX_POPULATIONS = 3

#: Default number of radii in the size-distribution grid (the length of its arrays).
DEFAULT_N_RADII = 200

NAN = float("nan")


def _num(value: float | None) -> float:
    return NAN if value is None else float(value)


def _kind(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | np.integer):
        return "int"
    if isinstance(value, float | np.floating):
        return "float"
    if isinstance(value, str):
        return "str"
    raise TypeError(f"to_dict value {value!r} is not a bool, int, float or str")


class FlatResult:
    """The stored field list of a result type, taken from its own ``to_dict()``.

    A subclass defines ``empty()`` and ``to_dict()`` (whose keys are the same for
    every result); these class methods describe those keys once for storage.
    """

    @classmethod
    def empty_dict(cls) -> dict[str, Any]:
        """``to_dict()`` of the empty (failed-fit) result: every key, blank values."""
        return cls.empty().to_dict()  # type: ignore[attr-defined]

    @classmethod
    def fields(cls) -> dict[str, str]:
        """Scalar keys of ``to_dict()`` with their kind: "bool", "int", "float" or "str"."""
        return {
            key: _kind(value)
            for key, value in cls.empty_dict().items()
            if not isinstance(value, list)
        }

    @classmethod
    def array_fields(cls) -> tuple[str, ...]:
        """Keys of ``to_dict()`` whose values are float arrays (lists)."""
        return tuple(k for k, v in cls.empty_dict().items() if isinstance(v, list))


@dataclass(frozen=True)
class MscBand:
    """One magic-size-cluster family in a spectrum.

    Attributes
    ----------
    nominal_nm : int
        Family name: its nominal first-absorption maximum (350, 380, 403, 437, 467).
    detected : bool
        ``significance`` reaches the detection threshold (a fixed number of σ) and,
        beside an NC, the band is narrower than the NC's own features.
    absorbance : float
        Fitted band absorbance at its maximum, background and NC removed (reported
        even when not detected: then it is a small value, often 0).
    concentration_molar : float
        Cluster concentration (mol/L) from ``absorbance`` with the extinction model of
        :data:`msc_bluesky.physics.sizing.EXTINCTION_MODEL`.
    absorbance_sigma : float
        1σ uncertainty of ``absorbance``: the statistical σ from the spectrum's own
        noise (``absorbance / significance``) and, in quadrature, the systematic σ of
        the unknown band line shape (Gaussian or Lorentzian).
    centre_nm : float
        Fitted band centre (nm), free within a few nm of the family's position.
    significance : float
        Band depth in units of its statistical uncertainty (the detection statistic;
        the line-shape σ in ``absorbance_sigma`` is not part of it).
    """

    nominal_nm: int
    detected: bool
    absorbance: float
    concentration_molar: float
    absorbance_sigma: float = NAN
    centre_nm: float = NAN
    significance: float = NAN


@dataclass(frozen=True)
class NcPeak:
    """The first excitonic peak of the regular-nanocrystal population.

    Attributes
    ----------
    peak_nm, fwhm_nm : float
        Position and full width at half maximum of the first exciton (nm).
    absorbance : float
        Exciton absorbance at its maximum, background and higher transitions removed.
    diameter_nm : float
        Diameter from the Yu sizing curve.
    units_per_particle : float
        CdSe formula units in a sphere of that diameter.
    extinction_coefficient : float
        Molar extinction coefficient at the first exciton (M^-1 cm^-1).
    concentration_molar : float
        Particle concentration (mol/L), Beer–Lambert.
    peak_nm_sigma, diameter_nm_sigma, concentration_molar_sigma : float
        1σ uncertainties from the spectrum's own noise (propagated through the sizing
        curve and ε; the sizing curve's own calibration error is not included).
    """

    peak_nm: float
    fwhm_nm: float
    absorbance: float
    diameter_nm: float
    units_per_particle: float
    extinction_coefficient: float
    concentration_molar: float
    peak_nm_sigma: float = NAN
    diameter_nm_sigma: float = NAN
    concentration_molar_sigma: float = NAN


@dataclass(frozen=True)
class SpectrumFit(FlatResult):
    """What :func:`msc_bluesky.analysis.uvvis.fit_spectrum` found in one spectrum.

    Attributes
    ----------
    msc : dict[int, MscBand]
        One entry per family, keyed by nominal peak (350, 380, 403, 437, 467).
    nc : NcPeak or None
        None when there is no NC peak.
    extinction_model : str
        The extinction model behind every concentration.
    r_squared : float
        Coefficient of determination of the full model on the input spectrum.
    model : numpy.ndarray or None
        The fitted absorbance on the input wavelengths (for plots; not in ``to_dict``).
    """

    msc: dict[int, MscBand]
    nc: NcPeak | None
    extinction_model: str = EXTINCTION_MODEL
    r_squared: float = NAN
    model: np.ndarray | None = field(default=None, repr=False, compare=False)

    @classmethod
    def empty(cls) -> SpectrumFit:
        """A result with nothing detected and every number NaN (for failed fits)."""
        msc = {f: MscBand(f, False, NAN, NAN) for f in MSC_FAMILIES_NM}
        return cls(msc=msc, nc=None)

    def to_dict(self) -> dict[str, float | bool | str]:
        """Flat event fields: ``msc{F}_*``, ``nc_*``, ``extinction_model``, ``spectrum_r_squared``.

        Keys are the same for every result; NaN (numbers) or False (flags) when absent.
        """
        out: dict[str, float | bool | str] = {}
        for fam in MSC_FAMILIES_NM:
            band = self.msc.get(fam)
            out[f"msc{fam}_detected"] = bool(band.detected) if band else False
            for name in _BAND_NUMBERS:
                out[f"msc{fam}_{name}"] = _num(getattr(band, name)) if band else NAN
        nc = self.nc
        out["nc_detected"] = nc is not None
        for name in _NC_NUMBERS:
            out[f"nc_{name}"] = NAN if nc is None else float(getattr(nc, name))
        out["extinction_model"] = str(self.extinction_model)
        out["spectrum_r_squared"] = _num(self.r_squared)
        return out


#: Numbers of an MSC band and of the NC peak in ``SpectrumFit.to_dict()``, in key order.
_BAND_NUMBERS = (
    "absorbance", "concentration_molar", "absorbance_sigma", "centre_nm", "significance"
)
_NC_NUMBERS = (
    "peak_nm", "fwhm_nm", "diameter_nm", "units_per_particle", "extinction_coefficient",
    "concentration_molar", "peak_nm_sigma", "diameter_nm_sigma", "concentration_molar_sigma",
)


@dataclass(frozen=True)
class Population:
    """One population of a size distribution (volume-weighted moments).

    ``volume_fraction_sigma`` is its 1σ uncertainty from the fit's covariance (NaN when
    unknown).
    """

    radius_nm: float
    width_nm: float
    volume_fraction: float
    volume_fraction_sigma: float = NAN


@dataclass(frozen=True)
class SizeDistribution(FlatResult):
    """What :func:`msc_bluesky.analysis.saxs.fit_size_distribution` found in one curve.

    Attributes
    ----------
    radius_nm : numpy.ndarray
        Radius grid (nm), log-spaced.
    volume_fraction, volume_fraction_sigma : numpy.ndarray
        Absolute volume fraction of spheres in each radius bin and its 1σ uncertainty
        (CdSe contrast, intensity in cm^-1).
    background : float
        Flat background (cm^-1).
    populations : list[Population]
        Populations found, largest volume fraction first.
    chi2_reduced : float
        Reduced χ² of the fit (also as ``reduced_chi2``).
    fit_ok : bool
        The model describes the curve: reduced χ² not well above 1.
    regularisation : float
        Smoothness strength chosen for the free grids, relative to ‖K‖²/‖D‖² (not in
        ``to_dict``; it grows with the noise).
    model : numpy.ndarray or None
        Fitted intensity on the input q (for plots; not in ``to_dict``).
    """

    radius_nm: np.ndarray
    volume_fraction: np.ndarray
    volume_fraction_sigma: np.ndarray
    background: float
    populations: list[Population]
    chi2_reduced: float = NAN
    model: np.ndarray | None = field(default=None, repr=False, compare=False)
    fit_ok: bool = False
    regularisation: float = NAN

    @property
    def reduced_chi2(self) -> float:
        """Reduced χ² of the fit (the same as ``chi2_reduced``)."""
        return float(self.chi2_reduced)

    @property
    def total_volume_fraction(self) -> float:
        """Sum of the volume fractions over the grid."""
        return float(np.sum(self.volume_fraction))

    @classmethod
    def empty(cls, n_radii: int = DEFAULT_N_RADII) -> SizeDistribution:
        """A result with NaN arrays of length ``n_radii`` and no populations."""
        nan = np.full(n_radii, NAN)
        return cls(nan, nan.copy(), nan.copy(), NAN, [])

    def to_dict(self) -> dict[str, float | int | bool | list[float]]:
        """Flat event fields: ``saxs_*`` arrays, background, totals, fit quality and three
        populations (``saxs_pop{i}_radius_nm``, ``_width_nm``, ``_volume_fraction``,
        ``_volume_fraction_sigma``)."""
        out: dict[str, float | int | bool | list[float]] = {
            "saxs_radius_nm": [float(v) for v in self.radius_nm],
            "saxs_volume_fraction": [float(v) for v in self.volume_fraction],
            "saxs_volume_fraction_sigma": [float(v) for v in self.volume_fraction_sigma],
            "saxs_background": float(self.background),
            "saxs_total_volume_fraction": self.total_volume_fraction,
            "saxs_n_populations": len(self.populations),
            "saxs_fit_ok": bool(self.fit_ok),
            "saxs_reduced_chi2": _num(self.chi2_reduced),
        }
        for i in range(MAX_POPULATIONS):
            pop = self.populations[i] if i < len(self.populations) else None
            out[f"saxs_pop{i + 1}_radius_nm"] = NAN if pop is None else float(pop.radius_nm)
            out[f"saxs_pop{i + 1}_width_nm"] = NAN if pop is None else float(pop.width_nm)
            out[f"saxs_pop{i + 1}_volume_fraction"] = (
                NAN if pop is None else float(pop.volume_fraction)
            )
            out[f"saxs_pop{i + 1}_volume_fraction_sigma"] = (
                NAN if pop is None else _num(pop.volume_fraction_sigma)
            )
        return out


@dataclass(frozen=True)
class Mesophase(FlatResult):
    """Bragg peaks of a (precursor) mesophase.

    Attributes
    ----------
    peaks_q_per_nm : numpy.ndarray
        Positions of the Bragg peaks found (nm^-1), ascending.
    d_spacing_nm : float or None
        ``2π / q1`` of the first peak; None when there are no peaks.
    lamellar : bool
        A second-order peak sits at twice the first (within 3 %).
    second_order_q_per_nm : float or None
        The peak taken as second order (lamellar), else the second peak, else None.
    """

    peaks_q_per_nm: np.ndarray
    d_spacing_nm: float | None
    lamellar: bool
    second_order_q_per_nm: float | None = None

    @classmethod
    def empty(cls) -> Mesophase:
        """No peaks."""
        return cls(np.empty(0), None, False, None)

    def to_dict(self) -> dict[str, float | bool]:
        """Flat event fields: ``mesophase_detected``, ``mesophase_q1_per_nm``,
        ``mesophase_q2_per_nm``, ``mesophase_d_spacing_nm``, ``mesophase_lamellar``."""
        q1 = float(self.peaks_q_per_nm[0]) if len(self.peaks_q_per_nm) else NAN
        return {
            "mesophase_detected": bool(len(self.peaks_q_per_nm) > 0),
            "mesophase_q1_per_nm": q1,
            "mesophase_q2_per_nm": _num(self.second_order_q_per_nm),
            "mesophase_d_spacing_nm": _num(self.d_spacing_nm),
            "mesophase_lamellar": bool(self.lamellar),
        }


def is_missing(value: float | None) -> bool:
    """True for None or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))
