"""Standard errors, correlations and which parameters the data identify.

From the weighted Jacobian ``J`` of the residuals at the optimum (fit coordinates:
``ln k`` for rate constants, kJ/mol for activation energies), the covariance is the
pseudo-inverse ``(JᵀJ)⁺`` scaled by ``max(1, χ²_red)`` — a fit worse than its
uncertainties say widens the errors, a better one never narrows them. Directions the
data do not constrain at all (singular values below ``RCOND`` of the largest) give an
infinite error to every parameter that loads on them.

A fitted parameter is **identified** when it is not at a bound of the fit and its
standard error is at most :data:`RELATIVE_ERROR_LIMIT` of its value: its 2σ interval
then lies within ±25 %. For a rate constant fitted as ``ln k`` that is
``σ(ln k) <= 0.125``. An activation energy compatible with zero is therefore never
called identified (the data then fix that it is small, not its value). A temperature
in °C has no natural zero, so a relative error means little for it: a fitted
temperature is identified when its standard error is at most
:data:`TEMPERATURE_ERROR_LIMIT_C` (its 2σ interval within ±10 °C, the spacing of a
campaign's temperature grid), passed as an absolute limit.

A switch temperature whose logistic is narrower than the spacing of the measured T_nuc
(:func:`sampling_error`) is only bracketed by the data: every value between the two
sampled temperatures around it fits about equally well, while the linearised error sees
just the exponential tail of the switch at those two points and is far too small. Its
standard error therefore includes, in quadrature, the spread of a value uniform over that
bracket, ``Δ/√12``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Largest relative standard error of an identified parameter (2σ within ±25 %).
RELATIVE_ERROR_LIMIT = 0.125
#: Largest standard error (°C) of an identified temperature.
TEMPERATURE_ERROR_LIMIT_C = 5.0
#: Singular values below this fraction of the largest count as zero.
RCOND = 1.0e-9
#: A parameter loading more than this on an unconstrained direction gets an infinite error.
NULL_LOADING = 1.0e-3
#: Distance (fit coordinates) from a bound that counts as "at the bound".
BOUND_TOLERANCE = 1.0e-4


@dataclass(frozen=True)
class Identifiability:
    """Uncertainty of the fitted parameters.

    Attributes
    ----------
    covariance : numpy.ndarray
        Covariance in fit coordinates (inf on the diagonal for unconstrained ones).
    stderr_internal : numpy.ndarray
        Standard errors in fit coordinates.
    correlation : numpy.ndarray
        Correlation matrix (NaN where an error is infinite).
    identified : numpy.ndarray of bool
    reasons : list of str
        Why each parameter is or is not identified.
    scale : float
        Factor applied to the covariance (``max(1, χ²_red)``).
    """

    covariance: np.ndarray
    stderr_internal: np.ndarray
    correlation: np.ndarray
    identified: np.ndarray
    reasons: list[str]
    scale: float


def covariance_from_jacobian(jac: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """``scale · (JᵀJ)⁺`` with infinite variance along unconstrained directions."""
    n = jac.shape[1]
    _, s, vt = np.linalg.svd(jac, full_matrices=True) if jac.size else (None, np.zeros(0), None)
    if vt is None:
        cov = np.full((n, n), np.nan)
        np.fill_diagonal(cov, np.inf)
        return cov
    s_full = np.zeros(n)
    s_full[: s.size] = s
    good = s_full > RCOND * (s_full.max() if s_full.size else 0.0)
    v = vt.T
    inv = np.where(good, 1.0 / np.where(good, s_full, 1.0) ** 2, 0.0)
    cov = (v * inv) @ v.T * scale
    null = v[:, ~good]
    if null.size:
        loose = np.abs(null).max(axis=1) > NULL_LOADING
        cov[loose, :] = np.where(np.eye(n, dtype=bool)[loose], np.inf, np.nan)
        cov[:, loose] = np.where(np.eye(n, dtype=bool)[:, loose], np.inf, np.nan)
    return cov


def assess(
    jac: np.ndarray,
    u: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    values: np.ndarray,
    log_scaled: np.ndarray,
    reduced_chi2: float,
    absolute_limit: np.ndarray | None = None,
    sampling: np.ndarray | None = None,
) -> Identifiability:
    """Covariance, correlations and identification of the fitted parameters.

    Parameters
    ----------
    jac : numpy.ndarray
        Weighted residual Jacobian at the optimum, in fit coordinates.
    u, lower, upper : numpy.ndarray
        Optimum and bounds in fit coordinates.
    values : numpy.ndarray
        Optimum in model units.
    log_scaled : numpy.ndarray of bool
        Which coordinates are logarithms.
    reduced_chi2 : float
        χ² per degree of freedom at the optimum.
    absolute_limit : numpy.ndarray, optional
        Per parameter, the largest standard error (model units) of an identified one;
        NaN (or no array) means the relative limit :data:`RELATIVE_ERROR_LIMIT`.
    sampling : numpy.ndarray, optional
        Per parameter, a standard error (fit coordinates) added in quadrature to the
        linearised one (:func:`sampling_error`; 0 for none).
    """
    scale = max(1.0, float(reduced_chi2)) if np.isfinite(reduced_chi2) else 1.0
    cov = covariance_from_jacobian(jac, scale)
    if sampling is not None:
        cov[np.diag_indices_from(cov)] += np.asarray(sampling, dtype=float) ** 2
    with np.errstate(invalid="ignore"):
        sd = np.sqrt(np.diag(cov))
        corr = cov / np.outer(sd, sd)
    corr[~np.isfinite(corr)] = np.nan
    np.fill_diagonal(corr, np.where(np.isfinite(sd), 1.0, np.nan))
    relative = np.where(log_scaled, sd, sd / np.maximum(np.abs(values), 1e-300))
    identified = np.zeros(u.size, dtype=bool)
    reasons = []
    for i in range(u.size):
        at_bound = u[i] - lower[i] < BOUND_TOLERANCE or upper[i] - u[i] < BOUND_TOLERANCE
        if at_bound:
            reasons.append("at a bound of the fit")
        elif not np.isfinite(sd[i]):
            reasons.append("the data do not constrain it")
        elif absolute_limit is not None and np.isfinite(absolute_limit[i]):
            if sd[i] > absolute_limit[i]:
                reasons.append(f"standard error {sd[i]:.3g} > {absolute_limit[i]:.3g}")
            else:
                identified[i] = True
                reasons.append(f"standard error {sd[i]:.3g}")
        elif relative[i] > RELATIVE_ERROR_LIMIT:
            reasons.append(f"relative error {relative[i]:.0%} > {RELATIVE_ERROR_LIMIT:.1%}")
        else:
            identified[i] = True
            reasons.append(f"relative error {relative[i]:.1%}")
    return Identifiability(cov, sd, corr, identified, reasons, scale)


def stderr_in_model_units(
    stderr_internal: np.ndarray, values: np.ndarray, log_scaled: np.ndarray
) -> np.ndarray:
    """Standard errors in model units (``k σ(ln k)`` for rate constants)."""
    with np.errstate(invalid="ignore"):
        return np.where(log_scaled, np.abs(values) * stderr_internal, stderr_internal)


def sampling_error(value: float, sampled: np.ndarray, width: float | None) -> float:
    """Standard error (°C) of a switch at ``value`` that a T_nuc grid only brackets.

    Parameters
    ----------
    value : float
        Fitted switch temperature (°C).
    sampled : numpy.ndarray
        The distinct T_nuc (°C) the campaign measured.
    width : float or None
        Logistic width (°C) of the switch; None for a temperature without one.

    Returns
    -------
    float
        ``Δ/√12`` with ``Δ`` the spacing of the sampled temperatures around ``value``,
        when the switch is narrower than ``Δ``; 0 when the data resolve its flank, it
        has no width, or it lies outside the sampled range.
    """
    t = np.unique(np.asarray(sampled, dtype=float))
    if width is None or t.size < 2 or not t[0] < value < t[-1]:
        return 0.0
    i = int(np.searchsorted(t, value))
    spacing = float(t[i] - t[i - 1])
    return spacing / np.sqrt(12.0) if width < spacing else 0.0


#: Residuals (in σ) beyond which an observation counts linearly, not squared (Huber):
#: an analysis readout gone wrong (a misread bimodal NC exciton) must not drag the fit.
HUBER_K = 3.0


def robust_weights(z: np.ndarray, k: float = HUBER_K) -> np.ndarray:
    """Huber weights ``min(1, k/|z|)`` of normalised residuals (IRLS form)."""
    a = np.abs(np.asarray(z, dtype=float))
    return np.where(a <= k, 1.0, k / np.maximum(a, 1e-300))


def robust_chi2(z: np.ndarray, k: float = HUBER_K) -> float:
    """Huber χ²: ``z²`` within ``k``, ``2k|z| − k²`` beyond (χ² when nothing is beyond)."""
    a = np.abs(np.asarray(z, dtype=float))
    return float(np.sum(np.where(a <= k, a * a, 2 * k * a - k * k)))


def sandwich_covariance(
    jac: np.ndarray, z: np.ndarray, groups: np.ndarray | None = None, k: float = HUBER_K
) -> np.ndarray:
    """Cluster-robust covariance ``H⁻¹ (Σ_c g_c g_cᵀ) H⁻¹``, ``H = Jᵀ W J``.

    ``g_c = Σ_{i in c} J_i w_i z_i`` sums the score over the observations of one
    cluster ``c`` (``groups``: one label per residual, e.g. the condition; default each
    observation alone). It does not trust the stated uncertainties: where residuals
    scatter more than their σ says, or several readouts of one condition drift
    together (NC peak, NC concentration and SAXS radius read from one population), the
    parameters they inform get the wider error that scatter implies. Infinite variance
    along directions the data do not constrain (as :func:`covariance_from_jacobian`).
    """
    w = robust_weights(z, k)
    base = covariance_from_jacobian(jac * np.sqrt(w)[:, None])
    finite = np.isfinite(np.diag(base))
    out = base.copy()
    if finite.any():
        h_inv = base[np.ix_(finite, finite)]
        g = jac[:, finite] * (w * z)[:, None]
        if groups is not None:
            labels, inverse = np.unique(np.asarray(groups), return_inverse=True)
            summed = np.zeros((labels.size, g.shape[1]))
            np.add.at(summed, inverse, g)
            g = summed
        out[np.ix_(finite, finite)] = h_inv @ (g.T @ g) @ h_inv
    return out


def select_identifiable(
    jac: np.ndarray,
    u: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    values: np.ndarray,
    log_scaled: np.ndarray,
    reduced_chi2: float,
    absolute_limit: np.ndarray | None = None,
    sampling: np.ndarray | None = None,
    active: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[int, str]]:
    """The largest set of parameters the data identify together, found greedily.

    Starting from ``active`` (default all), the parameter that fails :func:`assess`
    worst (at a bound or unconstrained first, then the largest error relative to its
    limit) is dropped and the errors of the rest recomputed *given* it (the covariance
    of the remaining columns of the Jacobian: holding a parameter removes its
    correlations), until every remaining one is identified. No model run is needed.

    Returns
    -------
    keep : numpy.ndarray of bool
        Parameters to keep fitting.
    dropped : dict
        Index -> why it was dropped (its :func:`assess` reason at the time).
    """
    n = u.size
    keep = np.ones(n, dtype=bool) if active is None else np.asarray(active, dtype=bool).copy()
    limit = absolute_limit if absolute_limit is not None else np.full(n, np.nan)
    extra = sampling if sampling is not None else np.zeros(n)
    dropped: dict[int, str] = {}
    while keep.any():
        idx = np.flatnonzero(keep)
        ident = assess(
            jac[:, idx], u[idx], lower[idx], upper[idx], values[idx], log_scaled[idx],
            reduced_chi2, limit[idx], extra[idx],
        )
        if ident.identified.all():
            break
        sd = ident.stderr_internal
        relative = np.where(
            log_scaled[idx], sd, sd / np.maximum(np.abs(values[idx]), 1e-300)
        )
        badness = np.where(
            np.isfinite(limit[idx]), sd / np.where(np.isfinite(limit[idx]), limit[idx], 1.0),
            relative / RELATIVE_ERROR_LIMIT,
        )
        badness = np.where(np.isfinite(badness), badness, np.inf)
        for j, reason in enumerate(ident.reasons):
            if "bound" in reason:
                badness[j] = np.inf
        badness[ident.identified] = -np.inf
        worst = int(np.argmax(badness))
        dropped[int(idx[worst])] = ident.reasons[worst]
        keep[idx[worst]] = False
    return keep, dropped
