"""Find the NC first exciton: the lowest-energy excitonic transition.

:func:`find_nc` (used by :func:`msc_bluesky.analysis.uvvis.fit_spectrum`):

1. Candidates: the reddest major hump left by a model without NC, and curvature maxima
   (``−d²A/dλ²``: peaks *and* shoulders) between 465 and 665 nm. A real CdSe first
   exciton is often only a shoulder of stronger higher transitions.
2. Every candidate is fitted with the screening block of
   :mod:`~msc_bluesky.analysis.spectrum_model` (higher transitions only blue of the
   exciton, nothing red of it): a guess at a higher transition leaves the true first
   exciton unexplained and loses on noise-weighted χ². The best one starts
3. the transitions model ``(E1, s1, o2, r2, o3, σ3)``: the second and third transition
   start at the strongest curvature maxima in their ranges, then a joint coarse grid over
   both (all pairs solved at once), then Levenberg–Marquardt by variable projection
   (non-negative amplitudes, Kaufman's Jacobian with analytic derivatives).
4. The NC is kept when the exciton lies redder than 470 nm (regular NCs are larger than
   every MSC), is 8σ deep, stands 8× out of the model's own misfit and the NC lowers χ²
   by ≥ 19 % (:func:`_is_nc`).
5. A further candidate is refined only when the first refinement failed: its χ² is not
   well below the flexible screen's (stuck in a local minimum) while the runner-up
   screened about as well, or its fit is no acceptable NC (:func:`best_nc`). A candidate
   whose fit is worse by more than 5² χ²ᵣ than a fit whose exciton went bluer than
   470 nm is not the NC either: the spectrum is better described without one there.
6. A fit that does not describe the spectrum (χ²ᵣ > 2) is refitted from excitons
   0.015 and 0.03 eV to either side; the lowest acceptable χ² wins (:func:`_restarted`).
7. An MSC family within one exciton FWHM blue of the exciton (the 465–467 family beside
   an NC at 470–490 nm) must beat the exciton moved onto it: the transitions model
   without the family's columns is fitted, and the band's likelihood-ratio z below 5
   drops it (:func:`_overlapping_bands`; the detection caps the band's significance
   at that z).
"""

from __future__ import annotations

import copy
import functools

import numpy as np
from scipy.linalg import lapack
from scipy.optimize import nnls
from scipy.signal import savgol_coeffs

from msc_bluesky.analysis.spectrum_model import (
    FAMILY_CENTRES_NM,
    HC_EV_NM,
    NC_SIGMA_EV,
    SECOND_OFFSET_EV,
    SECOND_WIDTH,
    THIRD_OFFSET_EV,
    THIRD_SIGMA_EV,
    Basis,
    basis_for,
    higher_sigma,
    nc_offsets,
    transitions_block,
)

#: Range (nm) in which curvature maxima propose first-exciton candidates, the widths
#: (nm) of the curvature filters, and how many of the reddest are kept.
NC_SEARCH_NM = (465.0, 665.0)
CURVATURE_WINDOWS_NM = (15.0, 35.0)
MAX_NC_CANDIDATES = 4
#: Curvature maxima must exceed this many σ of the filter's own noise.
CANDIDATE_SIGMA = 5.0
#: Exciton σ (eV) a curvature candidate starts from.
NC_GUESS_SIGMA_EV = 0.045
#: Candidates refined after the NNLS screen.
REFINE = 1
#: A refined fit whose χ² is not below this fraction of the best screening χ² (the
#: flexible block at the unrefined guess) may be stuck: up to STUCK_EXTRA more
#: candidates (next best screened first) are refined, and the lowest χ² wins ...
STUCK_CHI2_RATIO = 0.9
STUCK_EXTRA = 1
#: ... provided the candidate's screening χ² is within this factor of the best's (the
#: screen could not tell them apart).
STUCK_SCREEN_RATIO = 1.5
#: When no refined fit is an acceptable NC, up to this many more candidates are refined.
REJECTED_EXTRA = 1
#: An NC exciton bluer than this (nm) is not reported: regular NCs are larger than the
#: largest MSC family (465–467 nm, d ≈ 2.06 nm).
NC_MIN_PEAK_NM = 470.0

_SIG_PER_FWHM = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
_FWHM_PER_SIGMA = 1.0 / _SIG_PER_FWHM


