"""Fit time for the paper's full campaign (86 conditions) and the parameter recovery table.

The campaign table comes from the kinetic model itself with the twin's parameters
(``KineticParameters()``) at the conditions of ``paper_campaign()`` (SAXS-only steps
without UV-Vis), plus Gaussian noise of the stated uncertainties. The fit starts from
every ``k_*`` moved by ~20 %, every ``ea_*`` and the closed-shell fraction by ~10 % and
the closed-shell onset and limit by ~4 °C (seeded). Goal: < 60 s on 2 cores.

    python benchmarks/bench_fit.py [--workers N] [--seed S] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np

from msc_bluesky.campaign.definition import conditions_of, paper_campaign
from msc_bluesky.modelling import (
    default_free_parameters,
    fit_kinetics,
    measured_msc437_window_c,
    synthetic_campaign_table,
)
from msc_bluesky.modelling.parameters import is_rate, is_temperature
from msc_bluesky.sim import KineticParameters


def campaign_conditions(quick: bool = False) -> list[dict]:
    """Every condition of the paper's campaign, with the step's detectors."""
    return [
        {**c, "detectors": step.detectors}
        for step in paper_campaign(quick=quick)
        for c in conditions_of(step)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="the 13-condition campaign")
    args = parser.parse_args()

    truth = KineticParameters()
    conditions = campaign_conditions(args.quick)
    table = synthetic_campaign_table(conditions, rng=np.random.default_rng(args.seed))
    rng = np.random.default_rng(args.seed + 1)
    start = {}
    for name in default_free_parameters():
        v = getattr(truth, name)
        start[name] = (
            v * float(np.exp(rng.normal(0.0, 0.2))) if is_rate(name)
            else v + float(rng.normal(0.0, 4.0)) if is_temperature(name)
            else v * (1.0 + rng.normal(0.0, 0.1)) if v else float(rng.normal(0.0, 5.0))
        )
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    fit = fit_kinetics(table, parameters=start, workers=args.workers)
    wall = time.perf_counter() - t0
    print(f"campaign: {len(conditions)} conditions, {fit.n_observations} fitted observations, "
          f"{len(fit.free)} free parameters")
    print(f"fit time: {wall:.1f} s wall ({time.process_time() - cpu0:.1f} s CPU in this "
          f"process), workers={args.workers}, {fit.evaluations} model runs over the campaign, "
          f"converged={fit.success}, reduced chi2={fit.reduced_chi2:.3f}")
    print()
    print(f"{'parameter':<20} {'truth':>10} {'start':>10} {'fitted':>10} {'± stderr':>10} "
          f"{'(fit-truth)/σ':>14} {'rel. dev.':>9}  identified")
    for name in fit.free:
        p = fit.parameters[name]
        t = getattr(truth, name)
        z = (p.value - t) / p.stderr if p.stderr and np.isfinite(p.stderr) else float("nan")
        rel = f"{(p.value - t) / t:+.1%}" if t else "—"
        print(f"{name:<20} {t:>10.4g} {p.start:>10.4g} {p.value:>10.4g} {p.stderr:>10.3g} "
              f"{z:>14.2f} {rel:>9}  {'yes' if p.identifiable else 'no: ' + p.reason}")
    bad = [
        n for n in fit.identified
        if abs(fit.values[n] - getattr(truth, n))
        > min(2 * fit.stderr[n], 0.25 * abs(getattr(truth, n)))
    ]
    print(f"\nidentified: {len(fit.identified)}; outside 2σ or 25 % of the truth: {bad or 'none'}")
    if fit.sampling_errors:
        print("errors include the T_nuc bracket's spread: " + ", ".join(
            f"{n} {e:.2f} °C" for n, e in fit.sampling_errors.items()))
    for t in (4.5, 7.6, 14.0):
        diagonal = [r["t_nuc"] for r in table
                    if abs(r["reaction_time"] - t) < 0.5 and r["t_nuc"] == r["t_growth"]]
        true_window = dataclasses.replace(fit, params=truth).msc437_window_c(t)
        print(f"CdSe-437 window at {t:>4} s: predicted {fit.msc437_window_c(t)} "
              f"(twin {true_window}); on the measured grid "
              f"{fit.msc437_window_at_c(t, diagonal) if diagonal else '—'}, "
              f"measured {measured_msc437_window_c(table, t)}")


if __name__ == "__main__":
    main()
