"""A campaign table made by the model itself, with noise (tests, benchmarks, planning).

Each row has the fields an analysis run stores (``t_nuc``, ``t_growth``,
``reaction_time``, ``msc{F}_absorbance``, ``msc{F}_detected``, ``nc_peak_nm``,
``nc_diameter_nm``, ``nc_concentration_molar``, ``saxs_total_volume_fraction``,
``saxs_pop{i}_radius_nm`` / ``saxs_pop{i}_volume_fraction``): the model's values plus
Gaussian noise of the default uncertainties of
:data:`~msc_bluesky.modelling.observables.OBSERVABLES` (times ``noise``). The rows carry
no ``<field>_sigma``, so the fit weighs them by those defaults: with ``noise=1`` the
stated uncertainties are right, with ``noise=3`` the data scatter three times more than
stated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from msc_bluesky.analysis.phase import MSC_MAX_RADIUS_NM
from msc_bluesky.analysis.sizing import yu_diameter_nm
from msc_bluesky.modelling.observables import (
    DEFAULT_PATH_LENGTH_CM,
    DETECTION_ABSORBANCE,
    model_observables,
    observable,
)
from msc_bluesky.physics.sizing import MSC_FAMILIES_NM
from msc_bluesky.sim import KineticParameters, ReactorGeometry, simulate_kinetics

#: Detectors of a condition when it does not say (``"detectors"`` key).
BOTH = ("uvvis", "saxs")


def _noisy(name: str, value: float, rng: np.random.Generator | None, noise: float) -> float:
    sigma = observable(name).default_sigma(value) * noise
    return value + rng.normal(0.0, sigma) if rng is not None and sigma > 0 else value


def synthetic_campaign_table(
    conditions: Iterable[Mapping[str, Any]],
    *,
    params: KineticParameters | None = None,
    rng: np.random.Generator | None = None,
    noise: float = 1.0,
    geometry: ReactorGeometry | None = None,
    path_length_cm: float = DEFAULT_PATH_LENGTH_CM,
) -> list[dict[str, Any]]:
    """Rows of analysis fields the model predicts at ``conditions``, with noise.

    Parameters
    ----------
    conditions : iterable of mapping
        ``t_nuc``, ``t_growth``, ``reaction_time`` and optionally ``detectors``
        (subset of ``("uvvis", "saxs")``; default both).
    params : KineticParameters, optional
        The truth (default: the model's own parameters).
    rng : numpy.random.Generator, optional
        Noise source; None gives noiseless values.
    noise : float
        Factor on the default uncertainties for the noise drawn (the rows do not say
        it: they carry no ``*_sigma``).
    geometry : ReactorGeometry, optional
    path_length_cm : float

    Returns
    -------
    list of dict
    """
    rows = []
    nan = math.nan
    for cond in conditions:
        tn, tg, t = (float(cond[k]) for k in ("t_nuc", "t_growth", "reaction_time"))
        detectors = tuple(cond.get("detectors", BOTH))
        comp = simulate_kinetics(tn, tg, t, geometry=geometry, params=params)
        row: dict[str, Any] = {"t_nuc": tn, "t_growth": tg, "reaction_time": t, "fit_ok": True}

        def put(name: str, value: float, row=row) -> float:
            row[name] = _noisy(name, value, rng, noise)
            return row[name]

        obs = model_observables(comp, path_length_cm)
        if "uvvis" in detectors:
            for fam in MSC_FAMILIES_NM:
                a = put(f"msc{fam}_absorbance", obs[f"msc{fam}_absorbance"])
                row[f"msc{fam}_detected"] = bool(a >= DETECTION_ABSORBANCE)
            nc_seen = obs["nc_concentration_molar"] > 1e-7 and math.isfinite(obs["nc_peak_nm"])
            if nc_seen:
                peak = put("nc_peak_nm", obs["nc_peak_nm"])
                row["nc_diameter_nm"] = float(yu_diameter_nm(peak))
                put("nc_concentration_molar", obs["nc_concentration_molar"])
            else:
                row.update(nc_peak_nm=nan, nc_diameter_nm=nan, nc_concentration_molar=nan)
        if "saxs" in detectors:
            pops = comp.populations()
            msc = [p for p in pops if p.radius_nm <= MSC_MAX_RADIUS_NM]
            nc = [p for p in pops if p.radius_nm > MSC_MAX_RADIUS_NM]
            found = []
            if msc:
                phi = sum(p.volume_fraction for p in msc)
                r = sum(p.radius_nm * p.volume_fraction for p in msc) / phi
                found.append((r, phi))
            if nc:  # the analysis reports the volume-weighted radius
                big = max(nc, key=lambda p: p.volume_fraction)
                found.append((obs["saxs_nc_radius_nm"], big.volume_fraction))
            put("saxs_total_volume_fraction", sum(p.volume_fraction for p in pops))
            found.sort(key=lambda p: -p[1])
            for i in range(1, 4):
                r, phi = found[i - 1] if i <= len(found) else (nan, nan)
                if math.isfinite(phi) and r <= MSC_MAX_RADIUS_NM:
                    phi = put("saxs_msc_volume_fraction", phi)
                elif math.isfinite(phi):
                    r = put("saxs_nc_radius_nm", r)
                row[f"saxs_pop{i}_radius_nm"], row[f"saxs_pop{i}_volume_fraction"] = r, phi
        rows.append(row)
    return rows
