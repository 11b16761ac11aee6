"""SAXS curves with known truth, written from scratch for validation (no msc_bluesky code).

Nothing here imports msc_bluesky: the sphere form factor, the size distributions, the
background, the instrument's q resolution and its noise are written anew, so that the
analysis is checked against data it was not built from. Conventions: q in nm^-1,
intensity in cm^-1, volume fractions absolute, radii in nm.

- Populations: Schulz (gamma) or log-normal *number* distributions of homogeneous spheres;
  magic-size clusters at 0.87, 0.94 and 1.02 nm with 2-4 % relative width, regular
  nanocrystals at 1.2-4 nm with 5-15 %.
- Background: a flat part (cell, incoherent) plus the solvent's, which rises slowly
  towards the liquid's structure peak near 14 nm^-1 (a Lorentzian tail).
- Instrument: Gaussian q resolution (constant plus proportional part) and counting noise
  ``sigma = sqrt(rel^2 I I_median + floor^2)`` (Poisson-like, sigma ∝ sqrt(I), plus a floor).
- Precursor: a broad low-q maximum near 0.25 nm^-1 and lamellar Bragg peaks at q1 ≈ 1.84
  and 2 q1 (pseudo-Voigt), no particles.

:func:`cases` draws a seeded, varied set of :class:`Case` objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: CdSe against octadecene, 33e-6 Å^-2 written in nm^-2.
CONTRAST_NM2 = 33.0e-4
#: The instrument's q grid (nm^-1): 300 log-spaced points.
Q = np.geomspace(0.05, 8.0, 300)
#: Magic radii (nm) seen by SAXS in the paper's Fig. 2.
MAGIC_RADII = (0.87, 0.94, 1.02)

_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(9)
_GH_W = _GH_W / _GH_W.sum()


def _ball_amplitude(x: np.ndarray) -> np.ndarray:
    """3 j1(x)/x for a homogeneous ball, series below x = 0.01."""
    out = np.empty_like(x)
    small = x < 1e-2
    xs = x[~small]
    out[~small] = 3.0 * (np.sin(xs) - xs * np.cos(xs)) / xs**3
    out[small] = 1.0 - x[small] ** 2 / 10.0 + x[small] ** 4 / 280.0
    return out


def _number_density(kind: str, r: np.ndarray, mean: float, rel: float) -> np.ndarray:
    if kind == "schulz":
        z = 1.0 / rel**2 - 1.0
        # log of r^z exp(-(z+1) r/mean), shifted for stability
        logp = z * np.log(r / mean) - (z + 1.0) * (r / mean - 1.0)
        return np.exp(logp - logp.max())
    if kind == "lognormal":
        s = math.sqrt(math.log1p(rel**2))
        mu = math.log(mean) - 0.5 * s**2
        return np.exp(-0.5 * ((np.log(r) - mu) / s) ** 2) / r
    raise ValueError(f"unknown distribution {kind!r}")


@dataclass(frozen=True)
class Population:
    """One population: number-mean radius, relative width, total volume fraction."""

    radius_nm: float
    rel_width: float
    volume_fraction: float
    kind: str = "schulz"

    def volume_weighted_mean_nm(self) -> float:
        r, w = self._volume_weights()
        return float(np.sum(w * r))

    def _volume_weights(self) -> tuple[np.ndarray, np.ndarray]:
        lo = max(self.radius_nm * (1.0 - 6.0 * self.rel_width), 0.02)
        hi = self.radius_nm * (1.0 + 8.0 * self.rel_width)
        r = np.linspace(lo, hi, 161)
        w = _number_density(self.kind, r, self.radius_nm, self.rel_width) * r**3
        return r, w / w.sum()

    def intensity(self, q: np.ndarray) -> np.ndarray:
        """Absolute intensity (cm^-1): φ Δρ² <V² P> / <V>, nm^-1 → cm^-1 by 1e7."""
        r, w = self._volume_weights()
        vol = 4.0 / 3.0 * math.pi * r**3
        amp = _ball_amplitude(np.outer(q, r))
        return self.volume_fraction * CONTRAST_NM2**2 * 1e7 * (amp**2 @ (w * vol))


@dataclass(frozen=True)
class Case:
    """One synthetic measurement and its truth."""

    label: str
    q: np.ndarray
    intensity: np.ndarray
    sigma: np.ndarray
    populations: tuple[Population, ...]
    bragg: bool = False
    meta: dict = field(default_factory=dict)

    def share(self, radius_nm: float) -> float:
        """True volume share of the population at ``radius_nm``."""
        total = sum(p.volume_fraction for p in self.populations)
        return sum(
            p.volume_fraction for p in self.populations if abs(p.radius_nm - radius_nm) < 0.02
        ) / total


def background(q: np.ndarray, flat: float, solvent: float) -> np.ndarray:
    """Flat part plus the solvent's slowly rising tail of its liquid peak at 14 nm^-1."""
    return flat + solvent / (1.0 + ((q - 14.0) / 6.0) ** 2)


