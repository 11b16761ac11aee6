"""SAXS size distribution: magic-size templates plus free sphere grids, NNLS.

Model (intensity in cm^-1, ``q`` in nm^-1)::

    I(q) = Σ_m φ_m T_m(q) + Σ_j φ_j V_j Δρ² P(q, R_j) · 1e7 + b0 + b2 (q/q_max)² + b4 (q/q_max)⁴

- ``T_m``: the magic-size clusters at 0.87, 0.94 and 1.02 nm
  (:data:`~msc_bluesky.analysis.saxs_basis.MAGIC_RADII_NM`), each a narrow Gaussian
  volume-weighted radius distribution whose relative width (2, 3 or 4.5 %) is chosen
  per template by least χ². Which templates the curve needs is decided by backward
  elimination with the Bayesian information criterion (a template stays if leaving it
  out costs more than ``ln n`` in χ²) and a resolution limit (:data:`MIN_MAGIC_SHARE`).
- ``R_j``: free log-spaced grids (9 % per column) from ``π/q_max`` to
  ``min(π/q_min, 100 nm)``, leaving out the magic window 0.80–1.10 nm; they hold the
  regular nanocrystals and anything smaller than the clusters. Smoothness prior
  (second differences) on the free grids only.
- Background: flat plus a slow non-negative rise (solvent), all columns non-negative.

``Δρ`` is the CdSe contrast (:data:`msc_bluesky.physics.spheres.CDSE_CONTRAST_NM2`), so
with intensity in cm^-1 the ``φ`` are absolute volume fractions. Dilute, non-interacting
spheres (no structure factor). When q does not reach 6 nm^-1 the magic sizes cannot be
told apart; then one free grid covers every radius.

The weighted problem ``min ‖(K φ − I)/σ‖² + α ‖D φ‖²`` is solved by NNLS. ``α`` follows
the discrepancy principle: the largest α whose χ² stays within one standard deviation of
a χ² variable, ``√(2 ν)``, of ``max(χ²_min, ν)`` (ν degrees of freedom, χ²_min the
least-regularised fit), found by bisection in log α over 12 decades; it grows with the
noise. Uncertainties come from the posterior covariance ``(AᵀA + α DᵀD)⁻¹`` on the NNLS
active set (it includes the prior's share, unlike the sandwich form), scaled by √χ²ᵣ
when χ²ᵣ > 1; a population's σ is ``sqrt(1ᵀ C 1)`` over its columns (the bins of one
peak are anti-correlated, so summing their variances would overstate it ~10×).
``fit_ok`` is False when χ²ᵣ exceeds :data:`FIT_OK_MAX_REDUCED_CHI2` (for example a
precursor curve with Bragg peaks).

:func:`find_mesophase` (Bragg peaks of the precursor mesophase) is re-exported here from
:mod:`msc_bluesky.analysis.mesophase`.
"""

from __future__ import annotations

import contextlib

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import nnls

try:  # small matrices: BLAS threads only add overhead, badly so on a busy machine
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - optional helper
    ThreadpoolController = None

from msc_bluesky.analysis import saxs_basis as basis
from msc_bluesky.analysis._validate import as_curve, as_sigma, positive_number
from msc_bluesky.analysis.mesophase import find_mesophase
from msc_bluesky.analysis.results import DEFAULT_N_RADII, Population, SizeDistribution
from msc_bluesky.analysis.saxs_basis import MAGIC_RADII_NM, MAX_RADIUS_NM
from msc_bluesky.physics.spheres import CDSE_CONTRAST_NM2

__all__ = [
    "MAGIC_RADII_NM",
    "MAX_RADIUS_NM",
    "fit_size_distribution",
    "find_mesophase",
    "radius_grid_nm",
]

#: log10 of the smallest and largest regularisation strength tried (relative to ‖K‖²/‖D‖²).
LOG_ALPHA_RANGE = (-10.0, 2.0)

#: Bisection steps in log α (12 decades / 2^6 ≈ 0.2 decade).
ALPHA_BISECTIONS = 6

