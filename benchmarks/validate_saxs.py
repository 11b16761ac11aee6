"""Validate the SAXS inversion on curves made by independent code (tests/independent_saxs.py).

    python benchmarks/validate_saxs.py            # 330 curves + 300 for σ coverage, ~10 s
    python benchmarks/validate_saxs.py --free-form   # also the plain free-form inversion

Prints, for magic-size mixtures 0.87/0.94 and 0.94/1.02 nm at 1 % noise (q 0.05-8 nm^-1,
300 points): the rate resolved as two populations with volume shares within ±0.15 and
the share error; singles not split; NC radius and volume-fraction errors; MSC volume
fraction beside NCs; fit_ok on good and on Bragg-peak curves; σ coverage (median σ over
the scatter of repeated noise; goal 0.5-2); time per inversion (goal < 20 ms median).
The generator shares no code with the package. ``main()`` returns 0 when the goals hold.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import independent_saxs as gen  # noqa: E402

from msc_bluesky.analysis import saxs  # noqa: E402


def _rate(flags: list[bool]) -> str:
    return f"{sum(flags)}/{len(flags)} ({100.0 * sum(flags) / max(len(flags), 1):.0f} %)"


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def report(name: str, fit, cases: list[gen.Case], with_coverage: bool = True) -> bool:
    """Print the scores of one inversion; True when the issue's goals hold."""
    sc = gen.evaluate(fit, cases)
    ms = [1e3 * s for s in sc.seconds]
    print(f"== {name}")
    print(
        f"  magic pairs resolved (2 populations, share error <= 0.15): "
        f"{_rate(sc.pair_resolved)}; share error median "
        f"{statistics.median(sc.pair_share_error):.3f}"
        f", 95th pct {_pct(sc.pair_share_error, 95):.3f}, max {max(sc.pair_share_error):.3f}"
    )
    print(f"  single magic size not split: {_rate(sc.single_not_split)}")
    print(
        f"  NC radius error median {100 * statistics.median(sc.nc_radius_error):.1f} %, max "
        f"{100 * max(sc.nc_radius_error):.1f} %; NC volume fraction error median "
        f"{100 * statistics.median(sc.nc_fraction_error):.1f} %, max "
        f"{100 * max(sc.nc_fraction_error):.1f} %"
    )
    print(
        f"  MSC volume fraction beside NCs: error median "
        f"{100 * statistics.median(sc.msc_fraction_error):.1f} %, 90th pct "
        f"{100 * _pct(sc.msc_fraction_error, 90):.1f} %"
    )
    print(
        f"  fit_ok True on particle curves {_rate(sc.fit_ok_good)}; "
        f"False on Bragg-peak curves {_rate([not f for f in sc.fit_ok_bragg])}"
    )
    print(
        f"  time per inversion: median {statistics.median(ms):.1f} ms, 90th pct "
        f"{_pct(ms, 90):.1f} ms, max {max(ms):.1f} ms ({len(ms)} curves; goal median < 20 ms)"
    )
    ratios: list[float] = []
    if with_coverage:
        for truth in gen.COVERAGE_TRUTHS:
            r = gen.coverage(fit, truth, n=60)
            ratios += r
            names = " + ".join(f"{p.radius_nm:g} nm" for p in truth)
            print(f"  σ coverage (median σ / robust scatter, 60 repeats) {names}: "
                  + ", ".join(f"{x:.2f}" for x in r))
    pairs_ok = sum(sc.pair_resolved) >= 0.9 * len(sc.pair_resolved)
    singles_ok = sum(sc.single_not_split) >= 0.95 * len(sc.single_not_split)
    cover_ok = all(0.5 <= x <= 2.0 for x in ratios)
    fit_ok = all(not f for f in sc.fit_ok_bragg) and sum(sc.fit_ok_good) >= 0.98 * len(
        sc.fit_ok_good
    )
    return pairs_ok and singles_ok and cover_ok and fit_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--n-each", type=int, default=60,
                        help="cases per family (default 60: 330 curves)")
    parser.add_argument("--free-form", action="store_true",
                        help="also score the free-form inversion (magic_sizes=False)")
    args = parser.parse_args(argv)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"load average {load} on {os.cpu_count()} cores (busy machines inflate the times)")
    cases = gen.cases(seed=args.seed, n_each=args.n_each)
    ok = report("live path: magic-size templates + free grids", saxs.fit_size_distribution,
                cases)
    if args.free_form:
        free = functools.partial(saxs.fit_size_distribution, magic_sizes=False)
        report("free-form inversion (one fine grid, magic_sizes=False)", free, cases)
    print("goals met" if ok else "goals NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
