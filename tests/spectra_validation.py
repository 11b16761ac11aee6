"""Score ``fit_spectrum`` on the independent spectra of :mod:`independent_spectra`.

Used by tests/test_analysis_independent.py (rates asserted) and
benchmarks/validate_analysis.py (rates printed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from independent_spectra import Case

from msc_bluesky.analysis import uvvis

FAMILIES = (350, 380, 403, 437, 467)

#: Bands at least this deep (matched-filter σ under the true noise) must be found.
DEEP_SIGMA = 10.0


@dataclass
class Scores:
    """Rates and errors over a set of cases."""

    n_spectra: int = 0
    present: dict[int, int] = field(default_factory=lambda: dict.fromkeys(FAMILIES, 0))
    found: dict[int, int] = field(default_factory=lambda: dict.fromkeys(FAMILIES, 0))
    deep: dict[int, int] = field(default_factory=lambda: dict.fromkeys(FAMILIES, 0))
    deep_missed: dict[int, int] = field(default_factory=lambda: dict.fromkeys(FAMILIES, 0))
    absent: dict[int, int] = field(default_factory=lambda: dict.fromkeys(FAMILIES, 0))
    false: dict[int, int] = field(default_factory=lambda: dict.fromkeys(FAMILIES, 0))
    nc_errors_nm: list[float] = field(default_factory=list)
    nc_missed: int = 0
    nc_false: int = 0
    nc_pulls: list[float] = field(default_factory=list)
    band_pulls: list[float] = field(default_factory=list)
    times_ms: list[float] = field(default_factory=list)

    @property
    def deep_missed_rate(self) -> float:
        return sum(self.deep_missed.values()) / max(sum(self.deep.values()), 1)

    @property
    def false_per_spectrum(self) -> float:
        return sum(self.false.values()) / max(self.n_spectra, 1)


def robust_scatter(values: list[float]) -> float:
    """Standard deviation estimated from the central 68 % (half the 16–84 % range)."""
    if len(values) < 5:
        return float("nan")
    lo, hi = np.percentile(values, [15.87, 84.13])
    return float((hi - lo) / 2.0)


def score(cases: list[Case]) -> Scores:
    """Fit every case and compare with its truth."""
    s = Scores()
    for case in cases:
        t0 = time.perf_counter()
        fit = uvvis.fit_spectrum(case.wavelength_nm, case.absorbance)
        s.times_ms.append(1e3 * (time.perf_counter() - t0))
        s.n_spectra += 1
        for fam in FAMILIES:
            band = fit.msc[fam]
            if fam in case.bands:
                truth = case.bands[fam]
                s.present[fam] += 1
                s.found[fam] += bool(band.detected)
                if case.band_depth_sigma(fam) >= DEEP_SIGMA:
                    s.deep[fam] += 1
                    s.deep_missed[fam] += not band.detected
                if band.detected and band.absorbance_sigma > 0:
                    s.band_pulls.append((band.absorbance - truth.height) / band.absorbance_sigma)
            elif not np.isnan(band.absorbance) or band.detected:
                s.absent[fam] += 1
                s.false[fam] += bool(band.detected)
        if case.nc_peak_nm is None:
            s.nc_false += fit.nc is not None
        elif fit.nc is None:
            s.nc_missed += 1
        else:
            err = fit.nc.peak_nm - case.nc_peak_nm
            s.nc_errors_nm.append(abs(err))
            if fit.nc.peak_nm_sigma > 0:
                s.nc_pulls.append(err / fit.nc.peak_nm_sigma)
    return s


def report(s: Scores) -> str:
    """Human-readable table of the scores."""
    lines = [f"{s.n_spectra} independent spectra (tests/independent_spectra.py)",
             f"{'family':>7} {'present':>8} {'found':>7} {'>=10σ':>6} {'missed':>7} "
             f"{'absent':>7} {'false':>6}"]
    for fam in FAMILIES:
        found = s.found[fam] / max(s.present[fam], 1)
        lines.append(
            f"{fam:>7} {s.present[fam]:>8} {found:>6.1%} {s.deep[fam]:>6} "
            f"{s.deep_missed[fam] / max(s.deep[fam], 1):>6.1%} {s.absent[fam]:>7} "
            f"{s.false[fam]:>6}"
        )
    err = np.array(s.nc_errors_nm) if s.nc_errors_nm else np.array([np.nan])
    lines += [
        f"bands >= {DEEP_SIGMA:g} σ missed: {s.deep_missed_rate:.2%} (goal <= 2 %); "
        f"false families per 200 spectra: {200 * s.false_per_spectrum:.2f} (goal <= 1)",
        f"NC first exciton: error median {np.median(err):.2f} nm, max {np.max(err):.2f} nm "
        f"over {len(s.nc_errors_nm)} spectra (goal <= 1 / <= 3 nm); missed {s.nc_missed}, "
        f"false {s.nc_false}",
        f"σ coverage (robust scatter of (fit − truth)/σ, goal 0.5–2): NC peak "
        f"{robust_scatter(s.nc_pulls):.2f} (n={len(s.nc_pulls)}), band absorbance "
        f"{robust_scatter(s.band_pulls):.2f} (n={len(s.band_pulls)})",
        f"fit time: median {np.median(s.times_ms):.2f} ms, 90th percentile "
        f"{np.percentile(s.times_ms, 90):.2f} ms per spectrum (goal < 5 ms median)",
    ]
    return "\n".join(lines)