#: Population σ's include the solution's sensitivity to α over ± this many decades
#: (the α of the discrepancy principle scatters with the noise; 0.3 matched the scatter
#: of NC volume fractions beside clusters on the validation set).
ALPHA_SENSITIVITY_DECADES = 0.3

#: Relative widths of the magic templates tried (volume-weighted σ_R / R).
MAGIC_WIDTHS = (0.02, 0.03, 0.045)

#: Radius shifts of a magic template tried (size or q-calibration offsets). Only 1.0:
#: with ±1-2 % shifts, mixtures slid onto shifted neighbours on the validation set.
MAGIC_SHIFTS = (1.0,)

#: A magic size holding less than this share of itself plus its neighbouring magic
#: sizes is not resolved from them (measured limit at 1 % noise, docs/analysis.md).
MIN_MAGIC_SHARE = 0.15

#: A population's volume fraction must exceed this many times its uncertainty.
MIN_SIGNIFICANCE = 3.0

#: A population must hold at least this fraction of the total volume fraction.
MIN_POPULATION_FRACTION = 0.02

#: ``fit_ok`` is False above this reduced χ² (the model does not describe the curve).
FIT_OK_MAX_REDUCED_CHI2 = 3.0


def radius_grid_nm(q_per_nm: ArrayLike, n_radii: int = DEFAULT_N_RADII) -> np.ndarray:
    """Log-spaced output radius grid ``π/q_max … min(π/q_min, 100 nm)`` for a q range."""
    q = np.asarray(q_per_nm, dtype=float)
    r_lo, r_hi = basis.radius_range_nm(q)
    return np.geomspace(r_lo, r_hi, int(n_radii))


def fit_size_distribution(
    q_per_nm: ArrayLike,
    intensity: ArrayLike,
    sigma: ArrayLike,
    *,
    n_radii: int = DEFAULT_N_RADII,
    contrast_nm2: float = CDSE_CONTRAST_NM2,
    magic_sizes: bool | None = None,
) -> SizeDistribution:
    """Volume-fraction size distribution of spheres from one absolute SAXS curve.

    Parameters
    ----------
    q_per_nm : array_like
        Strictly increasing, positive scattering vectors (nm^-1); at least 20 points.
    intensity : array_like
        Absolute intensity (cm^-1).
    sigma : array_like or float
        1σ uncertainty of the intensity (cm^-1), positive.
    n_radii : int, optional
        Number of radii of the output grid (the length of the output arrays).
    contrast_nm2 : float, optional
        Scattering-length-density contrast (nm^-2); CdSe in octadecene by default.
    magic_sizes : bool or None, optional
        Use the magic-size templates; None (default) uses them when q reaches 6 nm^-1.
        False gives the plain free-form inversion on one grid.

    Returns
    -------
    SizeDistribution
        ``.radius_nm``, ``.volume_fraction``, ``.volume_fraction_sigma`` on the output
        grid, ``.background`` (flat part), ``.populations`` (volume-weighted mean
        radius, width = standard deviation, volume fraction and its σ; largest first),
        ``.chi2_reduced`` and ``.fit_ok``.

    Raises
    ------
    ValueError
        On mismatched lengths, too few points, non-finite values, a q axis that is not
        strictly increasing and positive, or non-positive ``sigma``.
    """
    with _single_threaded_blas():
        return _fit(q_per_nm, intensity, sigma, n_radii, contrast_nm2, magic_sizes)


_CONTROLLER: list = []


