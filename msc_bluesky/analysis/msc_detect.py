"""Detect each MSC family by a matched-filter test against the spectrum's own noise.

For family ``F`` the fitted band is put back into the residual, and every single-band
template of :attr:`~msc_bluesky.analysis.spectrum_model.Basis.templates` (centre within
±3 nm of the family position, FWHM 0.04–0.09 eV, Gaussian or Lorentzian in energy) is
made orthogonal to the fitted smooth model (background, NC block, UV columns: the
columns the fit uses) under the noise weights. The template that lowers χ² most gives
the band: amplitude ``a = ĝᵀr / ĝᵀĝ`` (its height), σ ``1/|ĝ|``, and the
likelihood-ratio z ``ĝᵀr / |ĝ|`` — N(0, 1) for an absent band under white noise, the
maximum over the (strongly correlated) templates somewhat more. A family is detected at
``z ≥`` :data:`DETECTION_SIGMA`.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

from msc_bluesky.analysis.results import MscBand
from msc_bluesky.analysis.spectrum_model import (
    CENTRE_FREEDOM_NM,
    FAMILY_CENTRES_NM,
    HC_EV_NM,
    Basis,
)

#: A family is detected when its significance (likelihood-ratio z) is at least this.
DETECTION_SIGMA = 5.0

#: A family whose best template reaches this z (before the null inflation) keeps band
#: columns in the refit; below it, it has none (so it cannot soak up model misfit).
REFIT_MIN_SIGMA = 3.0

#: A band must sit at least this many exciton σ blue of the NC first exciton to be told
#: apart from the exciton's own shape (1.5 σ ≈ 0.64 FWHM).
EXCITON_CLEARANCE = 1.5

NAN = float("nan")


def choose_templates(basis: Basis, a: np.ndarray, coef: np.ndarray, residual: np.ndarray,
                     sigma: np.ndarray) -> np.ndarray:
    """MSC columns for the refit: for each family whose best template reaches
    :data:`REFIT_MIN_SIGMA`, a Gaussian and a Lorentzian (any pseudo-Voigt mix) at the
    centre and width refined from that template (:func:`_refine_band`); no columns for
    the others (so they cannot soak up model misfit)."""
    cols = np.zeros_like(basis.msc)
    scans, q = _scan(basis, a, coef, residual, sigma)
    for fam, (best, gain, _proj, _norm2) in scans.items():
        if gain[best] < REFIT_MIN_SIGMA**2:
            continue
        meta = basis.templates[fam][1]
        own = np.flatnonzero(basis.msc_owner == fam)
        r = (residual + a[:, basis.n_bg + own] @ coef[basis.n_bg + own]) / sigma
        r -= q @ (q.T @ r)
        centre, fwhm = _refine_band(basis, fam, r, q, sigma, meta[best, 0], meta[best, 1])
        cols[:, own[:2]] = basis.band_columns(centre, fwhm)
    return cols


#: Bounds of a refined band: FWHM (eV) and centre freedom (nm) around the family.
BAND_FWHM_BOUNDS_EV = (0.035, 0.10)


def _refine_band(basis: Basis, fam: int, r: np.ndarray, q: np.ndarray, sigma: np.ndarray,
                 centre: float, fwhm: float, iterations: int = 6) -> tuple[float, float]:
    """Gauss–Newton (finite differences) on the band's centre (nm) and FWHM (eV) against
    ``r`` (weighted, orthogonal to the smooth model), Gaussian + Lorentzian amplitudes by
    NNLS at every step."""
    nominal = FAMILY_CENTRES_NM[fam]
    lo = np.array([nominal - CENTRE_FREEDOM_NM, BAND_FWHM_BOUNDS_EV[0]])
    hi = np.array([nominal + CENTRE_FREEDOM_NM, BAND_FWHM_BOUNDS_EV[1]])
    scale = np.array([1.0, 0.01])  # nm, eV: comparable steps

    def res(x: np.ndarray) -> np.ndarray:
        g = basis.band_columns(x[0], x[1]) / sigma[:, None]
        g -= q @ (q.T @ g)
        amp, _ = nnls(g, r, maxiter=20)
        return r - g @ amp

    x = np.array([centre, fwhm])
    rr = res(x)
    cost = float(rr @ rr)
    damping = 1e-2
    for _ in range(iterations):
        jac = np.empty((rr.size, 2))
        for k in range(2):
            dx = x.copy()
            dx[k] += 0.05 * scale[k]
            jac[:, k] = (res(dx) - rr) / (0.05 * scale[k])
        jtj, grad = jac.T @ jac, jac.T @ rr
        step = np.linalg.solve(jtj + damping * np.diag(np.diag(jtj) + 1e-12), -grad)
        trial = np.clip(x + step, lo, hi)
        r_trial = res(trial)
        c_trial = float(r_trial @ r_trial)
        if c_trial >= cost:
            damping *= 10.0
            continue
        x, rr, cost, damping = trial, r_trial, c_trial, damping / 3.0
    return float(x[0]), float(x[1])


def _scan(basis: Basis, a: np.ndarray, coef: np.ndarray, residual: np.ndarray,
          sigma: np.ndarray, own_shapes: bool = False):
    """Per family: best template index, gains, projections, squared norms; and the
    orthonormal basis of the smooth model. With ``own_shapes`` the family's own fitted
    band (its columns' sum, scaled to unit height) is one more candidate, the last."""
    n_bg, n_fixed = basis.n_bg, basis.n_fixed
    smooth = coef > 0
    smooth[:4] = (True, False, True, False)
    smooth[n_bg:n_fixed] = False
    xs = a[:, smooth] / sigma[:, None]
    q = np.linalg.qr(xs)[0] if xs.shape[1] else np.zeros((a.shape[0], 0))
    out = {}
    for fam, (shapes, _meta) in basis.templates.items():
        own = n_bg + np.flatnonzero(basis.msc_owner == fam)
        r = (residual + a[:, own] @ coef[own]) / sigma
        r -= q @ (q.T @ r)
        # ĝ = g − Q Qᵀ g: ĝᵀr = gᵀr (r ⟂ Q) and |ĝ|² = |g|² − |Qᵀg|²
        if own_shapes:
            fitted = basis.msc[:, own - n_bg] @ coef[own]
            if fitted.max() > 0:
                shapes = np.column_stack([shapes, fitted / _peak(basis, fam, own - n_bg,
                                                                 coef[own])])
        g = shapes / sigma[:, None]
        qg = q.T @ g
        norm2 = np.einsum("ij,ij->j", g, g) - np.einsum("ij,ij->j", qg, qg)
        proj = g.T @ r
        gain = np.where(proj > 0, proj**2 / np.maximum(norm2, 1e-300), -1.0)
        out[fam] = (int(np.argmax(gain)), gain, proj, norm2)
    return out, q


def detect(basis: Basis, a: np.ndarray, coef: np.ndarray, residual: np.ndarray,
           sigma: np.ndarray, exciton: tuple[float, float] | None = None
           ) -> dict[int, MscBand]:
    """One :class:`MscBand` per family (concentration left NaN for the caller).

    ``exciton`` is the NC's ``(E1, s1)`` (eV) when there is one: a family closer to it
    than :data:`EXCITON_CLEARANCE` × s1 on the blue side (or red of it) overlaps the
    exciton's own shape and is reported but never ``detected``.
    """
    scans, q = _scan(basis, a, coef, residual, sigma, own_shapes=True)
    out: dict[int, MscBand] = {}
    for fam in sorted(FAMILY_CENTRES_NM):
        if fam not in scans:
            out[fam] = MscBand(fam, False, NAN, NAN)
            continue
        best, gain, proj, norm2 = scans[fam]
        meta = basis.templates[fam][1]
        n_bank = meta.shape[0]
        bank_best = int(np.argmax(gain[:n_bank]))
        if best == n_bank:  # the family's own fitted band
            meta = np.vstack([meta, [_centre_of(basis, fam, coef), *meta[bank_best, 1:]]])
        if gain[best] <= 0:  # no positive band anywhere: report the nominal template
            best = bank_best = int(np.argmin(np.abs(meta[:n_bank, 0] - FAMILY_CENTRES_NM[fam])
                                             + 10.0 * np.abs(meta[:n_bank, 1] - 0.06)
                                             + meta[:n_bank, 2]))
        kappa = _null_inflation(basis, fam, meta[bank_best], q, residual / sigma, sigma)
        amp_sigma = kappa / np.sqrt(max(norm2[best], 1e-300))
        amp = max(float(proj[best]) / max(norm2[best], 1e-300), 0.0)
        z = amp / amp_sigma
        clear = exciton is None or (
            HC_EV_NM / FAMILY_CENTRES_NM[fam] - exciton[0] >= EXCITON_CLEARANCE * exciton[1])
        if clear and z >= DETECTION_SIGMA and exciton is not None:
            shape = (basis.templates[fam][0][:, best] if best < n_bank
                     else basis.msc[:, own_cols(basis, fam)] @ coef[basis.n_bg + own_cols(basis, fam)])
            clear = _is_narrow(basis, fam, amp * shape / max(shape.max(), 1e-300), residual, sigma)
        out[fam] = MscBand(
            fam,
            bool(z >= DETECTION_SIGMA and clear),
            amp,
            NAN,
            absorbance_sigma=float(amp_sigma),
            centre_nm=float(meta[best, 0]) if amp > 0 else NAN,
            significance=float(z),
        )
    return out


#: Local null distribution: the chosen template is moved to grid positions this far (nm)
#: from the family centre, never within NULL_EXCLUDE_NM of another family.
NULL_OFFSETS_NM = (12.0, 40.0)
NULL_EXCLUDE_NM = 12.0
NULL_MIN_POSITIONS = 4


def _null_inflation(basis: Basis, fam: int, meta: np.ndarray, q: np.ndarray,
                    z_resid: np.ndarray, sigma: np.ndarray) -> float:
    """How much a band amplitude's σ must grow for correlated misfit (≥ 1).

    The chosen band shape is placed at nearby positions where no family sits and its
    z-score ``ĝᵀr/|ĝ|`` on the final residual (made orthogonal to the smooth model) is
    taken at each; under white noise of the assumed σ these are N(0, 1). Their root mean
    square is how much a band-shaped amplitude actually scatters there.
    """
    lam = basis.lam
    centre = FAMILY_CENTRES_NM[fam]
    others = np.array([c for f, c in FAMILY_CENTRES_NM.items() if f != fam])
    off = np.abs(lam - centre)
    free = np.min(np.abs(lam[:, None] - others[None, :]), axis=1) > NULL_EXCLUDE_NM
    inside = (lam >= lam[0] + 10.0) & (lam <= lam[-1] - 10.0)
    pos = lam[(off >= NULL_OFFSETS_NM[0]) & (off <= NULL_OFFSETS_NM[1]) & free & inside]
    if pos.size < NULL_MIN_POSITIONS:
        return 1.0
    e = basis.energy[:, None]
    e0 = (HC_EV_NM / pos)[None, :]
    fwhm = meta[1]
    if meta[2] > 0:
        g = 1.0 / (1.0 + (2.0 * (e - e0) / fwhm) ** 2)
    else:
        g = np.exp(-4.0 * np.log(2.0) * ((e - e0) / fwhm) ** 2)
    g = g / sigma[:, None]
    g -= q @ (q.T @ g)
    norm = np.sqrt(np.einsum("ij,ij->j", g, g))
    z = (g.T @ z_resid) / np.maximum(norm, 1e-300)
    return float(max(1.0, np.sqrt(np.mean(z**2))))


def _peak(basis: Basis, fam: int, cols: np.ndarray, amps: np.ndarray) -> float:
    """Peak height of the family's fitted band (unbinned: its columns have unit height)."""
    return float(max(amps.sum(), 1e-300))


def _centre_of(basis: Basis, fam: int, coef: np.ndarray) -> float:
    """Centre (nm) of the family's fitted band: where its binned columns peak."""
    own = np.flatnonzero(basis.msc_owner == fam)
    fitted = basis.msc[:, own] @ coef[basis.n_bg + own]
    i = int(np.argmax(fitted))
    if 0 < i < fitted.size - 1:  # parabola through the three highest bins
        y0, y1, y2 = fitted[i - 1:i + 2]
        den = y0 - 2 * y1 + y2
        shift = 0.5 * (y0 - y2) / den if den < 0 else 0.0
        return float(np.interp(i + shift, np.arange(fitted.size), basis.lam))
    return float(basis.lam[i])


def own_cols(basis: Basis, fam: int) -> np.ndarray:
    """Indices (within the MSC block) of a family's columns."""
    return np.flatnonzero(basis.msc_owner == fam)


#: Narrowness test: within ±NARROW_WINDOW_NM of the family the band (put back into the
#: residual) must be described by its own shape with less than NARROW_PREFERENCE of the
#: χ² a Gaussian of FWHM BROAD_TEST_FWHM_NM leaves (each on a linear baseline): the misfit
#: of the NC's broad transitions and continuum is about as well described by the broad one.
NARROW_WINDOW_NM = 30.0
BROAD_TEST_FWHM_NM = 30.0
NARROW_PREFERENCE = 0.15


def _is_narrow(basis: Basis, fam: int, band: np.ndarray, residual: np.ndarray,
               sigma: np.ndarray) -> bool:
    centre = FAMILY_CENTRES_NM[fam]
    near = np.abs(basis.lam - centre) <= NARROW_WINDOW_NM
    if near.sum() < 8:
        return True
    lam = basis.lam[near]
    local = ((residual + band) / sigma)[near]
    x = (lam - centre) / NARROW_WINDOW_NM
    broad = np.exp(-0.5 * ((lam - centre) / (BROAD_TEST_FWHM_NM / 2.3548)) ** 2)

    def ssr(shape: np.ndarray) -> float:
        a = np.column_stack([shape, np.ones_like(x), x]) / sigma[near, None]
        sol, *_ = np.linalg.lstsq(a, local, rcond=None)
        return float(np.sum((local - a @ sol) ** 2))

    return ssr(band[near]) < NARROW_PREFERENCE * ssr(broad)
