"""Amplitude of the analysis–model discrepancy, estimated from the campaign being fitted.

Every observation's uncertainty is ``σ_i = hypot(noise_i, a_g law_i, c_g flat_i)``: the
noise the analysis reports, and the two parts of the discrepancy of
:meth:`.observables.Observable.discrepancy_parts` (their *shape*: for the NC exciton
readouts a law in the exciton width squared plus a flat floor, else the flat default),
each times an amplitude per observable group ``g`` (one analysis field). The default
amplitudes of :data:`.observables.OBSERVABLES` were read off one campaign analysed by one
analysis version; another analysis reads the same quantities closer to or further from
the model. So the amplitudes are variance components estimated from the fit's own
residuals ``r_i`` (readout offsets profiled out): they minimise

    Σ_{i∈g} [ρ(r_i / σ_i) + E[ρ] (1 − h_i) ln σ_i²]

(Gaussian likelihood with the Huber ρ, ``h_i`` the leverage of observation ``i``, so the
fitted parameters' share of the residuals is not counted as scatter), within
``[SCALE_MIN, SCALE_MAX]``. ``SCALE_MIN`` is 1: the campaign may widen a default, not
narrow it. Residual scatter cannot see a discrepancy that is smooth across the
conditions (the parameters absorb it): on the 26-condition recovery campaign the
unconstrained amplitudes are 0.05–0.5 for most groups, and errors narrowed by them
leave the twin's k_ripening 4.2 errors away (docs/modelling.md).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.stats import norm

from msc_bluesky.modelling.identifiability import HUBER_K

#: Range of an estimated amplitude, relative to the default discrepancy.
SCALE_MIN, SCALE_MAX = 1.0, 20.0

#: Fewest observations (and degrees of freedom) a group needs for its own amplitude;
#: smaller groups keep the default (amplitude 1).
MIN_GROUP_DOF = 5.0


def _huber(z: np.ndarray, k: float = HUBER_K) -> np.ndarray:
    a = np.abs(z)
    return np.where(a <= k, a * a, 2 * k * a - k * k)


#: Expected Huber χ² of one standard normal residual (k = HUBER_K): the target per dof.
_EXPECTED_HUBER = float(
    (2 * norm.cdf(HUBER_K) - 1) + 2 * HUBER_K * norm.pdf(HUBER_K)
    - 2 * HUBER_K**2 * norm.sf(HUBER_K)
)


def leverages(jac: np.ndarray, n_obs: int, rcond: float = 1e-9) -> np.ndarray:
    """Diagonal of the hat matrix ``J (JᵀJ)⁺ Jᵀ`` for the first ``n_obs`` rows."""
    if jac is None or jac.size == 0:
        return np.zeros(n_obs)
    u, s, _ = np.linalg.svd(np.nan_to_num(jac), full_matrices=False)
    keep = s > rcond * (s.max() if s.size else 0.0)
    return np.sum(u[:n_obs, keep] ** 2, axis=1)


def group_scales(
    residual: np.ndarray, noise: np.ndarray, law: np.ndarray, flat: np.ndarray,
    leverage: np.ndarray,
) -> tuple[float, float]:
    """Amplitudes ``(a, c)`` of the width law and the flat part of one group.

    They minimise ``Σ ρ(r/σ) + E[ρ] (1 − h) ln σ²`` with ``σ = hypot(noise, a law, c
    flat)`` (Gaussian likelihood, Huber ρ, leverage-corrected: the residual degrees of
    freedom), within ``[SCALE_MIN, SCALE_MAX]``; a part absent from the group keeps 1.
    """
    weight = 1.0 - np.clip(leverage, 0.0, 1.0)
    if float(weight.sum()) < MIN_GROUP_DOF or residual.size == 0:
        return 1.0, 1.0
    has = (bool(np.any(law > 0)), bool(np.any(flat > 0)))
    if not any(has):
        return 1.0, 1.0

    def full(x: np.ndarray) -> tuple[float, float]:
        it = iter(np.exp(x))
        return tuple(next(it) if h else 1.0 for h in has)

    def objective(x: np.ndarray) -> float:
        a, c = full(x)
        s2 = noise**2 + (a * law) ** 2 + (c * flat) ** 2
        s2 = np.maximum(s2, 1e-300)
        return float(np.sum(_huber(residual / np.sqrt(s2)) + _EXPECTED_HUBER * weight * np.log(s2)))

    n = sum(has)
    bounds = [(np.log(SCALE_MIN), np.log(SCALE_MAX))] * n
    best = minimize(objective, np.zeros(n), method="L-BFGS-B", bounds=bounds)
    return full(best.x)


def estimate_scales(
    z: np.ndarray, sigma: np.ndarray, noise: np.ndarray, law: np.ndarray, flat: np.ndarray,
    groups: np.ndarray, predicted: np.ndarray, leverage: np.ndarray,
) -> dict[int, tuple[float, float]]:
    """Per group label in ``groups``, the discrepancy amplitudes the residuals support.

    Parameters
    ----------
    z : numpy.ndarray
        Normalised residuals of the observations (readout offsets included).
    sigma, noise, law, flat : numpy.ndarray
        Per observation: current σ, reported noise, and the two discrepancy parts at
        amplitude 1 (:meth:`.observables.Observable.discrepancy_parts`).
    groups : numpy.ndarray
        Group label (observable column) per observation.
    predicted : numpy.ndarray
        False where the model has no value (residual fixed, not informative).
    leverage : numpy.ndarray
        Hat-matrix diagonal per observation.

    Returns
    -------
    dict
        group -> ``(width-law amplitude, flat amplitude)``.
    """
    residual = z * sigma
    out = {}
    for g in np.unique(groups):
        m = (groups == g) & predicted
        out[int(g)] = group_scales(residual[m], noise[m], law[m], flat[m], leverage[m])
    return out
