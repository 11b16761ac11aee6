"""One simulated condition end to end: kinetics, spectrum and SAXS curve."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from msc_bluesky.limits import check_reaction_time, check_temperature
from msc_bluesky.sim.geometry import ReactorGeometry
from msc_bluesky.sim.kinetics import Composition, KineticParameters, simulate_kinetics
from msc_bluesky.sim.optics import absorbance_spectrum
from msc_bluesky.sim.scattering import saxs_curve


def default_wavelength_nm() -> np.ndarray:
    """The spectrometer axis: 1000 points from 300 to 700 nm."""
    return np.linspace(300.0, 700.0, 1000)


def default_q_per_nm() -> np.ndarray:
    """The SAXS axis: 300 points log-spaced from 0.05 to 8 nm^-1."""
    return np.geomspace(0.05, 8.0, 300)


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


@dataclass(frozen=True)
class Measurement:
    """What the instruments see for one condition, with the model's truth.

    Attributes
    ----------
    conditions : dict
        ``t_nuc``, ``t_growth`` (°C), ``reaction_time``, ``t_chamber``, ``t_oven`` (s),
        ``cell_temperature_c``, ``path_length_cm``, ``exposure_s``, ``seed``.
    composition : Composition
        What the liquid holds (the truth).
    wavelength_nm, absorbance : numpy.ndarray
        UV-Vis spectrum.
    q_per_nm, intensity, intensity_sigma : numpy.ndarray
        SAXS curve (cm^-1) with its uncertainty.
    """

    conditions: dict
    composition: Composition
    wavelength_nm: np.ndarray = field(repr=False)
    absorbance: np.ndarray = field(repr=False)
    q_per_nm: np.ndarray = field(repr=False)
    intensity: np.ndarray = field(repr=False)
    intensity_sigma: np.ndarray = field(repr=False)

    @property
    def truth(self) -> dict:
        """JSON-able truth: conditions plus :meth:`Composition.to_dict` (NaN as None)."""
        return _json_safe({"conditions": dict(self.conditions), **self.composition.to_dict()})

    def to_dict(self) -> dict:
        """JSON-able dict: both curves as lists and the truth (``--format json``)."""
        return {
            "wavelength_nm": self.wavelength_nm.tolist(),
            "absorbance": self.absorbance.tolist(),
            "q_per_nm": self.q_per_nm.tolist(),
            "intensity": self.intensity.tolist(),
            "intensity_sigma": self.intensity_sigma.tolist(),
            "truth": self.truth,
        }


def simulate(
    t_nuc: float,
    t_growth: float,
    reaction_time: float,
    *,
    seed: int | None = None,
    rng: np.random.Generator | None = None,
    geometry: ReactorGeometry | None = None,
    params: KineticParameters | None = None,
    wavelength_nm: np.ndarray | None = None,
    q_per_nm: np.ndarray | None = None,
    path_length_cm: float = 0.1,
    exposure_s: float = 1.0,
    cell_temperature_c: float | None = None,
) -> Measurement:
    """Simulate one steady-state condition: kinetics, UV-Vis spectrum and SAXS curve.

    Parameters
    ----------
    t_nuc, t_growth : float
        Nucleation chamber and growth oven temperatures (°C), 20–360.
    reaction_time : float
        Residence time in the reactor (s), finite and > 0.
    seed : int, optional
        Seed of a new ``numpy.random.Generator`` for the noise.
    rng : numpy.random.Generator, optional
        Generator to use instead of ``seed``. With neither, both signals are noiseless.
    geometry, params : optional
        Reactor volumes and kinetic parameters (defaults otherwise).
    wavelength_nm, q_per_nm : numpy.ndarray, optional
        Axes (default :func:`default_wavelength_nm`, :func:`default_q_per_nm`).
    path_length_cm : float
        Optical path of the UV-Vis cell (cm).
    exposure_s : float
        SAXS exposure (s).
    cell_temperature_c : float, optional
        Flow-cell temperature (°C) for the mesophase; default ``t_growth`` (the liquid
        reaches the in-situ cells straight from the oven).

    Returns
    -------
    Measurement
    """
    if seed is not None and rng is not None:
        raise ValueError("give either seed or rng, not both")
    t_nuc = check_temperature("t_nuc", t_nuc)
    t_growth = check_temperature("t_growth", t_growth)
    reaction_time = check_reaction_time(reaction_time)
    if rng is None and seed is not None:
        rng = np.random.default_rng(seed)
    geometry = geometry or ReactorGeometry()
    cell_t = t_growth if cell_temperature_c is None else float(cell_temperature_c)
    wl = default_wavelength_nm() if wavelength_nm is None else np.asarray(wavelength_nm, float)
    q = default_q_per_nm() if q_per_nm is None else np.asarray(q_per_nm, float)
    comp = simulate_kinetics(t_nuc, t_growth, reaction_time, geometry=geometry, params=params)
    absorbance = absorbance_spectrum(comp, wl, path_length_cm=path_length_cm, rng=rng)
    intensity, sigma = saxs_curve(comp, q, temperature_c=cell_t, exposure_s=exposure_s, rng=rng)
    t_chamber, t_oven = geometry.split(reaction_time)
    conditions = {
        "t_nuc": t_nuc,
        "t_growth": t_growth,
        "reaction_time": reaction_time,
        "t_chamber": t_chamber,
        "t_oven": t_oven,
        "cell_temperature_c": cell_t,
        "path_length_cm": float(path_length_cm),
        "exposure_s": float(exposure_s),
        "seed": seed,
    }
    return Measurement(conditions, comp, wl, absorbance, q, intensity, sigma)
