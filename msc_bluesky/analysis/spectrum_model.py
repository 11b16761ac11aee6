"""Design matrices of the NC transitions model (:mod:`~msc_bluesky.analysis.nc_search`).

Everything is built on the photon-energy axis ``E = hc/λ`` (line shapes of real spectra
are symmetric in energy, not in wavelength), on the working bins of the measured grid
(narrow columns evaluated on the measured grid and averaged like the data).

- Background: offset and tilt (either sign) and scattering ``(λ_min/λ)^n`` for n = 1–4
  (non-negative; their sums follow any power 1–4).
- MSC family ``F``: three columns at the family position (Gaussian in energy, FWHM
  0.045 and 0.08 eV; Lorentzian, FWHM 0.06 eV), so bands do not pull the NC.
- Screening block ``(E1, s1)``: the first exciton (Gaussian and Lorentzian of the same
  FWHM), then flexible higher-transition Gaussians from ``E1 + max(0.09 eV, 2 s1)`` to the
  end of the grid (≥ 1.2× the exciton's width, widening with distance, 1.5 σ apart).
  Cheap (linear) and good enough to rank first-exciton candidates.
- Transitions model ``(E1, s1, o2, r2, o3, σ3)``: the first exciton (Gaussian + Lorentzian,
  any pseudo-Voigt mix), the second transition at ``E1 + o2`` with σ ``r2·s1``, the third
  at ``E1 + o3`` with σ ``σ3``, and the interband continuum as cubic B-splines on absolute
  knots 0.1 eV apart from 0.1 eV above the exciton (smooth, no ripple). Nothing sits red
  of the exciton: it is the lowest-energy transition whatever the heights of the others.
"""

from __future__ import annotations

import functools

import numpy as np

#: hc in eV nm.
HC_EV_NM = 1239.841984

#: Fitted centre (nm) of each MSC family, keyed by nominal peak. 380/382 is one family
#: (centre 381), 465–467 is one family (centre 466, nominal key 467).
FAMILY_CENTRES_NM: dict[int, float] = {350: 350.0, 380: 381.0, 403: 403.0, 437: 437.0, 467: 466.0}

#: Joint-fit columns of a family: (shape, FWHM in eV).
JOINT_COLUMNS: tuple[tuple[str, float], ...] = (("g", 0.045), ("g", 0.08), ("l", 0.06))

#: NC exciton Gaussian σ range (eV): FWHM ≈ 0.075–0.94 eV.
NC_SIGMA_EV = (0.028, 0.40)

#: Higher-transition columns: first offset max(NC_FIRST_OFFSET_EV, 2 s1) above E1,
#: σ = max(NC_HIGHER_WIDTH × s1, NC_HIGHER_SLOPE × offset), spacing NC_HIGHER_SPACING σ.
NC_FIRST_OFFSET_EV = 0.09
NC_HIGHER_WIDTH = 1.2
NC_HIGHER_SLOPE = 0.12
NC_HIGHER_SPACING = 1.5
#: Beyond the second transition (offset > NC_FAR_OFFSET_EV) no column is narrower than
#: NC_FAR_SIGMA_EV: the third transition and the continuum are broad (FWHM ≥ 0.15 eV).
NC_FAR_OFFSET_EV = 0.32
NC_FAR_SIGMA_EV = 0.06

#: Without an NC, broad columns (σ BROAD_SIGMA_EV, every BROAD_STEP_EV) model only a
#: deep-UV rise above this energy (eV).
UV_ONLY_EV = HC_EV_NM / 335.0
BROAD_SIGMA_EV = 0.11
BROAD_STEP_EV = 0.10

_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def gaussian(energy: np.ndarray, centre: np.ndarray | float, fwhm: np.ndarray | float):
    """Unit-height Gaussian in energy (broadcasts)."""
    return np.exp(-4.0 * np.log(2.0) * ((energy - centre) / fwhm) ** 2)


def lorentzian(energy: np.ndarray, centre: np.ndarray | float, fwhm: np.ndarray | float):
    """Unit-height Lorentzian in energy (broadcasts)."""
    return 1.0 / (1.0 + (2.0 * (energy - centre) / fwhm) ** 2)


