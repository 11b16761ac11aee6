"""UV-Vis spectrum fit: narrow MSC bands, one moving NC exciton, smooth rest.

Model (absorbance ``A`` against wavelength ``λ`` in nm, photon energy ``E = hc/λ``)::

    A(λ) = b0 + b1 (λ − λ_mid) + s (λ_min/λ)^4               sloping/scattering background
         + Σ_F Σ_w a_Fw exp(−(λ − λ_F)^2 / 2 w^2)             MSC bands, centres λ_F ± 3 nm
         + h exp(−(E − E_nc)^2 / 2 σ_nc^2)                    NC first exciton (moves)
         + Σ_k c_k exp(−(E − E_k)^2 / 2 σ_b^2)                broad higher transitions,
                                                              centres E_k > E_nc + gap

All amplitudes except ``b0, b1`` are non-negative; they are solved exactly by
non-negative least squares for every trial ``(E_nc, σ_nc)`` (variable projection), and
``(E_nc, σ_nc)`` are refined by a small Levenberg–Marquardt loop. With the NC transitions
model (:mod:`~msc_bluesky.analysis.nc_search`) the NC block is anchored on its exciton
and transitions (:func:`_nc_detection_block`). Each MSC family is two fixed-width
columns (FWHM 6 and 11 nm) at its centre, free within ±3 nm of the family position
(:func:`_free_centres`), so a narrow band of any width in that range (Gaussian or
Lorentzian-like) is fitted while a broad NC feature falling on an MSC wavelength is
taken by the broad columns instead. An NC peak is
reported only when a broad maximum remains after MSCs and background are removed and
its fitted height is well above the noise; otherwise ``nc`` is None. Curvature maxima
redder than that maximum compete with it, so a first exciton that is only a shoulder of
stronger higher transitions is still found.

The noise is estimated from the spectrum itself, ``σ(A) = a + b·10^A``
(:mod:`~msc_bluesky.analysis.spectral_noise`), raised where the residual scatters more
than that. A family's significance is the matched-filter z of its fitted band shape on
the residual with the band put back, the shape made orthogonal to the model's other
active columns and to a cubic within ±30 nm (:func:`_projected_z`: smooth misfit of the
NC and background model is not a band), divided by the local null inflation κ
(:func:`_null_inflation`): the root mean square of the same test at nearby grid
positions where no family sits. The smooth model's misfit is correlated, so a
band-shaped projection of it is larger than white noise predicts; κ measures that in the
same spectrum. A family is ``detected``
when the significance is at least :data:`DETECTION_SIGMA` (5; per spectrum 5 families ×
a few effectively independent trials, so N(0, 1) noise alone gives a false family about
once in 10^5 spectra) and, beside an NC, the band is narrower than the NC's own features
(:func:`_separable`). ``absorbance_sigma`` is the statistical σ ``absorbance /
significance`` and, in quadrature, the line-shape systematic of the band height
(:func:`_line_shape_sigma`): half the difference of the heights a Gaussian and a
Lorentzian template of the fitted FWHM get by the same projection; it does not enter
the significance.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools

import numpy as np
from numpy.typing import ArrayLike
from scipy.signal import savgol_coeffs, savgol_filter

from msc_bluesky.analysis import nc_search, spectral_noise, spectrum_model
from msc_bluesky.analysis._validate import as_curve, positive_number
from msc_bluesky.analysis.results import MscBand, NcPeak, SpectrumFit
from msc_bluesky.physics import sizing

try:  # small matrices: BLAS threads only cost time (far more on a loaded machine)
    from threadpoolctl import ThreadpoolController

    _THREADPOOLS: ThreadpoolController | None = ThreadpoolController()
except ImportError:  # pragma: no cover - optional
    _THREADPOOLS = None


def _one_blas_thread():
    if _THREADPOOLS is None:
        return contextlib.nullcontext()
    return _THREADPOOLS.limit(limits=1, user_api="blas")

#: hc in eV nm.
HC_EV_NM = 1239.841984

#: Fitted centre (nm) of each MSC family, keyed by nominal peak. 380/382 is one family
#: (centre 381), 465–467 is one family (centre 466, nominal key 467).
FAMILY_CENTRES_NM: dict[int, float] = {350: 350.0, 380: 381.0, 403: 403.0, 437: 437.0, 467: 466.0}

#: FWHMs (nm) of the two columns that describe each narrow MSC band.
MSC_FWHM_NM: tuple[float, float] = (6.0, 11.0)

#: Shapes of the columns that describe a family's band: ("nm", FWHM in nm) a Gaussian in
#: wavelength, ("g" or "l", FWHM in eV) a Gaussian or Lorentzian in photon energy.
MSC_SHAPES: tuple[tuple[str, float], ...] = tuple(("nm", w) for w in MSC_FWHM_NM)

def band_shapes(lam: np.ndarray, centres_nm: np.ndarray,
                shapes: tuple[tuple[str, float], ...] | None = None) -> np.ndarray:
    """Unit-height band columns of every shape at every centre: (points, centres, shapes)."""
    shapes = MSC_SHAPES if shapes is None else shapes
    lam = np.asarray(lam, dtype=float)[:, None]
    c = np.atleast_1d(np.asarray(centres_nm, dtype=float))[None, :]
    out = []
    for kind, fwhm in shapes:
        if kind == "nm":
            out.append(np.exp(-0.5 * ((lam - c) / (fwhm * _SIG_PER_FWHM)) ** 2))
        else:
            d = HC_EV_NM / lam - HC_EV_NM / c
            if kind == "g":
                out.append(np.exp(-4.0 * np.log(2.0) * (d / fwhm) ** 2))
            else:
                out.append(1.0 / (1.0 + (2.0 * d / fwhm) ** 2))
    return np.stack(out, axis=2)

#: Width (eV, Gaussian σ) and spacing (eV) of the broad higher-transition columns.
BROAD_SIGMA_EV = 0.11
BROAD_STEP_EV = 0.10

#: Energies (eV) above the NC first exciton of the columns that model its next
#: transitions (2S3/2–1Se, 1P3/2–1Pe …). They share the exciton's inhomogeneous width,
#: so a resolved higher transition is not mistaken for a narrow MSC band.
NC_HIGHER_OFFSETS_EV: tuple[float, ...] = (0.20, 0.25, 0.30, 0.40, 0.50)

#: Allowed Gaussian σ (eV) of the NC first exciton (FWHM ≈ 0.075–0.94 eV): narrow NC
#: ensembles reach ~0.1 eV FWHM, MSC bands are at most ~0.07 eV.
NC_SIGMA_EV = (0.032, 0.40)

#: Without an NC, broad columns only model the deep-UV rise above this energy (eV).
UV_ONLY_EV = HC_EV_NM / 335.0

#: The smooth block's NC exciton is kept down to this wavelength (nm): 10 nm bluer than
#: the reported NC's limit (:data:`nc_search.NC_MIN_PEAK_NM`; regular NCs are larger
#: than the largest MSC family), so a first exciton near that limit still seeds it.
NC_MIN_PEAK_NM = nc_search.NC_MIN_PEAK_NM - 10.0

#: Relative threshold for a band within one NC FWHM of the NC exciton.
NEAR_NC_RELATIVE_DETECTION = 0.10

#: Half-width (nm) of the window in which a band's narrowness is tested.
NARROW_WINDOW_NM = 30.0
#: FWHM (nm) of the broad alternative a band must beat to count as narrow.
BROAD_TEST_FWHM_NM = 30.0
#: The narrow shape must leave at most this fraction of the broad shape's residual
#: (true bands leave ≤ 0.07 on the test spectra, misfit of broad features ≥ 0.25).
NARROW_PREFERENCE = 0.15

#: Range (nm) in which curvature maxima propose NC first-exciton candidates, the
#: widths (nm) of the curvature filters, and how many of the reddest are screened.
NC_SEARCH_NM = (465.0, 665.0)
CURVATURE_WINDOWS_NM = (15.0, 35.0)
MAX_NC_CANDIDATES = 3
#: A curvature candidate competes with the hump guess when this much (nm) redder.
REDDER_THAN_HUMP_NM = 10.0
#: Exciton σ (eV) a curvature candidate starts from.
NC_GUESS_SIGMA_EV = 0.045
#: Curvature maxima must exceed this many σ of the filter's own noise.
CANDIDATE_SIGMA = 5.0

#: A family is detected when its significance is at least this (and the band narrow).
DETECTION_SIGMA = 5.0

#: ``MscBand.centre_nm`` search: ± this many nm around the family position, in
#: CENTRE_STEP_NM steps.
CENTRE_FREEDOM_NM = 3.0
CENTRE_STEP_NM = 0.5

#: Window (nm) over which the residual's scatter is compared with the noise.
MISFIT_WINDOW_NM = 30.0

#: Local null distribution of a band amplitude (:func:`_null_inflation`): the band's
#: shape is added to the model at grid positions this far (nm) from the family centre —
#: beyond the widest MSC column's FWHM (11 nm), within the ±30 nm the band is judged
#: in — and never within :data:`NULL_EXCLUDE_NM` of another family's centre (whose own
#: columns, or a real band's shape mismatch, hold the residual there).
NULL_OFFSETS_NM = (12.0, 40.0)
NULL_EXCLUDE_NM = 12.0
#: Fewer null positions than this: the null scatter is not used.
NULL_MIN_POSITIONS = 4

#: Local test of a band (:func:`_projected_z`): half-width (nm) of its window and degree of
#: the polynomial that takes the smooth model's misfit there.
LOCAL_WINDOW_NM = 30.0
LOCAL_ORDER = 3

#: Working resolution (nm): finer spectra are averaged in bins to about this step.
WORK_STEP_NM = 2.0

_SIG_PER_FWHM = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
_NOMINAL = tuple(sorted(FAMILY_CENTRES_NM))


def _noise_sigma(y: np.ndarray) -> float:
    """Robust white-noise σ from second differences (insensitive to smooth features)."""
    d2 = np.diff(y, 2)
    mad = np.median(np.abs(d2 - np.median(d2)))
    return float(mad / 0.6745 / np.sqrt(6.0))


def _bin(x: np.ndarray, factor: int) -> np.ndarray:
    n = (x.size // factor) * factor
    return x[:n].reshape(-1, factor).mean(axis=1)


class _Basis:
    """Design-matrix builder for one wavelength grid."""

    def __init__(self, lam: np.ndarray, template: _Basis | None = None) -> None:
        self.lam = lam
        self.energy = HC_EV_NM / lam
        #: median grid step (nm)
        self.step = float(np.median(np.diff(lam)))
        x = (lam - lam.mean()) / (lam[-1] - lam[0])
        ones = np.ones_like(lam)
        # b0 and b1 may take either sign: NNLS gets them as ± pairs.
        self.background = np.column_stack([ones, -ones, x, -x, (lam[0] / lam) ** 4])
        cols, owners = [], []
        if template is None:
            inside = (lam[0] + 3.0, lam[-1] - 3.0)
            families = [f for f in _NOMINAL if inside[0] <= FAMILY_CENTRES_NM[f] <= inside[1]]
        else:  # same columns as the template (the binned grid), evaluated on this grid
            families = sorted(set(template.msc_owner.tolist()))
        for fam in families:
            shaped = band_shapes(lam, FAMILY_CENTRES_NM[fam])[:, 0, :]
            cols.extend(shaped.T)
            owners.extend([fam] * shaped.shape[1])
        self.msc = np.column_stack(cols) if cols else np.empty((lam.size, 0))
        self.msc_owner = np.array(owners, dtype=int)
        if template is None:
            # Broad columns on a fixed energy grid (multiples of the step).
            first = np.floor(self.energy[-1] / BROAD_STEP_EV) * BROAD_STEP_EV
            last = self.energy[0] + 2.0 * BROAD_SIGMA_EV
            self.broad_centres = np.arange(first, last, BROAD_STEP_EV)
        else:
            self.broad_centres = template.broad_centres
        self.broad_all = np.exp(
            -0.5 * ((self.energy[:, None] - self.broad_centres) / BROAD_SIGMA_EV) ** 2
        )
        self.fixed = np.hstack([self.background, self.msc])
        self.n_fixed = self.fixed.shape[1]
        self._null_positions: dict[int, np.ndarray] = {}

    @functools.cached_property
    def _shifted(self) -> np.ndarray:
        """Both MSC column shapes centred on every grid point: (points, centres, 2)."""
        return band_shapes(self.lam, self.lam)

    def shifted_columns(self, positions: np.ndarray) -> np.ndarray:
        """The two MSC column shapes centred on grid ``positions`` (indices)."""
        return self._shifted[:, positions, :]

    def null_positions(self, fam: int) -> np.ndarray:
        """Grid indices :data:`NULL_OFFSETS_NM` from the family's centre, farther than
        :data:`NULL_EXCLUDE_NM` from every other family and a column width from the edges.
        """
        if fam not in self._null_positions:
            self._null_positions[fam] = self._find_null_positions(fam)
        return self._null_positions[fam]

    def _find_null_positions(self, fam: int) -> np.ndarray:
        lam = self.lam
        offset = np.abs(lam - FAMILY_CENTRES_NM[fam])
        others = np.array([FAMILY_CENTRES_NM[f] for f in _NOMINAL if f != fam])
        free = np.min(np.abs(lam[:, None] - others[None, :]), axis=1) > NULL_EXCLUDE_NM
        edge = max(MSC_FWHM_NM)
        inside = (lam >= lam[0] + edge) & (lam <= lam[-1] - edge)
        near = (offset >= NULL_OFFSETS_NM[0]) & (offset <= NULL_OFFSETS_NM[1])
        return np.flatnonzero(near & free & inside)

    def broad_mask(self, nc: tuple[float, float] | None) -> np.ndarray:
        """Which broad columns a model uses: UV only without NC, else blue of the NC."""
        if nc is None:
            return self.broad_centres >= UV_ONLY_EV
        e_nc, s_nc = nc
        return self.broad_centres >= e_nc + max(1.5 * s_nc, 0.08)

    def nc(self, e_nc: float, s_nc: float) -> np.ndarray:
        """NC columns: the first exciton, then its higher transitions (same width)."""
        centres = e_nc + np.array((0.0, *NC_HIGHER_OFFSETS_EV))
        return np.exp(-0.5 * ((self.energy[:, None] - centres) / s_nc) ** 2)

    def matrix(
        self, nc: tuple[float, float] | None, broad: np.ndarray | None = None
    ) -> np.ndarray:
        """Columns: background, MSC, [NC], broad (``broad`` mask or the default one)."""
        mask = self.broad_mask(nc) if broad is None else broad
        parts = [self.fixed]
        if nc is not None:
            parts.append(self.nc(*nc))
        parts.append(self.broad_all[:, mask])
        return np.hstack(parts)


_BASIS_CACHE: dict[tuple[bytes, bytes], _Basis] = {}


def _basis_for(lam: np.ndarray, template: _Basis | None = None) -> _Basis:
    """Design matrices are reused: a spectrometer reports the same grid every time."""
    key = (lam.tobytes(), b"" if template is None else template.lam.tobytes())
    basis = _BASIS_CACHE.get(key)
    if basis is None:
        if len(_BASIS_CACHE) >= 8:
            _BASIS_CACHE.pop(next(iter(_BASIS_CACHE)))
        basis = _BASIS_CACHE[key] = _Basis(lam, template)
    return basis


_solve = nc_search.solve


def _nc_guess(
    basis: _Basis, y: np.ndarray, residual: np.ndarray, noise: float
) -> tuple[float, float] | None:
    """Reddest major broad hump left after the no-NC model, as (E, σ) in eV."""
    lam = basis.lam
    window = max(5, int(round(16.0 / basis.step)) | 1)
    if window >= lam.size:
        return None
    smooth = savgol_filter(residual, window, 2, mode="nearest")
    inner = np.arange(2, lam.size - 2)
    is_max = (smooth[inner] >= smooth[inner - 1]) & (smooth[inner] > smooth[inner + 1])
    peaks = inner[is_max & (smooth[inner] > 5.0 * noise) & (lam[inner] >= NC_MIN_PEAK_NM - 5.0)]
    # Humps sitting on an MSC centre are band residue, not a new population.
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
def _second_derivative_filter(window: int) -> np.ndarray:
    """Savitzky–Golay (cubic) second-derivative convolution kernel of ``window`` points."""
    return savgol_coeffs(window, 3, deriv=2, use="conv")


def _curvature_candidates(basis: _Basis, y: np.ndarray, sigma: np.ndarray) -> list[float]:
    """Energies of curvature maxima (peaks and shoulders) in the NC range, reddest first.

    ``−d²A/dλ²`` by Savitzky–Golay filters of two widths (narrow excitons in the blue,
    broad weak ones in the red); a maximum counts when it exceeds
    :data:`CANDIDATE_SIGMA` times the filter's own noise. A first exciton is a
    curvature maximum whether it is a peak or only a shoulder of stronger higher
    transitions.
    """
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
        curvature = -np.convolve(y, coeffs, mode="same")  # edges are outside the range
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


def _screen(basis: _Basis, y: np.ndarray, guesses: list[tuple[float, float]],
            keep: int = 2) -> list[tuple[float, float]]:
    """The ``keep`` guesses whose full model (NC block + the rest, NNLS) fits best.

    With every higher transition modelled blue of the exciton and nothing red of it, a
    guess at a higher transition leaves the true first exciton unexplained: a low χ²
    marks the lowest-energy excitonic transition whatever the relative heights.
    """
    if len(guesses) <= keep:
        return guesses
    scored = sorted((_solve(basis.matrix(g), y)[1], i) for i, g in enumerate(guesses))
    return [guesses[i] for _, i in scored[:keep]]


def _refine_nc(
    basis: _Basis, y: np.ndarray, guess: tuple[float, float], jacobian: bool = True
) -> tuple[tuple[float, float], np.ndarray, float, np.ndarray | None]:
    """Variable projection over (E_nc, σ_nc).

    The active set of the non-negative amplitudes is taken from an NNLS solve at the
    guess and kept while Levenberg–Marquardt moves the NC (plain linear least squares is
    much faster than NNLS); a final NNLS at the optimum gives the amplitudes. The
    Jacobian at the optimum (for the exciton's σ) is None unless ``jacobian``.
    """
    broad = basis.broad_mask(guess)
    coef0, _ = _solve(basis.matrix(guess, broad), y)
    n_nc = 1 + len(NC_HIGHER_OFFSETS_EV)
    nc_cols = np.arange(basis.n_fixed, basis.n_fixed + n_nc)
    active = np.delete(coef0 > 0, nc_cols)  # every column but the NC ones
    others = np.hstack([basis.fixed, basis.broad_all[:, broad]])[:, active]
    q, _ = np.linalg.qr(others)
    r_fixed = y - q @ (q.T @ y)

    # The higher transitions NNLS used at the guess move with the exciton (active set);
    # the exciton itself always does.
    use = coef0[nc_cols] > 0
    use[0] = True
    offsets = np.array((0.0, *NC_HIGHER_OFFSETS_EV))[use]
    ridge = np.eye(offsets.size)
    energy = basis.energy[:, None]

    def resid(p: np.ndarray) -> np.ndarray:
        # Residual of y projected on [others, G]: only the NC block G moves. ``p`` may
        # be a stack of points (m, 2): their residuals (m, points) come in one pass.
        ps = np.atleast_2d(p)
        t = energy[None] - (ps[:, 0, None, None] + offsets)
        g = np.exp(-0.5 * (t / ps[:, 1, None, None]) ** 2)
        g_perp = g - q @ (q.T @ g)
        # normal equations of the small block (<= 6 columns), lightly regularised
        g_t = g_perp.transpose(0, 2, 1)
        gtg = g_t @ g_perp
        trace = np.maximum(np.trace(gtg, axis1=1, axis2=2), 1e-300)
        gtg += (1e-12 * trace)[:, None, None] * ridge
        amp = np.linalg.solve(gtg, (g_t @ r_fixed)[..., None])
        out = r_fixed - (g_perp @ amp)[..., 0]
        return out if np.ndim(p) == 2 else out[0]

    e0, s0 = guess
    e_lo = max(basis.energy[-1], e0 - 0.15)
    e_hi = min(basis.energy[0], e0 + 0.15)
    p0 = np.array([np.clip(e0, e_lo, e_hi), s0])
    lo, hi = np.array([e_lo, NC_SIGMA_EV[0]]), np.array([e_hi, NC_SIGMA_EV[1]])
    x = _levenberg_marquardt(resid, p0, lo, hi)
    params = (float(x[0]), float(x[1]))
    coef, rnorm = _solve(basis.matrix(params), y)
    return params, coef, rnorm, _jacobian(resid, x, hi) if jacobian else None


def _jacobian(resid, p: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Forward-difference Jacobian of ``resid`` at ``p`` (steps kept below ``hi``);
    ``resid`` takes a stack of points."""
    r = resid(p)
    h = 2e-4
    dp = np.repeat(p[None, :], p.size, axis=0)  # every shifted point in one pass
    for k in range(p.size):
        dp[k, k] += h if dp[k, k] + h <= hi[k] else -h
    return ((resid(dp) - r) / (np.diag(dp) - p)[:, None]).T


def _levenberg_marquardt(
    resid, p0: np.ndarray, lo: np.ndarray, hi: np.ndarray, iterations: int = 12
) -> np.ndarray:
    """Small bounded Levenberg–Marquardt for two parameters (forward differences)."""
    p = p0.astype(float)
    r = resid(p)
    cost = float(r @ r)
    damping = 1e-3
    steps = np.array([2e-4, 2e-4])
    for _ in range(iterations):
        # forward differences, both points in one pass
        dp = np.repeat(p[None, :], p.size, axis=0)
        for k in range(p.size):
            dp[k, k] += steps[k] if dp[k, k] + steps[k] <= hi[k] else -steps[k]
        jac = ((resid(dp) - r) / (np.diag(dp) - p)[:, None]).T
        jtj = jac.T @ jac
        grad = jac.T @ r
        improved = False
        for _ in range(6):
            step = nc_search.solve_small(jtj + damping * np.diag(np.diag(jtj) + 1e-12),
                                         -grad)
            trial = np.clip(p + step, lo, hi)
            r_trial = resid(trial)
            c_trial = float(r_trial @ r_trial)
            if c_trial < cost:
                p, r, improved = trial, r_trial, c_trial < cost * (1 - 1e-7)
                cost = c_trial
                damping = max(damping / 3.0, 1e-7)
                break
            damping *= 10.0
        if not improved:
            break
    return p


def fit_spectrum(
    wavelength_nm: ArrayLike, absorbance: ArrayLike, path_length_cm: float = 0.1,
    nc_model: str = "transitions",
) -> SpectrumFit:
    """Fit MSC family bands and the NC first exciton in one absorbance spectrum.

    Parameters
    ----------
    wavelength_nm : array_like
        Strictly increasing wavelengths (nm); at least 50 points. Any instrument grid.
    absorbance : array_like
        Absorbance (base-10 optical density) at those wavelengths.
    path_length_cm : float, optional
        Optical path length of the flow cell (cm), for Beer–Lambert concentrations.
    nc_model : {"transitions", "smooth"}, optional
        How ``.nc`` is found. "transitions" (default): the NC transitions model of
        :func:`msc_bluesky.analysis.nc_search.find_nc` (first exciton, second and third
        transition, continuum; the lowest-energy transition whatever the heights of the
        higher ones). "smooth": the exciton of the smooth NC block the MSC detection
        uses (about half the time, far less accurate when the higher transitions are
        resolved). The MSC detection uses the transitions model's NC when it has one
        (with "smooth", the smooth block alone).

    Returns
    -------
    SpectrumFit
        ``.msc[F]`` for F in 350, 380, 403, 437, 467 (``.detected``, ``.absorbance``,
        ``.absorbance_sigma``, ``.centre_nm``, ``.significance``,
        ``.concentration_molar``); ``.nc`` (None when there is no NC peak, else peak,
        FWHM, Yu diameter, CdSe units, ε and particle concentration, with σ's);
        ``.extinction_model``; ``.r_squared``.

    Raises
    ------
    ValueError
        On mismatched lengths, fewer than 50 points, non-finite values, a wavelength
        axis that is not strictly increasing, a non-positive path length, or an unknown
        ``nc_model``.

    Notes
    -----
    MSC concentrations use the Yu diameter of the family's nominal wavelength and
    ``ε = 5857 d^2.65``; published MSC extinction models differ by up to ~20×, so
    compare MSC amounts by band absorbance first.
    """
    lam, y = as_curve(
        wavelength_nm, absorbance, x_name="wavelength_nm", y_name="absorbance", min_points=50
    )
    path = positive_number(path_length_cm, "path_length_cm")
    if nc_model not in NC_MODELS:
        raise ValueError(f"nc_model must be one of {', '.join(NC_MODELS)}, not {nc_model!r}")
    with _one_blas_thread():
        return _fit(lam, y, path, nc_model)


#: Values of ``fit_spectrum(nc_model=...)``.
NC_MODELS = ("transitions", "smooth")


def _fit(lam: np.ndarray, y: np.ndarray, path: float, nc_model: str) -> SpectrumFit:
    step = float(np.median(np.diff(lam)))
    factor = max(1, int(round(WORK_STEP_NM / step)))
    lam_w, y_w = (_bin(lam, factor), _bin(y, factor)) if factor > 1 else (lam, y)
    noise = _noise_sigma(y) / np.sqrt(factor)
    # σ(A) = a + b·10^A from the data (noise grows where little light gets through).
    noise_model = spectral_noise.noise_model(y)
    sigma_w = spectral_noise.sigma_of(y_w, noise_model) / np.sqrt(factor)
    basis = _basis_for(lam_w)

    a0 = basis.matrix(None)
    coef0, rnorm0 = _solve(a0, y_w)
    nc_params: tuple[float, float] | None = None
    coef, a_used = coef0, a0
    found = None
    if nc_model == "transitions":
        # The NC transitions model finds the first exciton; the smooth block the MSC
        # detection uses starts from it.
        found = nc_search.find_nc(lam, y_w, sigma_w, factor)
        guesses = [] if found is None else [
            (found[0][0], float(np.clip(found[0][1], *NC_SIGMA_EV)))]
    else:
        # The reddest major hump seeds the NC; curvature maxima redder than it (a first
        # exciton that is only a shoulder of stronger higher transitions) compete.
        hump = _nc_guess(basis, y_w, y_w - a0 @ coef0, noise)
        guesses = [] if hump is None else [hump]
        for e in _curvature_candidates(basis, y_w, sigma_w):
            if hump is None or HC_EV_NM / e > HC_EV_NM / hump[0] + REDDER_THAN_HUMP_NM:
                guesses.append((e, NC_GUESS_SIGMA_EV))
        guesses = _screen(basis, y_w, guesses)
    # with the transitions model the smooth block's NC only serves the MSC detection:
    # its σ's (from the Jacobian) are not reported
    refined = [_refine_nc(basis, y_w, g, jacobian=nc_model != "transitions") for g in guesses]
    nc_jac: np.ndarray | None = None
    if refined:
        params, coef1, rnorm1, nc_jac = min(refined, key=lambda r: r[2])
        height = coef1[basis.n_fixed]
        rms1 = rnorm1 / np.sqrt(y_w.size)
        e_lo, e_hi = basis.energy[-1], basis.energy[0]
        inside = e_lo + params[1] < params[0] < min(e_hi, HC_EV_NM / NC_MIN_PEAK_NM)
        broad_enough = params[1] > 1.02 * NC_SIGMA_EV[0]
        significant = height > max(8.0 * noise, 8.0 * rms1) and rnorm1 < 0.9 * rnorm0
        significant = significant and broad_enough
        if inside and significant:
            nc_params, coef, a_used = params, coef1, basis.matrix(params)
    # The transitions model's second and third transition (their own offsets and
    # widths) join the NC block: the detection model's higher transitions share the
    # exciton's width, so a broader second or third transition on an MSC position would
    # otherwise be left as band-shaped misfit (or taken by a band).
    transitions = None
    if nc_params is not None and found is not None:
        transitions = found[0]
        a_used = _nc_detection_block(a_used, basis.n_fixed, basis.energy, transitions)
        coef, _ = _solve(a_used, y_w)

    # Smooth (NC + broad) absorbance under each band: misfit scales with it.
    n_bg = basis.background.shape[1]
    # Each band's centre is free within ±CENTRE_FREEDOM_NM of its family: a band 2 nm off
    # its nominal centre fitted there leaves a derivative-shaped residual that makes
    # the band look less significant and the misfit around it larger.
    centres = _free_centres(basis, a_used, coef, y_w, sigma_w)
    if any(c != FAMILY_CENTRES_NM[f] for f, c in centres.items()):
        a_used = _with_centres(basis, a_used, centres)
        coef, _ = _solve(a_used, y_w)
    smooth = a_used[:, basis.n_fixed :] @ coef[basis.n_fixed :]
    msc_coef = coef[n_bg:basis.n_fixed]
    residual = y_w - a_used @ coef
    msc = _msc_bands(basis, msc_coef, path)
    # Uncertainties from the spectrum's own noise σ(A), raised where the residual
    # scatters more than the noise nearby (local model mismatch counts as noise).
    window = max(3, int(round(MISFIT_WINDOW_NM / basis.step)))
    sigma_eff = sigma_w * spectral_noise.local_misfit_factor(residual, sigma_w, window)
    cov, index = _amplitude_covariance(basis, a_used, coef, sigma_eff, nc_params is not None)
    nc = None
    if nc_params:
        nc = _nc_peak(nc_params, _nc_height(basis, nc_params, y_w, coef), path,
                      _nc_sigmas(nc_jac, sigma_eff, cov, index, basis.n_fixed))
    # Each family's significance: the z of its fitted band shape against the rest of the
    # model (orthogonal to its active columns and to a local cubic, the smooth model's
    # misfit), on the residual with the band put back, over the local null inflation κ:
    # the same test at nearby positions where no family sits.
    active = coef > 0
    active[:4] = (True, False, True, False)
    weight = 1.0 / sigma_eff
    q = None  # orthonormal active columns, for the local null (computed when needed)
    msc_cols = a_used[:, n_bg:basis.n_fixed]
    for fam, band in msc.items():
        mask = basis.msc_owner == fam
        cols = [index[k] for k in np.flatnonzero(mask) + n_bg]
        sigma = float(np.sqrt(max(cov[np.ix_(cols, cols)].sum(), 0.0))) if cols else np.nan
        amp = band.absorbance
        shape = msc_cols[:, mask] @ msc_coef[mask]
        line_shape = 0.0
        if cols and amp > 0:
            keep = active.copy()
            keep[n_bg + np.flatnonzero(mask)] = False
            q_f, _ = np.linalg.qr(a_used[:, keep] * weight[:, None])
            at = np.array([int(np.argmin(np.abs(basis.lam - centres[fam])))])
            z = float(_projected_z(basis.lam, weight, q_f, residual + shape,
                                   (shape / amp)[:, None], at)[0])
            # κ ≥ 1 and the floor below only lower z: when z cannot reach the threshold
            # they are not computed (the reported significance is then that bound, < 5)
            kappa = 1.0
            if z >= DETECTION_SIGMA:
                if q is None:
                    q, _ = np.linalg.qr(a_used[:, active] * weight[:, None])
                kappa = _null_inflation(basis, q, weight, residual, msc_coef[mask] / amp, fam)
            z = max(z, 0.0) / kappa
            if found is not None:  # a band the NC exciton, moved, explains as well
                z = min(z, found[5].get(fam, np.inf))
            line_shape = _line_shape_sigma(basis.lam, weight, q_f, residual + shape,
                                           msc_coef[mask] / amp, centres[fam], at)
            if z >= DETECTION_SIGMA:
                # σ is what makes amp/σ that z, but not below the σ of the band (its
                # fitted shape) with every other amplitude free, active or not, times κ
                free = _shape_sigma(basis, a_used, coef, weight, shape / amp, mask,
                                    nc_params is not None)
                sigma = max(amp / z, kappa * free)
            elif z > 0:
                sigma = amp / z
            else:  # the band adds nothing: the covariance σ times κ
                sigma = sigma * kappa
        significant = bool(sigma > 0 and amp >= DETECTION_SIGMA * sigma)
        detected = significant and _separable(basis, shape, residual, smooth, fam, nc)
        msc[fam] = dataclasses.replace(
            band,
            detected=bool(detected),
            # the line shape's systematic 1σ in quadrature (not part of the detection z)
            absorbance_sigma=float(np.hypot(sigma, line_shape)),
            significance=amp / sigma if sigma > 0 and np.isfinite(amp) else np.nan,
            centre_nm=float(centres[fam]) if amp > 0 else np.nan,
        )

    full = _basis_for(lam, basis) if factor > 1 else basis
    a_full = _with_centres(full, full.matrix(nc_params), centres)
    if transitions is not None:
        a_full = _nc_detection_block(a_full, full.n_fixed, full.energy, transitions)
    model = a_full @ coef
    if nc_model == "transitions":
        # The reported NC: the lowest-energy excitonic transition of the transitions
        # model (the smooth block above only serves the MSC detection).
        nc = None if found is None else _transitions_nc(found, y_w, sigma_w, path)
    ss_res = float(np.sum((y - model) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    return SpectrumFit(
        msc=msc, nc=nc, extinction_model=sizing.EXTINCTION_MODEL, r_squared=r2, model=model
    )


def _msc_bands(basis: _Basis, msc_coef: np.ndarray, path: float) -> dict[int, MscBand]:
    """Band amplitudes and concentrations (detection and σ are added by the caller)."""
    out: dict[int, MscBand] = {}
    for fam in _NOMINAL:
        mask = basis.msc_owner == fam
        if not mask.any():
            out[fam] = MscBand(fam, False, float("nan"), float("nan"))
            continue
        amp = float(msc_coef[mask].sum())
        d = sizing.yu_diameter_nm(FAMILY_CENTRES_NM[fam])
        conc = sizing.particle_concentration_molar(amp, d, path)
        out[fam] = MscBand(fam, False, amp, conc)
    return out


def _nc_height(basis: _Basis, params: tuple[float, float], y: np.ndarray,
               coef: np.ndarray) -> float:
    """NC absorbance at its first-exciton peak: what Yu et al.'s ε refers to.

    The measured absorbance at the peak above the fitted background and MSC bands, so a
    first exciton that is not exactly Gaussian is not under-counted, and the tails of the
    NC's own higher transitions count as NC absorbance, as they do in Yu et al.'s method.
    """
    n_bg_msc = basis.n_fixed
    rest = basis.fixed @ coef[:n_bg_msc]
    order = np.argsort(basis.energy)
    e = basis.energy[order]
    return float(np.interp(params[0], e, y[order]) - np.interp(params[0], e, rest[order]))


def _separable(
    basis: _Basis,
    band: np.ndarray,
    residual: np.ndarray,
    smooth: np.ndarray,
    fam: int,
    nc: NcPeak | None,
) -> bool:
    """Can a detected band be told apart from the NC's own features?

    Without an NC there is nothing to confuse it with. With one, the band must be narrow
    (:func:`_is_narrow_band`: the NC's higher transitions are broad); and a band within
    one NC FWHM of the NC exciton, where the two shapes overlap, must also exceed
    :data:`NEAR_NC_RELATIVE_DETECTION` of the absorbance beneath it.
    """
    if nc is None:
        return True
    if not _is_narrow_band(basis, band, residual, fam):
        return False
    centre = FAMILY_CENTRES_NM[fam]
    if abs(centre - nc.peak_nm) < nc.fwhm_nm:
        under = float(np.interp(centre, basis.lam, smooth))
        return float(band.max()) > NEAR_NC_RELATIVE_DETECTION * under
    return True


def _is_narrow_band(
    basis: _Basis, band: np.ndarray, residual: np.ndarray, fam: int
) -> bool:
    """Is the family's band a narrow feature, rather than misfit of a broad one?

    The band is put back into the fit residual and, within ±:data:`NARROW_WINDOW_NM`
    of its centre, fitted on a linear baseline twice: with the band's own (narrow)
    shape and with a Gaussian of FWHM :data:`BROAD_TEST_FWHM_NM`. A fixed narrow MSC
    band is explained much better by its own shape; misfit of the NC's broad higher
    transitions is explained about as well by the broad one.
    """
    centre = FAMILY_CENTRES_NM[fam]
    near = np.abs(basis.lam - centre) <= NARROW_WINDOW_NM
    if near.sum() < 8:
        return True
    lam = basis.lam[near]
    local = (residual + band)[near]
    x = (lam - centre) / NARROW_WINDOW_NM
    s = BROAD_TEST_FWHM_NM * _SIG_PER_FWHM
    broad = np.exp(-0.5 * ((lam - centre) / s) ** 2)

    def ssr(shape: np.ndarray) -> float:
        a = np.column_stack([shape, np.ones_like(x), x])
        _, res, *_ = np.linalg.lstsq(a, local, rcond=None)
        return float(res[0]) if res.size else float(np.sum((local - a @ np.linalg.lstsq(
            a, local, rcond=None)[0]) ** 2))

    return ssr(band[near]) < NARROW_PREFERENCE * ssr(broad)


def _amplitude_covariance(
    basis: _Basis, a: np.ndarray, coef: np.ndarray, sigma: np.ndarray, with_nc: bool
) -> tuple[np.ndarray, dict[int, int]]:
    """Covariance of the linear amplitudes under noise ``sigma``.

    Over the active columns, every MSC column and the NC exciton (an inactive one is
    treated as if added), all others free: ``(XᵀWX)⁻¹``. Returns the matrix and the
    map from column index to its row.
    """
    use = coef > 0
    use[:4] = (True, False, True, False)  # b0, b1: one of each ± pair spans it
    n_bg = basis.background.shape[1]
    use[n_bg : basis.n_fixed] = True
    if with_nc:
        use[basis.n_fixed] = True
    x = a[:, use] / sigma[:, None]
    gram = x.T @ x
    gram += 1e-12 * float(np.trace(gram)) * np.eye(gram.shape[0])
    cov = np.linalg.inv(gram)
    rows = np.cumsum(use) - 1
    return cov, {int(k): int(rows[k]) for k in np.flatnonzero(use)}


def _nc_sigmas(jac: np.ndarray | None, sigma: np.ndarray, cov: np.ndarray,
               index: dict[int, int], exciton: int) -> tuple[float, float]:
    """σ of the exciton energy (eV, from the variable-projection Jacobian weighted by
    the noise) and of its amplitude."""
    e_sigma = np.nan
    if jac is not None:
        jw = jac / sigma[:, None]
        try:
            e_sigma = float(np.sqrt(max(np.linalg.inv(jw.T @ jw)[0, 0], 0.0)))
        except np.linalg.LinAlgError:
            pass
    k = index.get(exciton)
    h_sigma = float(np.sqrt(max(cov[k, k], 0.0))) if k is not None else np.nan
    return e_sigma, h_sigma


def _null_inflation(basis: _Basis, q: np.ndarray, weight: np.ndarray, residual: np.ndarray,
                    mix: np.ndarray, fam: int) -> float:
    """How much a band's z must shrink for correlated misfit (κ ≥ 1).

    Local null distribution: the family's band shape (``mix`` of its columns, unit
    height) at the grid positions :meth:`_Basis.null_positions` near the family but away
    from every family, tested like the band itself (:func:`_projected_z` on the fit
    residual, against the model's active columns ``q`` and a local cubic at each
    position); each z is N(0, 1) under white noise of the assumed σ. Their root mean
    square in the same spectrum is how much a band-shaped amplitude there actually
    scatters, in units of its noise σ.
    """
    pos = basis.null_positions(fam)
    if pos.size < NULL_MIN_POSITIONS:
        return 1.0
    z = _projected_z(basis.lam, weight, q, residual, basis.shifted_columns(pos) @ mix, pos)
    return float(max(1.0, np.sqrt(np.mean(z**2))))


def _projected_z(lam: np.ndarray, weight: np.ndarray, q: np.ndarray, r: np.ndarray,
                 g: np.ndarray, at: np.ndarray, amplitude: bool = False) -> np.ndarray:
    """Matched-filter z ``ĝᵀr̂/|ĝ|`` of each column of ``g`` (points, m).

    With ``amplitude`` the least-squares amplitude ``ĝᵀr̂/|ĝ|²`` of each column instead.

    ``ĝ`` is the column weighted by ``weight`` (1/σ) and made orthogonal to the
    orthonormal ``q`` (the model's weighted active columns) and to a polynomial of degree
    :data:`LOCAL_ORDER` within ±:data:`LOCAL_WINDOW_NM` of grid index ``at[j]`` (zero
    outside): smooth misfit of the model there is not taken as a band. ``r̂`` is ``r``
    weighted. Under white noise of σ, each z is N(0, 1).
    """
    n, m = g.shape
    gw = g * weight[:, None]
    gw = gw - q @ (q.T @ gw)
    rw = r * weight
    rw = rw - q @ (q.T @ rw)
    k = LOCAL_ORDER + 1
    x = (lam[:, None] - lam[at][None, :]) / LOCAL_WINDOW_NM
    inside = (np.abs(x) <= 1.0) * weight[:, None]
    poly = (x[..., None] ** np.arange(k) * inside[..., None]).reshape(n, m * k)
    poly = (poly - q @ (q.T @ poly)).reshape(n, m, k).transpose(1, 2, 0)  # (m, k, n)
    # remove the (orthogonalised) polynomial by its small normal equations
    gram = poly @ poly.transpose(0, 2, 1)
    gram += 1e-12 * np.trace(gram, axis1=1, axis2=2)[:, None, None] * np.eye(k)
    both = np.stack([gw.T, np.broadcast_to(rw, (m, n))], axis=2)  # (m, n, 2)
    proj = np.linalg.solve(gram, poly @ both)  # (m, k, 2)
    perp = both - poly.transpose(0, 2, 1) @ proj
    gg = np.maximum(np.einsum("mn,mn->m", perp[..., 0], perp[..., 0]), 1e-300)
    dot = np.einsum("mn,mn->m", perp[..., 0], perp[..., 1])
    return dot / gg if amplitude else dot / np.sqrt(gg)


def _fwhm_nm(mix: np.ndarray) -> float:
    """FWHM (nm) of a band made of the family's Gaussian columns (weights ``mix``, sum 1).

    The mix of Gaussians of FWHM 6 and 11 nm has its FWHM between the two: its half
    width is interpolated on a 0.005 nm grid there.
    """
    half = np.arange(0.5 * min(MSC_FWHM_NM), 0.5 * max(MSC_FWHM_NM) + 1e-9, 0.005)
    sig = np.array(MSC_FWHM_NM) * _SIG_PER_FWHM
    prof = np.exp(-0.5 * (half[:, None] / sig) ** 2) @ mix
    return float(2.0 * np.interp(0.5, prof[::-1], half[::-1]))  # prof falls with half


def _line_shape_sigma(lam: np.ndarray, weight: np.ndarray, q: np.ndarray, r: np.ndarray,
                      mix: np.ndarray, centre: float, at: np.ndarray) -> float:
    """Systematic 1σ of a band's absorbance from its unknown line shape.

    An MSC band is broadened inhomogeneously (size/environment distribution: Gaussian
    in energy) or homogeneously (lifetime: Lorentzian), and the fit's two Gaussian
    columns describe either only approximately; what the fit then attributes to the
    band's height and what to the NC, the background and the local cubic depends on the
    shape's wings. The band's height is estimated on ``r`` (the residual with the band
    put back) by the same projection as its detection test (:func:`_projected_z`:
    orthogonal to the other active columns ``q`` and to a local cubic) with a Gaussian
    and with a Lorentzian template in energy of the fitted band's FWHM at its centre.
    With the two shapes equally likely a priori, the height lies at one or the other
    estimate; the standard deviation of that two-point distribution, half their
    difference, is the 1σ.
    """
    half = 0.5 * _fwhm_nm(mix)
    fwhm_ev = HC_EV_NM / (centre - half) - HC_EV_NM / (centre + half)
    g = band_shapes(lam, centre, (("g", fwhm_ev), ("l", fwhm_ev)))[:, 0, :]
    a_g, a_l = _projected_z(lam, weight, q, r, g, np.repeat(at, 2), amplitude=True)
    return 0.5 * abs(float(a_g - a_l))


def _free_centres(basis: _Basis, a: np.ndarray, coef: np.ndarray, y: np.ndarray,
                  sigma: np.ndarray) -> dict[int, float]:
    """Each family's band centre within ±:data:`CENTRE_FREEDOM_NM` of its position.

    On the residual with the family's band put back, every column shape at every centre
    (:data:`CENTRE_STEP_NM` steps) is matched, noise-weighted, against a cubic within
    ±:data:`LOCAL_WINDOW_NM` of the family position; the centre of the largest z wins.
    Families without a band keep their position.
    """
    n_bg = basis.background.shape[1]
    residual = y - a @ coef
    offsets = np.arange(-CENTRE_FREEDOM_NM, CENTRE_FREEDOM_NM + 1e-9, CENTRE_STEP_NM)
    out: dict[int, float] = {}
    for fam in sorted(set(basis.msc_owner.tolist())):
        nominal = FAMILY_CENTRES_NM[fam]
        own = n_bg + np.flatnonzero(basis.msc_owner == fam)
        near = np.abs(basis.lam - nominal) <= LOCAL_WINDOW_NM
        if coef[own].sum() <= 0 or near.sum() <= 2 * (LOCAL_ORDER + 1):
            out[fam] = nominal
            continue
        lam, w = basis.lam[near], 1.0 / sigma[near]
        x = (lam - nominal) / LOCAL_WINDOW_NM
        qp, _ = np.linalg.qr(x[:, None] ** np.arange(LOCAL_ORDER + 1) * w[:, None])
        cands = nominal + offsets
        g = band_shapes(lam, cands).reshape(lam.size, -1) * w[:, None]
        g -= qp @ (qp.T @ g)
        r = (residual + a[:, own] @ coef[own])[near] * w
        z = (g.T @ r) / np.sqrt(np.maximum(np.einsum("ij,ij->j", g, g), 1e-300))
        out[fam] = float(cands[int(np.argmax(z)) // len(MSC_SHAPES)])
    return out


def _with_centres(basis: _Basis, a: np.ndarray, centres: dict[int, float]) -> np.ndarray:
    """``a`` with each family's columns moved to its centre in ``centres``."""
    out = a.copy()
    n_bg = basis.background.shape[1]
    for fam, centre in centres.items():
        own = n_bg + np.flatnonzero(basis.msc_owner == fam)
        if own.size and centre != FAMILY_CENTRES_NM[fam]:
            out[:, own] = band_shapes(basis.lam, centre)[:, 0, :]
    return out


def _nc_detection_block(a: np.ndarray, n_fixed: int, energy: np.ndarray, params) -> np.ndarray:
    """The detection model's NC block, anchored on the transitions model ``params``.

    ``a`` is the smooth block's matrix (exciton Gaussian at column ``n_fixed``, then its
    higher transitions at :data:`NC_HIGHER_OFFSETS_EV`, then the broad columns). The
    exciton becomes the transitions model's (Gaussian, plus its Lorentzian part), the
    higher-transition columns sit at the same offsets above that exciton with
    :data:`~msc_bluesky.analysis.spectrum_model.NC_HIGHER_WIDTH` × its width (higher
    transitions are broader than the first exciton), and the transitions model's second
    and third transition are added at their own offsets and widths. So a pseudo-Voigt
    exciton or a broad second or third transition on an MSC position is modelled as NC,
    not left as band-shaped misfit that a band column takes.
    """
    out = a.copy()
    e1, s1 = params[0], params[1]
    centres = e1 + np.array(NC_HIGHER_OFFSETS_EV)
    out[:, n_fixed + 1:n_fixed + 1 + centres.size] = np.exp(
        -0.5 * ((energy[:, None] - centres) / (spectrum_model.NC_HIGHER_WIDTH * s1)) ** 2)
    t = spectrum_model.transitions_block(energy, params)
    out[:, n_fixed] = t[:, 0]
    return np.hstack([out, t[:, 1:]])


def _shape_sigma(basis: _Basis, a: np.ndarray, coef: np.ndarray, weight: np.ndarray,
                 shape: np.ndarray, mask: np.ndarray, with_nc: bool) -> float:
    """1σ of a band's amplitude (unit-height ``shape``, noise weights ``weight``) with the
    model's active columns, every other family's columns and the NC exciton free."""
    n_bg = basis.background.shape[1]
    use = coef > 0
    use[:4] = (True, False, True, False)  # b0, b1: one of each ± pair spans it
    use[n_bg:basis.n_fixed] = True
    use[n_bg + np.flatnonzero(mask)] = False
    if with_nc:
        use[basis.n_fixed] = True
    x = np.column_stack([a[:, use], shape]) * weight[:, None]
    r = np.linalg.qr(x, mode="r")
    return float(1.0 / max(abs(r[-1, -1]), 1e-300))  # 1 / |shape orthogonal to the rest|


def _transitions_nc(found, y: np.ndarray, sigma: np.ndarray, path: float) -> NcPeak:
    """:class:`NcPeak` of the transitions model ``found`` (:func:`nc_search.find_nc`).

    The peak σ comes from the Jacobian of the noise-weighted residual, the exciton
    amplitude's from the covariance of the active columns, both scaled by √χ²ᵣ when
    the model does not reach the noise.
    """
    params, nbasis, coef, rnorm, jac = found[:5]
    w = 1.0 / sigma
    a = nbasis.matrix(params)
    chi2_red = max(1.0, nc_search.reduced_chi2(coef, rnorm, y.size))
    # parameters of a transition with zero amplitude do not move the model: left out
    live = np.linalg.norm(jac, axis=0) > 0
    live[0] = True
    try:
        jl = jac[:, live]
        e_sigma = float(np.sqrt(max(np.linalg.inv(jl.T @ jl)[0, 0], 0.0) * chi2_red))
    except np.linalg.LinAlgError:
        e_sigma = np.nan
    k = nbasis.n_fixed
    use = coef > 0
    use[:4] = (True, False, True, False)
    use[k] = True
    x = a[:, use] * w[:, None]
    gram = x.T @ x + 1e-12 * float(np.trace(x.T @ x)) * np.eye(int(use.sum()))
    row = int(np.cumsum(use)[k] - 1)
    h_sigma = float(np.sqrt(max(np.linalg.inv(gram)[row, row], 0.0) * chi2_red))
    return _nc_peak(params, _nc_height(nbasis, params, y, coef), path, (e_sigma, h_sigma))


def _nc_peak(params: tuple[float, float], height: float, path: float,
             sigmas: tuple[float, float] = (np.nan, np.nan)) -> NcPeak:
    e_nc, s_nc = params[:2]
    half = s_nc / _SIG_PER_FWHM / 2.0
    peak = HC_EV_NM / e_nc
    fwhm = HC_EV_NM / (e_nc - half) - HC_EV_NM / (e_nc + half)
    d = float(sizing.yu_diameter_nm(peak))
    eps = float(sizing.extinction_coefficient(d))
    e_sigma, h_sigma = sigmas
    peak_sigma = HC_EV_NM / e_nc**2 * e_sigma
    slope = abs(float(sizing.yu_diameter_nm(peak + 0.5)) - float(sizing.yu_diameter_nm(peak - 0.5)))
    d_sigma = slope * peak_sigma
    conc = float(height) / (eps * path)
    rel = np.hypot(h_sigma / height if height > 0 else np.inf, 2.65 * d_sigma / d)
    return NcPeak(
        peak_nm_sigma=float(peak_sigma),
        diameter_nm_sigma=float(d_sigma),
        concentration_molar_sigma=float(abs(conc) * rel),
        peak_nm=float(peak),
        fwhm_nm=float(fwhm),
        absorbance=float(height),
        diameter_nm=d,
        units_per_particle=float(sizing.units_per_particle(d)),
        extinction_coefficient=eps,
        concentration_molar=float(height) / (eps * path),
    )
