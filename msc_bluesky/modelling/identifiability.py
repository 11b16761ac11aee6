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
called identified (the data then fix that it is small, not its value).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Largest relative standard error of an identified parameter (2σ within ±25 %).
RELATIVE_ERROR_LIMIT = 0.125
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
    """
    scale = max(1.0, float(reduced_chi2)) if np.isfinite(reduced_chi2) else 1.0
    cov = covariance_from_jacobian(jac, scale)
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