def bin_rows(x: np.ndarray, factor: int) -> np.ndarray:
    """Average the first axis of ``x`` in bins of ``factor`` (a trailing rest is dropped)."""
    if factor <= 1:
        return x
    n = (x.shape[0] // factor) * factor
    return x[:n].reshape(n // factor, factor, *x.shape[1:]).mean(axis=1)


@functools.lru_cache(maxsize=256)
def _offsets(s1_key: int, span_key: int) -> np.ndarray:
    s1, span = s1_key * 1e-4, span_key * 1e-3

    def sigma(o: float) -> float:  # higher_sigma for one offset, in plain floats
        far = NC_FAR_SIGMA_EV if o > NC_FAR_OFFSET_EV else 0.0
        return max(NC_HIGHER_WIDTH * s1, NC_HIGHER_SLOPE * o, far)

    out = []
    o = max(NC_FIRST_OFFSET_EV, 2.0 * s1)
    while o < span + 2.0 * sigma(o):
        out.append(o)
        o += NC_HIGHER_SPACING * sigma(o)
    return np.array(out)


def nc_offsets(s1: float, e1: float, e_max: float) -> np.ndarray:
    """Offsets (eV) above the exciton of the flexible higher-transition columns (up to
    the grid's highest energy; cached on a 0.1 meV / 1 meV key)."""
    return _offsets(int(round(s1 * 1e4)), int(round((e_max - e1) * 1e3)))


def higher_sigma(s1: float, offset: np.ndarray | float):
    """Gaussian σ (eV) of a higher-transition column at ``offset`` above the exciton."""
    o = np.asarray(offset)
    far = np.where(o > NC_FAR_OFFSET_EV, NC_FAR_SIGMA_EV, 0.0)
    return np.maximum(np.maximum(NC_HIGHER_WIDTH * s1, NC_HIGHER_SLOPE * o), far)


def nc_block(energy: np.ndarray, e1: float, s1: float, offsets: np.ndarray) -> np.ndarray:
    """NC columns: exciton Gaussian, exciton Lorentzian, higher transitions."""
    fwhm = s1 * _FWHM_PER_SIGMA
    centres = e1 + offsets
    widths = higher_sigma(s1, offsets) * _FWHM_PER_SIGMA
    return np.column_stack([
        gaussian(energy, e1, fwhm),
        lorentzian(energy, e1, fwhm),
        gaussian(energy[:, None], centres[None, :], widths[None, :]),
    ])


#: Parametric NC transitions (after the exciton is located): the second transition at
#: E1 + o2 (o2 in SECOND_OFFSET_EV) with σ2 = r2·s1 (r2 in SECOND_WIDTH), the third at
#: E1 + o3 (o3 in THIRD_OFFSET_EV) with σ3 in THIRD_SIGMA_EV, and the interband
#: continuum as broad columns from CONTINUUM_FROM_EV above the exciton.
SECOND_OFFSET_EV = (0.08, 0.36)
SECOND_WIDTH = (1.0, 3.0)
THIRD_OFFSET_EV = (0.38, 0.72)
THIRD_SIGMA_EV = (0.06, 0.20)
CONTINUUM_FROM_EV = 0.10
#: Knot spacing (eV) of the continuum's cubic B-splines: its narrowest bump has a FWHM
#: of ~0.19 eV, far broader than an MSC band, and it follows any smooth rise without the
#: ripple of a sum of spaced Gaussians.
CONTINUUM_KNOT_EV = 0.10


def continuum_block(energy: np.ndarray, e1: float, e_max: float | None = None) -> np.ndarray:
    """Cubic B-splines of the interband continuum on absolute knots (multiples of
    :data:`CONTINUUM_KNOT_EV`), the first starting at least CONTINUUM_FROM_EV above the
    exciton; as many as reach the grid's highest energy."""
    h = CONTINUUM_KNOT_EV
    first = np.ceil((e1 + CONTINUUM_FROM_EV) / h) * h
    lefts = np.arange(first, float(energy.max()) if e_max is None else e_max, h)
    if lefts.size == 0:
        return np.empty((energy.size, 0))
    return 1.5 * cubic_bspline((energy[:, None] - lefts[None, :]) / h)


def cubic_bspline(t: np.ndarray) -> np.ndarray:
    """Cardinal cubic B-spline on [0, 4) (peak 2/3 at t = 2, zero outside)."""
    t = np.asarray(t)
    out = np.zeros_like(t)
    for lo, poly in ((0, lambda u: u**3 / 6.0),
                     (1, lambda u: (-3 * u**3 + 12 * u**2 - 12 * u + 4) / 6.0),
                     (2, lambda u: (3 * u**3 - 24 * u**2 + 60 * u - 44) / 6.0),
                     (3, lambda u: (4 - u) ** 3 / 6.0)):
        m = (t >= lo) & (t < lo + 1)
        out[m] = poly(t[m])
    return out


def transitions_block(energy: np.ndarray, p) -> np.ndarray:
    """NC transitions of the parametric model ``p = (E1, s1, o2, r2, o3, σ3)``: exciton
    Gaussian and Lorentzian (same FWHM), second and third transition (Gaussians)."""
    e1, s1, o2, r2, o3, s3 = p
    k = 4.0 * np.log(2.0)
    fwhm = s1 * _FWHM_PER_SIGMA
    d = energy - e1
    return np.column_stack([
        np.exp(-k * (d / fwhm) ** 2), 1.0 / (1.0 + (2.0 * d / fwhm) ** 2),
        np.exp(-0.5 * ((d - o2) / (r2 * s1)) ** 2), np.exp(-0.5 * ((d - o3) / s3) ** 2),
    ])


class Basis:
    """Fixed columns for one measured grid and its working bins."""

    def __init__(self, lam: np.ndarray, factor: int) -> None:
        self.factor = factor
        self.lam_full = lam
        self.lam = bin_rows(lam, factor)
        self.energy = HC_EV_NM / self.lam
        #: median working step (nm)
        self.step = float(np.median(np.diff(self.lam)))
        e_full = HC_EV_NM / lam
        x = (lam - lam.mean()) / (lam[-1] - lam[0])
        ones = np.ones_like(lam)
        bg = [ones, -ones, x, -x] + [(lam[0] / lam) ** n for n in (1, 2, 3, 4)]
        self.background = bin_rows(np.column_stack(bg), factor)
        self.n_bg = self.background.shape[1]
        inside = (lam[0] + 3.0, lam[-1] - 3.0)
        self.families = [f for f in sorted(FAMILY_CENTRES_NM)
                         if inside[0] <= FAMILY_CENTRES_NM[f] <= inside[1]]
        cols, owners = [], []
        for fam in self.families:
            e0 = HC_EV_NM / FAMILY_CENTRES_NM[fam]
            for shape, fwhm in JOINT_COLUMNS:
                f = gaussian if shape == "g" else lorentzian
                cols.append(f(e_full, e0, fwhm))
                owners.append(fam)
        msc = np.column_stack(cols) if cols else np.empty((lam.size, 0))
        self.msc = bin_rows(msc, factor)
        self.msc_owner = np.array(owners, dtype=int)
        self.fixed = np.hstack([self.background, self.msc])
        self.n_fixed = self.fixed.shape[1]
        first = np.floor(self.energy[-1] / BROAD_STEP_EV) * BROAD_STEP_EV
        centres = np.arange(first, self.energy[0] + 2.0 * BROAD_SIGMA_EV, BROAD_STEP_EV)
        centres = centres[centres >= UV_ONLY_EV]
        self._continuum: dict[int, np.ndarray] = {}
        self.uv = np.exp(-0.5 * ((self.energy[:, None] - centres) / BROAD_SIGMA_EV) ** 2)

    def matrix(self, nc: tuple[float, ...] | None) -> np.ndarray:
        """Columns: background, MSC, then the NC block or the UV-only broad columns."""
        if nc is None:
            return np.hstack([self.fixed, self.uv])
        if len(nc) == 2:  # exciton + flexible higher-transition columns
            e1, s1 = nc
            offsets = nc_offsets(s1, e1, float(self.energy[0]))
            return np.hstack([self.fixed, nc_block(self.energy, e1, s1, offsets)])
        return np.hstack([self.fixed, transitions_block(self.energy, nc),
                          self.continuum(nc[0])])

    def continuum(self, e1: float) -> np.ndarray:
        """:func:`continuum_block` on the working grid; its knots are absolute, so it
        depends on ``e1`` only through the first knot and is cached by it."""
        first = int(np.ceil((e1 + CONTINUUM_FROM_EV) / CONTINUUM_KNOT_EV))
        block = self._continuum.get(first)
        if block is None:
            block = self._continuum[first] = continuum_block(self.energy, e1)
        return block


_CACHE: dict[tuple[bytes, int], Basis] = {}


def basis_for(lam: np.ndarray, factor: int) -> Basis:
    """Design matrices are reused: a spectrometer reports the same grid every time."""
    key = (lam.tobytes(), factor)
    basis = _CACHE.get(key)
    if basis is None:
        if len(_CACHE) >= 8:
            _CACHE.pop(next(iter(_CACHE)))
        basis = _CACHE[key] = Basis(lam, factor)
    return basis