def bragg_peaks(q: np.ndarray, q1: float, height: float, fwhm: float, eta: float) -> np.ndarray:
    """Lamellar first and second order (pseudo-Voigt), second at 2 q1, 0.25× as high."""
    out = np.zeros_like(q)
    for order, rel in ((1, 1.0), (2, 0.25)):
        x = (q - order * q1) / (fwhm / 2.0)
        out += height * rel * (eta / (1.0 + x**2) + (1.0 - eta) * np.exp(-math.log(2.0) * x**2))
    return out


def measure(
    q: np.ndarray,
    clean_at: callable,
    *,
    rel_noise: float,
    rng: np.random.Generator,
    dq_const: float = 0.004,
    dq_rel: float = 0.015,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smear by the q resolution, then add counting noise. Returns clean, noisy, sigma."""
    dq = np.sqrt(dq_const**2 + (dq_rel * q) ** 2)
    nodes = q[:, None] + dq[:, None] * _GH_X[None, :]
    nodes = np.abs(nodes)
    clean = (clean_at(nodes.ravel()).reshape(nodes.shape)) @ _GH_W
    med = float(np.median(clean))
    sigma = np.sqrt(rel_noise**2 * clean * med + (0.1 * rel_noise * med) ** 2)
    return clean, clean + rng.normal(0.0, sigma), sigma


def particle_case(
    pops: tuple[Population, ...],
    rng: np.random.Generator,
    *,
    rel_noise: float = 0.01,
    label: str = "",
    q: np.ndarray = Q,
    flat: float | None = None,
    solvent: float | None = None,
    dq_rel: float | None = None,
) -> Case:
    """A curve of spheres over a flat + solvent background, smeared and noisy."""
    flat = float(rng.uniform(0.004, 0.02)) if flat is None else flat
    solvent = float(rng.uniform(0.0, 0.5) * flat) if solvent is None else solvent
    dq_rel = float(rng.uniform(0.005, 0.02)) if dq_rel is None else dq_rel

    def clean_at(qq: np.ndarray) -> np.ndarray:
        return background(qq, flat, solvent) + sum(p.intensity(qq) for p in pops)

    _, noisy, sigma = measure(q, clean_at, rel_noise=rel_noise, rng=rng, dq_rel=dq_rel)
    meta = {"flat": flat, "solvent": solvent, "dq_rel": dq_rel, "rel_noise": rel_noise}
    return Case(label, q, noisy, sigma, pops, meta=meta)


def precursor_case(rng: np.random.Generator, *, rel_noise: float = 0.01, q: np.ndarray = Q) -> Case:
    """Precursor mixture below ~50 °C: low-q maximum and lamellar Bragg peaks, no particles."""
    q1 = float(rng.uniform(1.80, 1.88))
    height = float(rng.uniform(0.05, 0.5))
    fwhm = float(rng.uniform(0.04, 0.12))
    eta = float(rng.uniform(0.0, 1.0))
    flat = float(rng.uniform(0.01, 0.03))
    low = float(rng.uniform(0.05, 0.3))
    q0 = float(rng.uniform(0.2, 0.3))

    def clean_at(qq: np.ndarray) -> np.ndarray:
        hump = low * np.exp(-0.5 * (np.log(qq / q0) / 0.6) ** 2)
        return background(qq, flat, 0.2 * flat) + hump + bragg_peaks(qq, q1, height, fwhm, eta)

    _, noisy, sigma = measure(q, clean_at, rel_noise=rel_noise, rng=rng)
    return Case("precursor", q, noisy, sigma, (), bragg=True, meta={"q1": q1, "height": height})


def _magic(radius: float, rng: np.random.Generator, fraction: float) -> Population:
    return Population(
        radius_nm=radius * float(rng.uniform(0.995, 1.005)),
        rel_width=float(rng.uniform(0.02, 0.04)),
        volume_fraction=fraction,
        kind=str(rng.choice(["schulz", "lognormal"])),
    )


def magic_pair(pair: tuple[float, float], share: float, rng: np.random.Generator,
               *, rel_noise: float = 0.01) -> Case:
    """Two magic sizes, the first holding ``share`` of the volume."""
    total = float(rng.uniform(5e-4, 2e-3))
    pops = (_magic(pair[0], rng, share * total), _magic(pair[1], rng, (1 - share) * total))
    return particle_case(pops, rng, rel_noise=rel_noise, label=f"pair {pair[0]}/{pair[1]}")


def magic_single(radius: float, rng: np.random.Generator, *, rel_noise: float = 0.01) -> Case:
    """One magic size."""
    pops = (_magic(radius, rng, float(rng.uniform(5e-4, 2e-3))),)
    return particle_case(pops, rng, rel_noise=rel_noise, label=f"single {radius}")


def nc_case(rng: np.random.Generator, *, with_msc: bool, rel_noise: float = 0.01) -> Case:
    """Regular NCs (1.2-4 nm, 5-15 %), optionally beside a magic size."""
    nc = Population(
        radius_nm=float(rng.uniform(1.2, 4.0)),
        rel_width=float(rng.uniform(0.05, 0.15)),
        volume_fraction=float(rng.uniform(3e-4, 2e-3)),
        kind=str(rng.choice(["schulz", "lognormal"])),
    )
    pops = (nc,)
    if with_msc:
        pops = (_magic(float(rng.choice(MAGIC_RADII)), rng, float(rng.uniform(3e-4, 1.5e-3))), nc)
    return particle_case(pops, rng, rel_noise=rel_noise, label="nc+msc" if with_msc else "nc")


def cases(seed: int = 12, n_each: int = 60) -> list[Case]:
    """A varied, seeded set: magic pairs, singles, NCs (with and without MSCs), precursors.

    With the default ``n_each`` = 60: 120 pairs, 60 singles, 60 NC, 60 NC+MSC and 30
    precursor curves (330 curves).
    """
    rng = np.random.default_rng(seed)
    out: list[Case] = []
    for k in range(2 * n_each):
        pair = (0.87, 0.94) if k % 2 == 0 else (0.94, 1.02)
        out.append(magic_pair(pair, float(rng.uniform(0.3, 0.7)), rng))
    for k in range(n_each):
        out.append(magic_single(MAGIC_RADII[k % 3], rng))
    for k in range(2 * n_each):
        out.append(nc_case(rng, with_msc=bool(k % 2)))
    for _ in range(n_each // 2):
        out.append(precursor_case(rng))
    return out


def repeated_noise(case_pops: tuple[Population, ...], n: int, seed: int,
                   *, rel_noise: float = 0.01) -> list[Case]:
    """``n`` noise realisations of one fixed truth and background (for σ coverage)."""
    rng = np.random.default_rng(seed)
    flat, solvent, dq_rel = 0.01, 0.003, 0.01
    return [
        particle_case(case_pops, rng, rel_noise=rel_noise, flat=flat, solvent=solvent,
                      dq_rel=dq_rel, label="repeat")
        for _ in range(n)
    ]


# --------------------------------------------------------------------------- scoring
# Fits are passed in as plain numbers, so this module still imports nothing of the
# package: ``fit(q, intensity, sigma)`` must return an object with ``populations``
# (each with ``radius_nm``, ``volume_fraction``, ``volume_fraction_sigma``), ``fit_ok``.

#: Populations below this radius (nm) count as magic-size clusters when scoring.
CLUSTER_LIMIT_NM = 1.1


def _label(radius: float) -> float:
    return min(MAGIC_RADII, key=lambda m: abs(math.log(radius / m)))


def cluster_shares(pops) -> dict[float, tuple[float, float]]:
    """Volume fraction and σ per nearest magic radius, over populations below 1.1 nm."""
    out: dict[float, tuple[float, float]] = {}
    for p in pops:
        if p.radius_nm < CLUSTER_LIMIT_NM:
            m = _label(p.radius_nm)
            vf, var = out.get(m, (0.0, 0.0))
            out[m] = (vf + p.volume_fraction, var + p.volume_fraction_sigma**2)
    return {m: (vf, math.sqrt(var)) for m, (vf, var) in out.items()}


@dataclass
class Scores:
    """Rates and errors over a set of cases (see :func:`evaluate`)."""

    pair_resolved: list[bool] = field(default_factory=list)
    pair_share_error: list[float] = field(default_factory=list)
    single_not_split: list[bool] = field(default_factory=list)
    nc_radius_error: list[float] = field(default_factory=list)
    nc_fraction_error: list[float] = field(default_factory=list)
    msc_fraction_error: list[float] = field(default_factory=list)
    fit_ok_good: list[bool] = field(default_factory=list)
    fit_ok_bragg: list[bool] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def evaluate(fit, case_list: list[Case]) -> Scores:
    """Fit every case with ``fit`` and score it against the truth."""
    import time

    sc = Scores()
    for case in case_list:
        t0 = time.perf_counter()
        result = fit(case.q, case.intensity, case.sigma)
        sc.seconds.append(time.perf_counter() - t0)
        if case.bragg:
            sc.fit_ok_bragg.append(bool(result.fit_ok))
            continue
        sc.fit_ok_good.append(bool(result.fit_ok))
        got = cluster_shares(result.populations)
        truth_msc = [p for p in case.populations if p.radius_nm < CLUSTER_LIMIT_NM]
        nc = [p for p in case.populations if p.radius_nm >= CLUSTER_LIMIT_NM]
        if case.label.startswith("pair"):
            a, b = (_label(p.radius_nm) for p in truth_msc)
            share_true = truth_msc[0].volume_fraction / sum(p.volume_fraction for p in truth_msc)
            both = got.get(a, (0.0, 0.0))[0] + got.get(b, (0.0, 0.0))[0]
            share = got.get(a, (0.0, 0.0))[0] / both if both > 0 else 0.0
            err = abs(share - share_true)
            sc.pair_share_error.append(err)
            sc.pair_resolved.append(set(got) == {a, b} and err <= 0.15)
        elif case.label.startswith("single"):
            sc.single_not_split.append(set(got) == {_label(truth_msc[0].radius_nm)})
        if nc:
            big = [p for p in result.populations if p.radius_nm >= CLUSTER_LIMIT_NM]
            true_r = nc[0].volume_weighted_mean_nm()
            if big:
                main = max(big, key=lambda p: p.volume_fraction)
                sc.nc_radius_error.append(abs(main.radius_nm / true_r - 1.0))
                vf = sum(p.volume_fraction for p in big)
                sc.nc_fraction_error.append(abs(vf / nc[0].volume_fraction - 1.0))
            else:
                sc.nc_radius_error.append(math.inf)
                sc.nc_fraction_error.append(1.0)
            if truth_msc:
                vf = sum(v for v, _ in got.values())
                sc.msc_fraction_error.append(abs(vf / truth_msc[0].volume_fraction - 1.0))
    return sc


#: Truths for the σ coverage check: magic pairs, a single, an NC, an NC beside a cluster.
COVERAGE_TRUTHS: tuple[tuple[Population, ...], ...] = (
    (Population(0.87, 0.03, 5e-4), Population(0.94, 0.03, 5e-4)),
    (Population(0.94, 0.03, 6e-4), Population(1.02, 0.025, 4e-4, "lognormal")),
    (Population(0.94, 0.03, 1e-3),),
    (Population(2.5, 0.10, 1e-3),),
    (Population(0.94, 0.03, 5e-4), Population(2.5, 0.10, 1e-3)),
)


def robust_std(values) -> float:
    """1.4826 × median absolute deviation: the standard deviation without outliers."""
    v = np.asarray(values, dtype=float)
    return float(1.4826 * np.median(np.abs(v - np.median(v))))


def coverage(
    fit, truth: tuple[Population, ...], n: int = 30, seed: int = 7, robust: bool = True
) -> list[float]:
    """Median reported σ over the scatter of each population's volume fraction.

    Over ``n`` noise realisations of one truth, fitted populations are matched to the
    truth population nearest in ln R (within 30 %); 1 means the σ's are right. The
    scatter is :func:`robust_std` by default (a rare mis-resolved pair, counted by the
    resolution rate, would otherwise dominate it); ``robust=False`` uses the plain
    standard deviation.
    """
    values: list[list[float]] = [[] for _ in truth]
    sigmas: list[list[float]] = [[] for _ in truth]
    for case in repeated_noise(truth, n, seed):
        result = fit(case.q, case.intensity, case.sigma)
        for i, p in enumerate(truth):
            mine = [
                f for f in result.populations
                if min(truth, key=lambda t, f=f: abs(math.log(t.radius_nm / f.radius_nm))) is p
                and abs(math.log(f.radius_nm / p.radius_nm)) < 0.3
            ]
            values[i].append(sum(f.volume_fraction for f in mine))
            sigmas[i].append(math.sqrt(sum(f.volume_fraction_sigma**2 for f in mine)))
    out = []
    for v, s in zip(values, sigmas, strict=True):
        spread = robust_std(v) if robust else float(np.std(v, ddof=1))
        out.append(float(np.median(s) / spread) if spread > 0 else math.nan)
    return out