def _single_threaded_blas():
    """Limit BLAS to one thread while fitting (threadpoolctl, when installed)."""
    if ThreadpoolController is None:
        return contextlib.nullcontext()
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def _fit(q_per_nm, intensity, sigma, n_radii, contrast_nm2, magic_sizes) -> SizeDistribution:
    q, y = as_curve(
        q_per_nm, intensity, x_name="q_per_nm", y_name="intensity", min_points=20,
        positive_x=True,
    )
    s = as_sigma(sigma, q.size)
    contrast = positive_number(contrast_nm2, "contrast_nm2")
    if int(n_radii) < 5:
        raise ValueError(f"n_radii must be at least 5, got {n_radii}")
    grid = radius_grid_nm(q, n_radii)
    magic = basis.uses_magic_templates(q) if magic_sizes is None else bool(magic_sizes)
    problem = _Problem(q, y, s, contrast, magic)

    shapes = ((MAGIC_WIDTHS[len(MAGIC_WIDTHS) // 2], 1.0),) * problem.n_magic
    keep = (True,) * problem.n_magic
    alpha, coef, chi2 = problem.choose_alpha(shapes, keep)
    if problem.n_magic:
        shapes, keep = problem.select_magic(alpha, coef)
        around = np.log10(alpha / problem.scaled(shapes, keep)[2])
        alpha, coef, chi2 = problem.choose_alpha(shapes, keep, around=around)
    return problem.result(grid, alpha, coef, chi2, shapes, keep)


_CACHE: dict[tuple, np.ndarray] = {}


def _cached(key: tuple, make) -> np.ndarray:
    value = _CACHE.get(key)
    if value is None:
        if len(_CACHE) >= 64:
            _CACHE.pop(next(iter(_CACHE)))
        value = make()
        _CACHE[key] = value
    return value


class _Problem:
    """Design matrices of one curve and the NNLS solves on them."""

    def __init__(self, q, y, s, contrast: float, magic: bool) -> None:
        self.q, self.y, self.s, self.contrast, self.magic = q, y, s, contrast, magic
        self.segments = basis.free_segments(q, magic)
        radii = np.concatenate(self.segments)
        self.free = _cached(
            ("free", q.tobytes(), contrast, radii.tobytes()),
            lambda: np.hstack([basis.sphere_columns(q, r, contrast) for r in self.segments]),
        )
        self.bg = basis.background_columns(q)
        self.n_free = self.free.shape[1]
        self.n_magic = len(MAGIC_RADII_NM) if magic else 0
        self.n_cols = self.n_free + self.n_magic + self.bg.shape[1]
        sizes = [r.size for r in self.segments]
        offsets = list(np.cumsum([0, *sizes[:-1]]))
        self.d_raw = basis.smoothness_rows(sizes, offsets, self.n_cols)
        self.target = y / s
        self._scaled: dict[tuple, tuple] = {}
        self._fixed: tuple | None = None
        self.dof = max(q.size - 1, 1)

    def _magic_design(self, shapes: tuple, keep: tuple) -> np.ndarray:
        cols = []
        for r_m, (w, f), on in zip(MAGIC_RADII_NM[: self.n_magic], shapes, keep, strict=True):
            key = ("magic", self.q.tobytes(), self.contrast, r_m * f, w)
            column = _cached(
                key, lambda r=r_m * f, w=w: basis.magic_column(self.q, r, w, self.contrast)
            )
            cols.append(column if on else np.zeros(self.q.size))
        return np.stack(cols, axis=1) if cols else np.zeros((self.q.size, 0))

    def design(self, shapes: tuple, keep: tuple) -> np.ndarray:
        """Weighted design ``K/σ``, columns: free grids, magic templates, background."""
        parts = [self.free, self._magic_design(shapes, keep), self.bg]
        return np.hstack(parts) / self.s[:, None]

    def _fixed_part(self):
        """QR of the column-scaled free and background columns (the same for every model)."""
        if self._fixed is None:
            f = np.hstack([self.free, self.bg]) / self.s[:, None]
            col = 1.0 / np.linalg.norm(f, axis=0)
            q1, r1 = np.linalg.qr(f * col)
            self._fixed = (col, q1, r1, q1.T @ self.target)
        return self._fixed

    def scaled(self, shapes: tuple, keep: tuple):
        """Column scales, regulariser, α reference and a reduced system for NNLS.

        ``min ‖a x − t‖² = min ‖B x − b‖² + rest`` with ``BᵀB = aᵀa``: the QR of the fixed
        columns is computed once per curve and extended by the (≤ 3) magic columns.
        """
        key = (shapes, keep)
        if key not in self._scaled:
            col_f, q1, r1, b1 = self._fixed_part()
            nf, nm = self.n_free, self.n_magic
            m = self._magic_design(shapes, keep) / self.s[:, None]
            norm = np.linalg.norm(m, axis=0)
            col_m = 1.0 / np.where(norm > 0, norm, 1.0)
            on = nf + np.flatnonzero(keep)  # templates left out stay zero columns
            am = m[:, np.flatnonzero(keep)] * col_m[np.flatnonzero(keep)]
            proj = q1.T @ am
            q2, r2 = np.linalg.qr(am - q1 @ proj)
            n_fixed = r1.shape[0]
            big = np.zeros((n_fixed + on.size, self.n_cols))
            fixed_idx = np.r_[0:nf, nf + nm : self.n_cols]
            big[:n_fixed, fixed_idx] = r1
            big[:n_fixed, on] = proj
            big[n_fixed:, on] = r2
            rhs = np.concatenate([b1, q2.T @ self.target])
            rest = max(float(self.target @ self.target - rhs @ rhs), 0.0)
            col = np.empty(self.n_cols)
            col[fixed_idx] = col_f
            col[nf : nf + nm] = col_m
            d = self.d_raw * col
            ref = self.n_cols / max(float(np.sum(d * d)), 1e-300)
            self._scaled[key] = (col, d, ref, big, rhs, rest)
        return self._scaled[key]

    def solve(self, rel_alpha: float, shapes: tuple, keep: tuple):
        """NNLS at relative strength ``rel_alpha``: (α, scaled coefficients, χ²)."""
        _, d, ref, big, rhs, rest = self.scaled(shapes, keep)
        alpha = rel_alpha * ref
        aug = np.vstack([big, np.sqrt(alpha) * d])
        target = np.concatenate([rhs, np.zeros(d.shape[0])])
        coef, _ = nnls(aug, target, maxiter=50 * aug.shape[1])
        return alpha, coef, float(np.sum((big @ coef - rhs) ** 2)) + rest

    def choose_alpha(self, shapes: tuple, keep: tuple, around: float | None = None):
        """Discrepancy principle by bisection in log α (see the module docstring).

        ``around``: a previous log10 α; then only ±1.5 decades around it are searched.
        """
        lo, hi = LOG_ALPHA_RANGE
        steps = ALPHA_BISECTIONS
        first = self.solve(10.0**lo, shapes, keep)
        if around is not None:
            lo, hi, steps = max(lo, around - 1.5), min(hi, around + 1.5), 3
        allowed = max(first[2], self.dof) + np.sqrt(2.0 * self.dof)
        top = self.solve(10.0**hi, shapes, keep)
        if top[2] <= allowed:
            return top
        best = first if lo == LOG_ALPHA_RANGE[0] else self.solve(10.0**lo, shapes, keep)
        for _ in range(steps):
            mid = 0.5 * (lo + hi)
            trial = self.solve(10.0**mid, shapes, keep)
            if trial[2] <= allowed:
                best, lo = trial, mid
            else:
                hi = mid
        return best

    def select_magic(self, alpha: float, coef: np.ndarray):
        """Shape of each magic template by least χ², then backward elimination by BIC.

        Each template present gets its relative width (:data:`MAGIC_WIDTHS`) and then its
        radius shift (:data:`MAGIC_SHIFTS`) by least χ² at the chosen α. Then the smallest
        template is left out, its neighbours' shapes re-chosen, and the template stays only
        if this raises χ² by more than ``ln n`` (Bayesian information criterion) and it
        holds at least :data:`MIN_MAGIC_SHARE` of itself plus its kept neighbours. Two
        sizes left with a gap between them are compared with the adjacent pairs.
        """
        n_m = self.n_magic
        shapes = [(MAGIC_WIDTHS[len(MAGIC_WIDTHS) // 2], 1.0)] * n_m
        keep = [bool(coef[self.n_free + k] > 0) for k in range(n_m)]
        rel = alpha / self.scaled(tuple(shapes), tuple(keep))[2]

        def chi2(sh, kp) -> float:
            return self.solve(rel, tuple(sh), tuple(kp))[2]

        def reshape(sh: list, kp: list, which) -> tuple[list, float]:
            sh = list(sh)
            best = chi2(sh, kp)
            for k in which:
                for options in (
                    [(w, sh[k][1]) for w in MAGIC_WIDTHS],
                    [(sh[k][0], f) for f in MAGIC_SHIFTS],
                ):
                    for option in options:
                        if option == sh[k]:
                            continue
                        trial = sh[:k] + [option] + sh[k + 1 :]
                        value = chi2(trial, kp)
                        if value < best:
                            best, sh = value, trial
            return sh, best

        shapes, current = reshape(shapes, keep, [k for k in range(n_m) if keep[k]])
        penalty = np.log(self.q.size)
        while sum(keep) > 0:
            _, c, _ = self.solve(rel, tuple(shapes), tuple(keep))
            col = self.scaled(tuple(shapes), tuple(keep))[0]
            phi = c * col
            kept = [k for k in range(n_m) if keep[k]]
            k = min(kept, key=lambda j: phi[self.n_free + j])
            trial_keep = list(keep)
            trial_keep[k] = False
            neighbours = [j for j in kept if j != k and abs(j - k) == 1]
            trial_shapes, value = reshape(shapes, trial_keep, neighbours)
            pair = phi[self.n_free + k] + sum(phi[self.n_free + j] for j in neighbours)
            minor = pair > 0 and phi[self.n_free + k] < MIN_MAGIC_SHARE * pair
            if value - current > penalty and not minor:
                break
            keep, shapes, current = trial_keep, trial_shapes, value
        kept = [k for k in range(n_m) if keep[k]]
        if len(kept) == 2 and kept[1] - kept[0] > 1:
            # Two sizes with a gap (0.87 + 1.02) can mimic a neighbouring pair; the greedy
            # elimination may have dropped the middle one: compare the adjacent pairs.
            for pair in ((kept[0], kept[0] + 1), (kept[1] - 1, kept[1])):
                trial_keep = [k in pair for k in range(n_m)]
                trial_shapes, value = reshape(shapes, trial_keep, list(pair))
                if value < current:
                    keep, shapes, current = trial_keep, trial_shapes, value
        return tuple(shapes), tuple(keep)

    def result(self, grid, alpha, coef, chi2, shapes, keep) -> SizeDistribution:
        col, d = self.scaled(shapes, keep)[:2]
        design = self.design(shapes, keep)
        a = design * col
        x = coef * col
        active = np.flatnonzero(coef > 0)
        n_active = max(active.size, 1)
        dof = max(self.q.size - n_active, 1)
        chi2_red = chi2 / dof
        inflate = np.sqrt(max(chi2_red, 1.0))
        # Posterior covariance on the active set, unscaled.
        cov = np.zeros((self.n_cols, self.n_cols))
        if active.size:
            aa = a[:, active]
            m = aa.T @ aa + alpha * d[:, active].T @ d[:, active]
            m += np.eye(active.size) * 1e-12 * np.trace(m) / active.size
            c = np.linalg.inv(m) * inflate**2
            cov[np.ix_(active, active)] = c * np.outer(col[active], col[active])
        if self.n_free and ALPHA_SENSITIVITY_DECADES > 0:
            # The chosen α itself scatters with the noise; add the sensitivity of the
            # solution to α over ±ALPHA_SENSITIVITY_DECADES (rank one, in quadrature).
            rel = alpha / self.scaled(shapes, keep)[2]
            step = 10.0**ALPHA_SENSITIVITY_DECADES
            x_hi = self.solve(rel * step, shapes, keep)[1] * col
            x_lo = self.solve(rel / step, shapes, keep)[1] * col
            delta = 0.5 * (x_hi - x_lo)
            cov += np.outer(delta, delta)
        sig = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        idle = coef <= 0
        sig[idle] = col[idle] * inflate  # an idle column alone, at 1σ
        for k, on in enumerate(keep):
            if not on:
                sig[self.n_free + k] = 0.0  # template left out of the model

        nf, nm = self.n_free, self.n_magic
        free_phi = x[:nf]
        magic_phi = x[nf : nf + nm]
        pops: list[Population] = []
        total = float(free_phi.sum() + magic_phi.sum())
        offset = 0
        seg_values, seg_sigmas = [], []
        for radii in self.segments:
            idx = np.arange(offset, offset + radii.size)
            seg_values.append(free_phi[idx])
            seg_sigmas.append(sig[idx])
            pops += _free_populations(radii, idx, free_phi, cov, total)
            offset += radii.size
        magic_radii = np.array(
            [r * f for r, (_, f) in zip(MAGIC_RADII_NM[:nm], shapes, strict=True)]
        )
        widths = [w for w, _ in shapes]
        for k in range(nm):
            value = float(magic_phi[k])
            # kept by the information criterion: significance is already established
            if keep[k] and value > 0 and value >= MIN_POPULATION_FRACTION * total:
                err = float(sig[nf + k])
                pops.append(Population(magic_radii[k], widths[k] * magic_radii[k], value, err))
        pops.sort(key=lambda p: p.volume_fraction, reverse=True)

        phi_grid = basis.render_on_grid(
            grid, self.segments, seg_values, magic_radii, np.array(widths), magic_phi
        )
        sig_grid = basis.render_on_grid(
            grid, self.segments, seg_sigmas, magic_radii, np.array(widths), sig[nf : nf + nm]
        )
        background = float(x[nf + nm])
        return SizeDistribution(
            radius_nm=grid,
            volume_fraction=phi_grid,
            volume_fraction_sigma=sig_grid,
            background=background,
            populations=pops,
            chi2_reduced=chi2_red,
            model=(design @ x) * self.s,
            fit_ok=bool(chi2_red <= FIT_OK_MAX_REDUCED_CHI2),
            regularisation=float(alpha / self.scaled(shapes, keep)[2]),
        )


def _significant(value: float, sigma: float, total: float) -> bool:
    return (
        total > 0
        and value >= MIN_POPULATION_FRACTION * total
        and value >= MIN_SIGNIFICANCE * sigma
    )


def _free_populations(
    radius: np.ndarray, idx: np.ndarray, phi: np.ndarray, cov: np.ndarray, total: float
) -> list[Population]:
    """Split one free grid into peaks (at zeros and deep minima) and take moments.

    ``idx`` are the grid's columns in ``phi`` and ``cov``. A peak's σ is
    ``sqrt(1ᵀ C 1)`` over its columns. A population must hold
    ``MIN_POPULATION_FRACTION`` of the total and exceed ``MIN_SIGNIFICANCE`` σ.
    """
    values = phi[idx]
    if total <= 0 or values.max(initial=0.0) <= 0:
        return []
    present = values > 1e-3 * values.max()
    segments: list[tuple[int, int]] = []
    start = None
    for i, on in enumerate(present):
        if on and start is None:
            start = i
        if not on and start is not None:
            segments.append((start, i))
            start = None
    if start is not None:
        segments.append((start, values.size))

    pieces: list[tuple[int, int]] = []
    for lo, hi in segments:
        cut = lo
        for i in range(lo + 1, hi - 1):
            left, right = values[cut:i].max(), values[i + 1 : hi].max()
            if (
                values[i] < values[i - 1]
                and values[i] <= values[i + 1]
                and values[i] < 0.5 * min(left, right)
            ):
                pieces.append((cut, i))
                cut = i
        pieces.append((cut, hi))

    pops = []
    for lo, hi in pieces:
        w = values[lo:hi]
        vf = float(w.sum())
        cols = idx[lo:hi]
        vf_sigma = float(np.sqrt(max(float(cov[np.ix_(cols, cols)].sum()), 0.0)))
        if not _significant(vf, vf_sigma, total):
            continue
        mean = float(np.sum(w * radius[lo:hi]) / vf)
        width = float(np.sqrt(np.sum(w * (radius[lo:hi] - mean) ** 2) / vf))
        pops.append(Population(mean, width, vf, vf_sigma))
    return pops
