"""Synthetic measurements for the report tests (no simulator, no tiled).

Shapes follow the paper qualitatively: CdSe-437 only for 270 <= T_nuc <= 300 °C at 14 s,
an NC exciton that moves red with temperature, quantised SAXS radii below 250 °C, and
precursor Bragg peaks at 1.84 / 3.69 nm^-1 fading with temperature.
"""

from __future__ import annotations

import numpy as np

from msc_bluesky.physics.sizing import MSC_FAMILIES_NM, yu_diameter_nm
from msc_bluesky.physics.spheres import sphere_form_factor, sphere_volume_nm3
from msc_bluesky.storage.report import ConditionRecord

WAVELENGTH = np.linspace(300.0, 700.0, 1000)
Q = np.geomspace(0.05, 8.0, 300)
RADIUS = np.linspace(0.3, 4.0, 120)


def _gauss(x, x0, width):
    return np.exp(-0.5 * ((x - x0) / width) ** 2)


def phase_of(t_nuc: float, t_growth: float, reaction_time: float) -> str:
    """A toy phase rule like the paper's: MSC window 270–300 °C, MSCs early everywhere."""
    if reaction_time < 5:
        return "MSC" if t_nuc < 240 else "MSC+NC"
    if 270 <= t_nuc <= 300:
        return "MSC+NC"
    return "NC" if t_nuc > 200 else "none"


def spectrum_analysis(t_nuc: float, t_growth: float, reaction_time: float) -> dict:
    """Analysis fields of one spectrum (the ``to_dict()`` keys the figures use)."""
    ph = phase_of(t_nuc, t_growth, reaction_time)
    out = {"phase": ph, "t_nuc": t_nuc, "t_growth": t_growth, "reaction_time": reaction_time}
    for f in MSC_FAMILIES_NM:
        hit = "MSC" in ph and f == 437
        out[f"msc{f}_detected"] = hit
        out[f"msc{f}_absorbance"] = 0.05 if hit else np.nan
    nc_peak = 420 + 0.8 * (t_nuc - 200) + 0.4 * (t_growth - 200) + 3 * reaction_time
    out["nc_peak_nm"] = nc_peak
    out["nc_diameter_nm"] = float(yu_diameter_nm(nc_peak))
    return out


def spectrum_record(
    t_nuc: float,
    t_growth: float,
    reaction_time: float = 14.0,
    *,
    plan_name: str = "temperature_grid",
    time: float = 0.0,
) -> ConditionRecord:
    """A record with a spectrum: NC exciton + band edge + CdSe-437 when in the MSC phase."""
    an = spectrum_analysis(t_nuc, t_growth, reaction_time)
    scale = 0.2 + 0.004 * (t_growth - 150)
    absorb = scale * (
        0.6 * _gauss(WAVELENGTH, an["nc_peak_nm"], 14) + 1.2 * np.exp(-(WAVELENGTH - 300) / 60)
    )
    if an["msc437_detected"]:
        absorb = absorb + 0.05 * (1 + (t_growth - 200) / 100) * _gauss(WAVELENGTH, 437, 3.5)
    return ConditionRecord(
        t_nuc=t_nuc,
        t_growth=t_growth,
        reaction_time=reaction_time,
        wavelength_nm=WAVELENGTH,
        absorbance=absorb,
        analysis=an,
        plan_name=plan_name,
        time=time,
    )


def saxs_record(
    t_nuc: float,
    *,
    t_growth: float = 230.0,
    reaction_time: float = 1.5,
    plan_name: str = "nucleation_series",
    time: float = 0.0,
) -> ConditionRecord:
    """A record with a SAXS curve and a size distribution from the analysis."""
    if t_nuc < 200:
        centre = 0.87
    elif t_nuc < 240:
        centre = 0.94
    else:
        centre = 1.02 + 0.02 * (t_nuc - 240)
    width = 0.04 if t_nuc < 250 else 0.06 + 0.002 * (t_nuc - 250)
    phi = 1e-3 * _gauss(RADIUS, centre, width)
    phi /= phi.sum()
    phi *= 1e-3
    intensity = (
        phi[:, None] * sphere_volume_nm3(RADIUS)[:, None] * sphere_form_factor(Q, RADIUS[:, None])
    ).sum(axis=0) * 1e3 + 0.02
    analysis = {
        "phase": "MSC",
        "saxs_radius_nm": RADIUS,
        "saxs_volume_fraction": phi,
        "saxs_pop1_radius_nm": centre,
        "mesophase_detected": False,
    }
    return ConditionRecord(
        t_nuc=t_nuc,
        t_growth=t_growth,
        reaction_time=reaction_time,
        q_per_nm=Q,
        intensity=intensity,
        intensity_sigma=0.03 * intensity,
        analysis=analysis,
        plan_name=plan_name,
        time=time,
    )


def precursor_record(temperature: float, *, time: float = 0.0) -> ConditionRecord:
    """A precursor curve; Bragg peaks at 1.84 / 3.69 nm^-1 below 100 °C."""
    strength = max(0.0, 1.0 - temperature / 90.0)
    intensity = (
        0.05
        + 0.3 / (1 + (Q / 0.25) ** 2)
        + strength * (2.0 * _gauss(Q, 1.84, 0.06) + 0.5 * _gauss(Q, 3.69, 0.08))
    )
    detected = strength > 0
    analysis = {
        "phase": "none",
        "mesophase_detected": detected,
        "mesophase_q1_per_nm": 1.84 if detected else np.nan,
        "mesophase_q2_per_nm": 3.69 if detected else np.nan,
        "mesophase_d_spacing_nm": 2 * np.pi / 1.84 if detected else np.nan,
    }
    return ConditionRecord(
        t_nuc=temperature,
        t_growth=temperature,
        reaction_time=14.0,
        q_per_nm=Q,
        intensity=intensity,
        intensity_sigma=0.03 * intensity,
        analysis=analysis,
        plan_name="precursor_blank",
        time=time,
    )


def paper_grid(t_nucs=(250, 280, 300, 320), n_growth: int = 4) -> list[ConditionRecord]:
    """Fig. 1-like grid: T_growth from T_nuc downwards in 10 °C steps, at 14 s."""
    return [spectrum_record(tn, tn - 10 * k) for tn in t_nucs for k in range(n_growth)]
