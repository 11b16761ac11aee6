"""Profile likelihood of the fitted parameters, by the chord method.

The linearised error of a parameter assumes χ² is a quadratic bowl around the optimum.
Along a curved valley (a parameter traded against a correlated one) the true profile —
χ² minimised over every other parameter with this one fixed — rises more slowly, and
the linearised error is too small. For each fitted parameter ``θ`` the profile is
evaluated at ``θ̂ ± PROFILE_SIGMAS σ``: the others start on the linearised conditional
optimum (the covariance's regression line) and are then re-optimised by
``CHORD_STEPS`` Gauss–Newton steps that reuse the Jacobian of the optimum (the chord
method: one model run per step, no new Jacobian). From the rise ``Δχ²`` at the offset
``d`` the profile error is ``d √(s / Δχ²)`` (``s`` the error scale, ``max(1, χ²_red)``),
the error a quadratic through that point gives; a side that does not rise at all, or
whose offset reaches a bound of the fit, is unbounded (infinite error). The chord
re-optimisation stops above the true minimum, so the profile error is a lower bound of
the true one: it only ever widens the reported error.

All ``2 n (1 + CHORD_STEPS)`` model runs of the ``n`` parameters are batched, so they
spread over the worker processes like a Jacobian.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from msc_bluesky.modelling.identifiability import robust_chi2, robust_weights

#: Offset (in linearised standard errors) at which the profile is evaluated.
PROFILE_SIGMAS = 2.0
#: Gauss–Newton steps (each one model run) that re-optimise the other parameters.
CHORD_STEPS = 2


def profile_errors(
    evaluate: Callable[[Sequence[np.ndarray]], list[np.ndarray]],
    u: np.ndarray,
    active: np.ndarray,
    jac: np.ndarray,
    covariance: np.ndarray,
    stderr: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Profile standard errors of the fitted parameters.

    Parameters
    ----------
    evaluate : callable
        Full fit-coordinate vectors -> their normalised residuals ``(model − data)/σ``.
    u : numpy.ndarray
        Optimum (full fit-coordinate vector, held parameters included).
    active : numpy.ndarray of int
        Indices of the fitted parameters in ``u``.
    jac : numpy.ndarray
        Residual Jacobian at ``u``, columns of ``active``.
    covariance : numpy.ndarray
        Covariance of the fitted parameters (fit coordinates, ``active`` order).
    stderr : numpy.ndarray
        Their standard errors (sets the offsets).
    lower, upper : numpy.ndarray
        Bounds of the fit (full vectors).
    scale : float
        Error scale ``s``: the profile's 1σ level is ``Δχ² = s``.

    Returns
    -------
    sigma : numpy.ndarray
        Profile error per fitted parameter (``inf`` when a side is unbounded).
    rise : numpy.ndarray
        ``(n, 2)`` rise of the robust χ² at ``−d`` and ``+d``, in units of ``s``.
    """
    active = np.asarray(active, dtype=int)
    n = active.size
    z0 = evaluate([u])[0]
    f0 = robust_chi2(z0)
    points, offsets, reaches_bound = [], [], []
    for a in range(n):
        i = active[a]
        for sign in (-1.0, 1.0):
            d = sign * PROFILE_SIGMAS * stderr[a]
            target = u[i] + d if np.isfinite(d) else u[i]
            clipped = min(max(target, lower[i]), upper[i])
            reaches_bound.append(bool(clipped != target) or not np.isfinite(d))
            v = u.copy()
            if np.isfinite(d) and covariance[a, a] > 0:
                v[active] += covariance[:, a] / covariance[a, a] * (clipped - u[i])
            v[i] = clipped
            v = np.clip(v, lower, upper)
            points.append(v)
            offsets.append(clipped - u[i])
    values = evaluate(points)
    costs = [robust_chi2(z) for z in values]
    for _ in range(CHORD_STEPS):
        trial = []
        for k, (v, z) in enumerate(zip(points, values, strict=True)):
            a = k // 2
            others = np.delete(np.arange(n), a)
            w = np.sqrt(robust_weights(z))
            step = np.linalg.lstsq(jac[:, others] * w[:, None], -z * w, rcond=None)[0]
            t = v.copy()
            t[active[others]] += step
            trial.append(np.clip(t, lower, upper))
        new = evaluate(trial)
        for k, z in enumerate(new):
            c = robust_chi2(z)
            if np.isfinite(c) and c < costs[k]:
                points[k], values[k], costs[k] = trial[k], z, c
    rise = (np.asarray(costs) - f0).reshape(n, 2) / max(scale, 1e-300)
    off = np.abs(np.asarray(offsets)).reshape(n, 2)
    bound = np.asarray(reaches_bound).reshape(n, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        side = np.where(rise > 0, off / np.sqrt(np.maximum(rise, 1e-300)), np.inf)
    # Reaching a bound before the profile rose by 1 (in units of s): unbounded there.
    side = np.where(bound & (rise < 1.0), np.inf, side)
    return side.max(axis=1), rise