def solve_small(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.linalg.solve(a, b)`` for one small system by LAPACK ``gesv`` directly (the
    same LU with partial pivoting, without NumPy's per-call overhead, which dominates
    at these sizes).

    Raises
    ------
    numpy.linalg.LinAlgError
        When ``a`` is singular.
    """
    _, _, x, info = lapack.dgesv(a, b)
    if info != 0:
        raise np.linalg.LinAlgError("Singular matrix")
    return x


def solve(a: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Non-negative least squares; returns the coefficients and the residual norm."""
    coef, rnorm = nnls(a, y, maxiter=20 * a.shape[1])
    return coef, float(rnorm)


def hump_guess(basis: Basis, residual: np.ndarray, noise: float) -> tuple[float, float] | None:
    """Reddest major broad hump in the residual of the no-NC model, as (E, σ) in eV."""
    lam = basis.lam
    window = max(5, int(round(16.0 / basis.step)) | 1)
    if window >= lam.size:
        return None
    # savgol_filter(residual, window, 2, mode="nearest") with a cached kernel
    half = window // 2
    smooth = np.convolve(np.pad(residual, half, mode="edge"), _smoothing_filter(window),
                         mode="valid")
    inner = np.arange(2, lam.size - 2)
    is_max = (smooth[inner] >= smooth[inner - 1]) & (smooth[inner] > smooth[inner + 1])
    peaks = inner[is_max & (smooth[inner] > 5.0 * noise) & (lam[inner] >= NC_MIN_PEAK_NM - 5.0)]
    near_msc = np.array(
        [min(abs(lam[i] - c) for c in FAMILY_CENTRES_NM.values()) <= 4.0 for i in peaks],
        dtype=bool,
    )
    peaks = peaks[~near_msc] if peaks.size else peaks
    if peaks.size == 0:
        return None
    major = peaks[smooth[peaks] >= 0.3 * smooth[peaks].max()]
    i = int(major.max())
    half = smooth[i] / 2.0
    lo = i
    while lo > 0 and smooth[lo] > half:
        lo -= 1
    hi = i
    while hi < lam.size - 1 and smooth[hi] > half:
        hi += 1
    fwhm_ev = abs(basis.energy[lo] - basis.energy[hi])
    s = float(np.clip(fwhm_ev * _SIG_PER_FWHM, *NC_SIGMA_EV))
    return float(basis.energy[i]), s


@functools.lru_cache(maxsize=16)
def _smoothing_filter(window: int) -> np.ndarray:
    return savgol_coeffs(window, 2, use="conv")


@functools.lru_cache(maxsize=16)
def _second_derivative_filter(window: int) -> np.ndarray:
    return savgol_coeffs(window, 3, deriv=2, use="conv")


def curvature_maxima(basis: Basis, y: np.ndarray, sigma: np.ndarray,
                     width_nm: float) -> list[tuple[float, float]]:
    """(energy, strength in σ) of significant curvature maxima anywhere, strongest first."""
    lam = basis.lam
    step = basis.step
    window = max(7, int(round(width_nm / step)) | 1)
    if window >= lam.size:
        return []
    coeffs = _second_derivative_filter(window)
    curvature = -np.convolve(y, coeffs, mode="same")
    noise = np.sqrt(np.convolve(sigma**2, coeffs**2, mode="same"))
    inner = np.arange(window // 2, lam.size - window // 2)
    c = curvature[inner]
    ok = (c > curvature[inner - 1]) & (c >= curvature[inner + 1])
    ok &= c > CANDIDATE_SIGMA * noise[inner]
    idx = inner[ok]
    order = np.argsort(-(curvature[idx] / noise[idx]))
    return [(float(basis.energy[i]), float(curvature[i] / noise[i])) for i in idx[order]]


def curvature_candidates(basis: Basis, y: np.ndarray, sigma: np.ndarray) -> list[float]:
    """Energies of curvature maxima (peaks and shoulders) in the NC range, reddest first."""
    lam = basis.lam
    step = basis.step
    lo, hi = NC_SEARCH_NM
    found: list[int] = []
    inner = np.arange(1, lam.size - 1)
    for width_nm in CURVATURE_WINDOWS_NM:
        window = max(7, int(round(width_nm / step)) | 1)
        if window >= lam.size:
            continue
        coeffs = _second_derivative_filter(window)
        curvature = -np.convolve(y, coeffs, mode="same")
        noise = np.sqrt(np.convolve(sigma**2, coeffs**2, mode="same"))
        c = curvature[inner]
        ok = (c > curvature[inner - 1]) & (c >= curvature[inner + 1])
        ok &= c > CANDIDATE_SIGMA * noise[inner]
        ok &= (lam[inner] >= lo) & (lam[inner] <= hi)
        for i in inner[ok]:
            if all(abs(lam[i] - lam[j]) > 6.0 for j in found):
                found.append(int(i))
    found.sort(reverse=True)
    return [float(basis.energy[i]) for i in found[:MAX_NC_CANDIDATES]]


def best_nc(basis: Basis, y_w: np.ndarray, w: np.ndarray,
            guesses: list[tuple[float, float]], accept=None):
    """Screen ``guesses`` by weighted NNLS χ² of the flexible model, fit the parametric
    model from the best :data:`REFINE`; returns ``(params6, coef, rnorm, jacobian)`` of
    the lowest χ², or None.

    More candidates are refined (next best screened first) when the first fit looks
    stuck (:data:`STUCK_CHI2_RATIO`, :data:`STUCK_SCREEN_RATIO`) and, when ``accept``
    (a test of a fit) is given, when no fit so far passes it
    (:data:`REJECTED_EXTRA`); the lowest χ² among accepted fits wins then.
    """
    if not guesses:
        return None
    scored = []
    for g in guesses:
        coef, rnorm = solve(basis.matrix(g) * w[:, None], y_w)
        scored.append((rnorm, g, coef))
    scored.sort(key=lambda t: t[0])

    def refine(i: int):
        _, g, coef = scored[i]
        return fit_transitions(basis, y_w, w, _start(basis, y_w, w, g, coef))

    fits = [refine(i) for i in range(min(REFINE, len(scored)))]
    # Started from the flexible fit and free to move the exciton, the transitions model
    # explains the spectrum far better than the flexible block at the unrefined guess
    # (median χ² ratio ~0.3 on the independent spectra). When it does not, the fit may
    # be stuck in a local minimum of the transitions' χ²; a runner-up the screen could
    # not tell from the best (χ² within STUCK_SCREEN_RATIO of it) is refined too.
    chi2_screen = scored[0][0] ** 2
    while (len(fits) < min(REFINE + STUCK_EXTRA, len(scored))
           and min(f[2] for f in fits) ** 2 >= STUCK_CHI2_RATIO * chi2_screen
           and scored[len(fits)][0] ** 2 <= STUCK_SCREEN_RATIO * chi2_screen):
        fits.append(refine(len(fits)))
    if accept is None:
        return min(fits, key=lambda r: r[2])
    # A best fit that is no acceptable NC (e.g. a higher transition taken for the
    # exciton and rejected) does not end the search while candidates remain.
    ok = [f for f in fits if accept(f)]
    extra = 0
    while not ok and extra < REJECTED_EXTRA and len(fits) < len(scored):
        fits.append(refine(len(fits)))
        extra += 1
        ok = [f for f in fits[-1:] if accept(f)]
    return min(ok or fits, key=lambda r: r[2])


def _start(basis: Basis, y_w: np.ndarray, w: np.ndarray, guess: tuple[float, float],
           coef: np.ndarray) -> tuple[float, ...]:
    """Starting ``(E1, s1, o2, r2, o3, σ3)`` from the flexible fit at ``guess``.

    The flexible columns' amplitudes give the second transition (area-weighted mean offset
    and spread in the second's range) and the third; resolved transitions are curvature
    maxima of the spectrum without the fitted MSC bands, which win when present.
    """
    e1, s1 = guess
    offs = nc_offsets(s1, e1, float(basis.energy[0]))
    amp = coef[basis.n_fixed + 2:basis.n_fixed + 2 + offs.size]
    area = amp * higher_sigma(s1, offs)

    def moments(lo: float, hi: float, o_def: float, s_def: float) -> tuple[float, float]:
        m = (offs >= lo) & (offs < hi) & (area > 0)
        if not m.any():
            return o_def, s_def
        o = float(np.average(offs[m], weights=area[m]))
        var = float(np.average((offs[m] - o) ** 2 + higher_sigma(s1, offs[m]) ** 2,
                               weights=area[m]))
        return o, np.sqrt(var)

    found2 = found3 = False
    o2, sd2 = moments(SECOND_OFFSET_EV[0], SECOND_OFFSET_EV[1], 0.2, 1.5 * s1)
    o3, sd3 = moments(THIRD_OFFSET_EV[0], THIRD_OFFSET_EV[1], 0.55, 0.09)
    msc = basis.msc @ coef[basis.n_bg:basis.n_fixed]
    for e, _ in curvature_maxima(basis, y_w / w - msc, 1.0 / w, CURVATURE_WINDOWS_NM[0]):
        o = e - e1
        if SECOND_OFFSET_EV[0] <= o < SECOND_OFFSET_EV[1] and not found2:
            o2, sd2, found2 = o, 1.4 * s1, True
        elif THIRD_OFFSET_EV[0] <= o < THIRD_OFFSET_EV[1] and not found3:
            o3, sd3, found3 = o, 0.08, True
    return (e1, s1, o2, sd2 / s1, o3, sd3)


def fit_transitions(basis: Basis, y_w: np.ndarray, w: np.ndarray, start: tuple[float, ...],
                    iterations: int = 12, search: bool = True, e1_max: float = np.inf):
    """Variable projection over ``(E1, s1, o2, r2, o3, σ3)`` from ``start``.

    The background, MSC and continuum columns NNLS uses at the start are projected out
    once (the continuum's knots are absolute, so they do not move with the exciton); only
    the four transition columns move. A final NNLS at the optimum gives the amplitudes.
    ``e1_max`` caps the exciton energy (eV). Returns ``(params6, coef, rnorm,
    jacobian)`` (Jacobian of the weighted residual).
    """
    e_max = min(float(basis.energy[0]), e1_max)
    e1 = min(start[0], e_max)
    lo = np.array([max(float(basis.energy[-1]), e1 - 0.05), NC_SIGMA_EV[0], SECOND_OFFSET_EV[0],
                   SECOND_WIDTH[0], THIRD_OFFSET_EV[0], THIRD_SIGMA_EV[0]])
    hi = np.array([min(e_max, e1 + 0.05), NC_SIGMA_EV[1], SECOND_OFFSET_EV[1],
                   SECOND_WIDTH[1], THIRD_OFFSET_EV[1], THIRD_SIGMA_EV[1]])
    p0 = np.clip(np.array(start, dtype=float), lo, hi)
    a_start = basis.matrix(tuple(p0)) * w[:, None]
    coef0, _ = solve(a_start, y_w)
    n_fixed = basis.n_fixed
    keep = coef0 > 0
    keep[n_fixed:n_fixed + 4] = False
    others = a_start[:, keep]
    q = np.linalg.qr(others)[0] if others.shape[1] else np.zeros((y_w.size, 0))
    r_fixed = y_w - q @ (q.T @ y_w)
    energy = basis.energy

    last: dict[str, object] = {}

    def fun(p: np.ndarray, jac: bool = True):
        # Residual of the weighted data projected on [others, G(p)]; Kaufman's
        # approximation of its Jacobian, −P⊥ (∂G/∂p) a, with analytic ∂G/∂p. The last
        # point's projection is kept: an accepted step asks for its Jacobian next.
        key = p.tobytes()
        if jac and last.get("jac_key") == key:  # the optimum's, asked for again at the end
            return last["jac"]
        if last.get("key") == key:
            g_perp, a, r, parts = last["state"]
        else:
            g, parts = _transitions_columns(energy, p)
            g = g * w[:, None]
            g_perp = g - q @ (q.T @ g)
            # the transitions' amplitudes are non-negative (a dip is not a transition)
            a = small_nnls(g_perp, r_fixed, last.get("support"))
            last["support"] = a > 0
            r = r_fixed - g_perp @ a
            last["key"], last["state"] = key, (g_perp, a, r, parts)
        if not jac:
            return r, None
        d = _weighted_derivative(p, parts, a) * w[:, None]
        d -= q @ (q.T @ d)
        act = g_perp[:, a > 0]
        if act.shape[1]:
            gtg = act.T @ act
            gtg.flat[::gtg.shape[0] + 1] += 1e-10 * max(float(np.trace(gtg)), 1e-300)
            d -= act @ solve_small(gtg, act.T @ d)
        last["jac_key"], last["jac"] = key, (r, -d)
        return r, -d

    if search:
        cost = lambda p: float(np.sum(fun(p, False)[0] ** 2))  # noqa: E731
        best_s1 = min((np.clip(p0[1] * g, lo[1], hi[1]) for g in SEARCH_S1),
                      key=lambda v: cost(np.array([p0[0], v, *p0[2:]])))
        p0[1] = best_s1
        # a second transition closer than ~0.8 of the exciton's FWHM is not resolved
        # from it: it would only skew the exciton (and shift its fitted centre)
        lo[2] = min(max(lo[2], SECOND_MIN_FWHM * 2.3548 * best_s1), hi[2] - 0.02)
        p0[2] = max(p0[2], lo[2])
        p0 = _grid_search(energy, w, q, r_fixed, p0, lo, hi)
    x = levenberg_marquardt(fun, p0, lo, hi, iterations=iterations)
    p6 = tuple(float(v) for v in x)
    coef6, rnorm = solve(basis.matrix(p6) * w[:, None], y_w)
    return p6, coef6, rnorm, fun(x)[1]


@functools.lru_cache(maxsize=8)
def _subsets(k: int) -> np.ndarray:
    """Every non-empty subset of ``k`` columns as a (2^k − 1, k) boolean mask."""
    bits = np.arange(1, 2**k)[:, None] >> np.arange(k)[None, :]
    return (bits & 1).astype(bool)


def small_nnls(a: np.ndarray, y: np.ndarray, support: np.ndarray | None = None) -> np.ndarray:
    """Exact non-negative least squares for a few (≤ 6) columns.

    The optimum is the unconstrained least-squares solution on its own support. When
    the solution on ``support`` (e.g. the previous call's) meets the optimality
    conditions it is returned; otherwise the best feasible one over every support (all
    solved at once from the Gram matrix) is the optimum. Far cheaper than a general
    NNLS for the four transition columns.
    """
    k = a.shape[1]
    gram = a.T @ a
    gram.flat[::k + 1] += 1e-12 * max(float(np.trace(gram)), 1e-300)
    rhs = a.T @ y
    if support is not None and support.any():
        x = np.zeros(k)
        on = np.flatnonzero(support)
        x[on] = solve_small(gram[on[:, None], on], rhs[on])
        # Karush–Kuhn–Tucker: positive on the support, no descent direction off it
        if np.all(x[support] > 0) and np.all((gram @ x - rhs)[~support] >= 0):
            return x
    masks = _subsets(k)
    outer = masks[:, :, None] & masks[:, None, :]
    g = np.where(outer, gram, np.eye(k))
    b = np.where(masks, rhs, 0.0)
    sol = np.linalg.solve(g, b[..., None])[..., 0]
    gain = np.einsum("si,si->s", sol, b)
    gain[np.any(sol < 0, axis=1)] = -np.inf
    best = int(np.argmax(gain))
    if not gain[best] > 0:
        return np.zeros(k)
    return np.maximum(sol[best], 0.0)


#: Coarse grids of the coordinate search that starts the transitions fit: factors of the
#: exciton σ, the second transition's offset (eV) and width ratio, the third's offset
#: and σ (eV).
SEARCH_S1 = (0.8, 1.0, 1.25)
#: The second transition sits at least this many exciton FWHM above the exciton.
SECOND_MIN_FWHM = 0.8
SEARCH_SECOND = (tuple(np.arange(0.09, 0.36, 0.03)), (1.2, 1.6, 2.2))
SEARCH_THIRD = (tuple(np.arange(0.40, 0.72, 0.04)), (0.07, 0.11, 0.16))


def _grid_search(energy: np.ndarray, w: np.ndarray, q: np.ndarray, r: np.ndarray,
                 p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Joint coarse grid of the second transition's (offset, width) and the third's,
    exciton fixed (the transitions' χ² has local minima wherever a column sits on the
    wrong feature). Every grid column is projected once; all pairs are solved at once
    from the Gram matrix (exciton Gaussian, second, third), and the best pair with
    non-negative amplitudes wins (the start when none has)."""
    e1, s1 = p[0], p[1]
    o2, r2 = np.meshgrid(SEARCH_SECOND[0], SEARCH_SECOND[1], indexing="ij")
    o3, s3 = np.meshgrid(SEARCH_THIRD[0], SEARCH_THIRD[1], indexing="ij")
    o2 = np.append(np.clip(o2.ravel(), lo[2], hi[2]), p[2])
    r2 = np.append(np.clip(r2.ravel(), lo[3], hi[3]), p[3])
    o3 = np.append(np.clip(o3.ravel(), lo[4], hi[4]), p[4])
    s3 = np.append(np.clip(s3.ravel(), lo[5], hi[5]), p[5])
    d = (energy - e1)[:, None]
    cols = np.hstack([transitions_block(energy, p)[:, :1],
                      np.exp(-0.5 * ((d - o2) / (r2 * s1)) ** 2),
                      np.exp(-0.5 * ((d - o3) / s3) ** 2)]) * w[:, None]
    cols -= q @ (q.T @ cols)
    gram = cols.T @ cols
    rhs = cols.T @ r
    n2, n3 = o2.size, o3.size
    i2, i3 = np.meshgrid(np.arange(n2) + 1, np.arange(n3) + 1 + n2, indexing="ij")
    i2, i3 = i2.ravel(), i3.ravel()
    zero = np.zeros_like(i2)
    idx = np.stack([zero, i2, i3], axis=1)                      # (pairs, 3)
    ridge = 1e-12 * max(float(np.trace(gram)), 1e-300)
    b = rhs[idx]
    amp = solve_3x3(gram[0, 0] + ridge, gram[0, i2], gram[0, i3], gram[i2, i2] + ridge,
                     gram[i2, i3], gram[i3, i3] + ridge, b)
    cost = -np.einsum("pi,pi->p", amp, b)
    cost[np.any(amp < 0, axis=1) | ~np.isfinite(cost)] = np.inf
    best = int(np.argmin(cost))
    if not np.isfinite(cost[best]):
        return p
    out = p.copy()
    j2, j3 = i2[best] - 1, i3[best] - 1 - n2
    out[2], out[3], out[4], out[5] = o2[j2], r2[j2], o3[j3], s3[j3]
    return out


def solve_3x3(a00, a01, a02, a11, a12, a22, b: np.ndarray) -> np.ndarray:
    """Solve many symmetric 3×3 systems at once in closed form (Cramer's rule, the
    cofactors shared with the determinant).

    ``aij`` (the upper triangle) broadcast over the systems; ``b`` is (systems, 3).
    A singular system gives non-finite values.
    """
    c00 = a11 * a22 - a12 * a12
    c01 = a02 * a12 - a01 * a22
    c02 = a01 * a12 - a02 * a11
    c11 = a00 * a22 - a02 * a02
    c12 = a01 * a02 - a00 * a12
    c22 = a00 * a11 - a01 * a01
    det = a00 * c00 + a01 * c01 + a02 * c02
    b0, b1, b2 = b[:, 0], b[:, 1], b[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([c00 * b0 + c01 * b1 + c02 * b2,
                         c01 * b0 + c11 * b1 + c12 * b2,
                         c02 * b0 + c12 * b1 + c22 * b2], axis=1) / det[:, None]


def _transitions_columns(energy: np.ndarray, p: np.ndarray):
    """The four transition columns (exciton Gaussian and Lorentzian, second, third) of
    ``p = (E1, s1, o2, r2, o3, σ3)`` and the intermediates their derivatives reuse."""
    e1, s1, o2, r2, o3, s3 = p
    f2 = (s1 * _FWHM_PER_SIGMA) ** 2
    d = energy - e1
    dd = d * d
    g1 = np.exp((-4.0 * np.log(2.0) / f2) * dd)
    l1 = 1.0 / (1.0 + (4.0 / f2) * dd)
    u = d - o2
    g2 = np.exp((-0.5 / (r2 * s1) ** 2) * (u * u))
    v = d - o3
    g3 = np.exp((-0.5 / s3**2) * (v * v))
    return np.column_stack([g1, l1, g2, g3]), (d, dd, g1, l1, u, g2, v, g3)


def _weighted_derivative(p: np.ndarray, parts: tuple, a: np.ndarray) -> np.ndarray:
    """``Σ_j a_j ∂G_j/∂p`` (points × 6): the transitions' derivatives with respect to
    ``(E1, s1, o2, r2, o3, σ3)`` weighted by their amplitudes ``a``."""
    e1, s1, o2, r2, o3, s3 = p
    d, dd, g1, l1, u, g2, v, g3 = parts
    f2 = (s1 * _FWHM_PER_SIGMA) ** 2
    k = 4.0 * np.log(2.0)
    s2 = r2 * s1
    out = np.zeros((d.size, 6))
    # exciton: Gaussian and Lorentzian of the same FWHM
    ex = (a[0] * 2.0 * k / f2) * g1 + (a[1] * 8.0 / f2) * (l1 * l1)
    out[:, 0] = ex * d
    out[:, 1] = ex * dd / s1
    if a[2] != 0.0:
        t2 = (a[2] / s2**2) * g2 * u
        dsig2 = t2 * u / s2
        out[:, 0] += t2
        out[:, 2] = t2
        out[:, 1] += dsig2 * r2
        out[:, 3] = dsig2 * s1
    if a[3] != 0.0:
        t3 = (a[3] / s3**2) * g3 * v
        out[:, 0] += t3
        out[:, 4] = t3
        out[:, 5] = t3 * v / s3
    return out


#: Levenberg–Marquardt stops when a step lowers χ² by less than this fraction.
LM_TOLERANCE = 1e-5


def levenberg_marquardt(fun, p0: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                        iterations: int = 12) -> np.ndarray:
    """Small bounded Levenberg–Marquardt; ``fun(p, jac)`` returns (residual, Jacobian)."""
    p = p0.astype(float)
    r, jac = fun(p)
    cost = float(r @ r)
    damping = 1e-3
    for _ in range(iterations):
        jtj = jac.T @ jac
        grad = jac.T @ r
        improved = False
        for _ in range(6):
            step = solve_small(jtj + damping * np.diag(np.diag(jtj) + 1e-12), -grad)
            trial = np.clip(p + step, lo, hi)
            r_trial, _ = fun(trial, False)
            c_trial = float(r_trial @ r_trial)
            if c_trial < cost:
                improved = c_trial < cost * (1 - LM_TOLERANCE)
                p, cost = trial, c_trial
                r, jac = fun(p)
                damping = max(damping / 3.0, 1e-7)
                break
            damping *= 10.0
        if not improved:
            break
    return p


#: An NC is kept when its exciton is this many σ deep (noise-weighted norm of the
#: exciton columns) and the NC model lowers χ² by at least NC_MIN_CHI2_GAIN of the
#: model without it.
NC_MIN_SIGNIFICANCE = 8.0
NC_MIN_CHI2_GAIN = 0.19


def find_nc(lam: np.ndarray, y_w: np.ndarray, sigma_w: np.ndarray, factor: int):
    """The NC first exciton from the transitions model, or None.

    ``lam`` is the measured grid, ``y_w``/``sigma_w`` the spectrum and its noise σ on the
    working bins of ``factor`` points. Candidates: the reddest broad hump of a model
    without NC and curvature maxima; the best (noise-weighted NNLS of the flexible
    block) starts the transitions fit (steps 5–7 of the module docstring follow).
    Returns ``(params6, basis, coef, rnorm, jacobian, overlap)`` on the weighted data
    (``basis`` without a family the moved exciton explains; ``overlap`` maps each family
    tested against a moved exciton to its likelihood-ratio z), or None when no
    significant exciton is found.
    """
    basis = basis_for(lam, factor)
    w = 1.0 / sigma_w
    a0 = basis.matrix(None)
    coef0, rnorm0 = solve(a0 * w[:, None], y_w * w)
    hump = hump_guess(basis, y_w - a0 @ coef0, float(np.median(sigma_w)))
    guesses = [] if hump is None else [hump]
    guesses += [(e, NC_GUESS_SIGMA_EV) for e in curvature_candidates(basis, y_w, sigma_w)]
    noise = float(np.median(sigma_w))
    verdicts: dict[int, bool] = {}  # by fit (every fit lives until best_nc returns)
    blue: list[float] = []  # χ² of fits whose exciton went bluer than NC_MIN_PEAK_NM

    def accept(fit) -> bool:
        # A fit whose exciton lies bluer than the limit is no NC. When such a fit
        # describes the spectrum clearly better (Δχ² > OVERLAP_SIGMA² χ²ᵣ) than a later
        # candidate's, that candidate is a worse description elsewhere, not the NC.
        if id(fit) not in verdicts:
            ok = _is_nc(basis, fit, y_w, w, rnorm0, noise)
            chi2 = fit[2] ** 2
            if fit[0][0] >= HC_EV_NM / NC_MIN_PEAK_NM:
                blue.append(chi2)
            elif ok and blue:
                chi2_red = max(1.0, reduced_chi2(fit[1], fit[2], y_w.size))
                ok = chi2 - min(blue) <= OVERLAP_SIGMA**2 * chi2_red
            verdicts[id(fit)] = ok
        return verdicts[id(fit)]

    best = best_nc(basis, y_w * w, w, guesses, accept=accept)
    if best is None or not accept(best):
        return None
    best = _restarted(basis, best, y_w, w, accept)
    best, basis, overlap = _overlapping_bands(basis, best, y_w, w, rnorm0, noise)
    params, coef, rnorm, jac = best
    return params, basis, coef, rnorm, jac, overlap


#: A fit whose reduced χ² exceeds RESTART_CHI2_RED is refitted from exciton starts
#: shifted by RESTART_SHIFTS_EV: the transitions model's χ² has local minima, and where
#: the model is far from the data (large χ²ᵣ) the fit often ends in one.
RESTART_CHI2_RED = 2.0
RESTART_SHIFTS_EV = (-0.03, -0.015, 0.015, 0.03)


def _restarted(basis: Basis, best, y_w: np.ndarray, w: np.ndarray, accept):
    """The lowest-χ² acceptable fit of ``best`` and its restarts (see
    :data:`RESTART_CHI2_RED`)."""
    params, coef, rnorm, _ = best
    if reduced_chi2(coef, rnorm, y_w.size) <= RESTART_CHI2_RED:
        return best
    for shift in RESTART_SHIFTS_EV:
        fit = fit_transitions(basis, y_w * w, w, (params[0] + shift, *params[1:]))
        if fit[2] < best[2] and accept(fit):
            best = fit
    return best


#: z a band must reach against the alternative in which the NC exciton moves to explain
#: it (the detection threshold of :mod:`~msc_bluesky.analysis.uvvis`).
OVERLAP_SIGMA = 5.0


def without_family(basis: Basis, fam: int) -> Basis:
    """``basis`` with the MSC columns of family ``fam`` left out (a shallow copy)."""
    out = copy.copy(basis)
    drop = basis.msc_owner == fam
    out.msc = basis.msc[:, ~drop]
    out.msc_owner = basis.msc_owner[~drop]
    out.families = [f for f in basis.families if f != fam]
    out.fixed = np.hstack([basis.background, out.msc])
    out.n_fixed = out.fixed.shape[1]
    return out


def _overlapping_bands(basis: Basis, best, y_w: np.ndarray, w: np.ndarray, rnorm0: float,
                       noise: float):
    """Test each MSC family that lies within one exciton FWHM blue of the exciton.

    There a band and an exciton moved towards it explain the same absorbance (an NC at
    470–480 nm and the 465–467 family). The transitions model is fitted again without
    the family's columns, its exciton free (not bluer than :data:`NC_MIN_PEAK_NM`); the
    band's likelihood-ratio z is ``sqrt(Δχ² / χ²ᵣ)`` (χ²ᵣ of the fit with the band, at
    least 1), the fit with the band refitted from where the one without it ended when
    that lowers its χ² (a local minimum otherwise decides). Below :data:`OVERLAP_SIGMA`
    the band is not needed: the fit without it is taken when it is an acceptable NC.
    Returns ``(fit, basis, {family: z})``.
    """
    params, coef, rnorm, _ = best
    e1, s1 = params[:2]
    fwhm = s1 * _FWHM_PER_SIGMA
    e_cap = HC_EV_NM / (NC_MIN_PEAK_NM + 0.05)
    chi2_red = max(1.0, reduced_chi2(coef, rnorm, y_w.size))
    overlap: dict[int, float] = {}
    for fam in basis.families:
        e_fam = HC_EV_NM / FAMILY_CENTRES_NM[fam]
        cols = basis.n_bg + np.flatnonzero(basis.msc_owner == fam)
        if not (0.0 < e_fam - e1 < fwhm) or not np.any(coef[cols] > 0):
            continue
        reduced = without_family(basis, fam)
        starts = {min(e1, e_cap), min(0.5 * (e1 + e_fam), e_cap)}
        fits = [fit_transitions(reduced, y_w * w, w, (e, *params[1:]), e1_max=e_cap)
                for e in sorted(starts)]
        alt = min(fits, key=lambda f: f[2])
        # the fit with the band, started where the one without it ended, may find a
        # lower χ² than the first (a local minimum): the test compares the best of each
        again = fit_transitions(basis, y_w * w, w, alt[0])
        if again[2] < rnorm and _is_nc(basis, again, y_w, w, rnorm0, noise):
            best = again
            params, coef, rnorm, _ = best
            chi2_red = max(1.0, reduced_chi2(coef, rnorm, y_w.size))
        z = float(np.sqrt(max(alt[2] ** 2 - rnorm**2, 0.0) / chi2_red))
        overlap[fam] = z
        if z < OVERLAP_SIGMA and _is_nc(reduced, alt, y_w, w, rnorm0, noise):
            best, basis = alt, reduced
            break  # one family at a time: the exciton has moved
    return best, basis, overlap


def reduced_chi2(coef: np.ndarray, rnorm: float, n_points: int) -> float:
    """χ² per degree of freedom of a fit: ``rnorm²`` over the points less the active
    (non-zero) amplitudes, at least 1 degree of freedom."""
    return rnorm**2 / max(n_points - int(np.sum(coef > 0)), 1)


def _is_nc(basis: Basis, fit, y_w: np.ndarray, w: np.ndarray, rnorm0: float,
           noise: float) -> bool:
    """Is the transitions fit ``(params6, coef, rnorm, jacobian)`` a reportable NC?

    Its exciton lies inside the grid and redder than :data:`NC_MIN_PEAK_NM`, is broader
    than the narrowest allowed, :data:`NC_MIN_SIGNIFICANCE` σ deep, lowers χ² of the
    model without NC (residual norm ``rnorm0``) by :data:`NC_MIN_CHI2_GAIN` and stands
    out of the model's own misfit (and of the median noise ``noise``).
    """
    params, coef, rnorm, _ = fit
    e1, s1 = params[:2]
    if not basis.energy[-1] + s1 < e1 < min(basis.energy[0], HC_EV_NM / NC_MIN_PEAK_NM):
        return False
    if s1 <= 1.02 * NC_SIGMA_EV[0]:
        return False
    k = basis.n_fixed
    a = basis.matrix(params)
    depth = float(np.linalg.norm((a[:, k:k + 2] @ coef[k:k + 2]) * w))
    if depth < NC_MIN_SIGNIFICANCE or rnorm**2 >= (1.0 - NC_MIN_CHI2_GAIN) * rnorm0**2:
        return False
    # the exciton must also stand out of the model's own misfit (noiseless input too)
    height = coef[k] + coef[k + 1]
    rms = float(np.sqrt(np.mean((y_w - a @ coef) ** 2)))
    return bool(height > NC_MIN_SIGNIFICANCE * max(rms, noise))
