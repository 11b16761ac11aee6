"""Fit time for the paper's full campaign (86 conditions) and the parameter recovery table.

By default the campaign is *measured*: ``msc-bluesky campaign`` runs the paper's
campaign on the simulated reactor (its IOC over Channel Access on loopback, the live
analysis, an embedded tiled store in a temporary directory; ~2 min), whose kinetics are
the twin's own parameters (``KineticParameters()``), and the fit reads the stored
analysis back. ``--data-dir DIR --campaign ID`` fits a campaign measured before
instead; ``--synthetic`` fits a table made by the kinetic model itself plus Gaussian
noise of the stated uncertainties (no IOC). The fit starts from every ``k_*`` moved by
~20 %, every ``ea_*`` and the closed-shell fraction by ~10 % and the closed-shell onset
and limit by ~4 °C (seeded). Goal: fit < 60 s on 2 cores. The machine may be shared:
the CPU time of this process and of its worker processes is printed beside the wall
time.

    python benchmarks/bench_fit.py [--workers N] [--seed S] [--quick]
        [--data-dir DIR --campaign ID | --synthetic]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def read_campaign(data_dir: Path, campaign: str) -> list[dict]:
    """The analysis table of a stored campaign (as ``fit-kinetics`` reads it)."""
    from msc_bluesky.storage.browse import campaign_table
    from msc_bluesky.storage.catalog import close_client, open_catalog

    client = open_catalog(data_dir)
    try:
        table = campaign_table(client, md={"campaign_id": campaign})
        return [dict(r) for r in table.to_dict("records")]
    finally:
        close_client(client)


def measure_campaign(data_dir: Path, quick: bool) -> str:
    """Run the paper's campaign on the simulated reactor into ``data_dir``; its id."""
    summary = data_dir.parent / "summary.json"
    cmd = [sys.executable, "-m", "msc_bluesky.cli", "campaign", "--data-dir", str(data_dir),
           "--no-report", "--summary-json", str(summary), "--time-scale", "200"]
    if quick:
        cmd.append("--quick")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    if done.returncode != 0:
        raise SystemExit("the campaign failed:\n" + done.stdout[-2000:] + done.stderr[-2000:])
    return json.loads(summary.read_text())["campaign_id"]


def start_values(truth: KineticParameters, seed: int) -> dict[str, float]:
    """Every default free parameter moved off the truth (seeded)."""
    rng = np.random.default_rng(seed + 1)
    start = {}
    for name in default_free_parameters():
        v = getattr(truth, name)
        start[name] = (
            v * float(np.exp(rng.normal(0.0, 0.2))) if is_rate(name)
            else v + float(rng.normal(0.0, 4.0)) if is_temperature(name)
            else v * (1.0 + rng.normal(0.0, 0.1)) if v else float(rng.normal(0.0, 5.0))
        )
    return start


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="the 13-condition campaign")
    parser.add_argument("--synthetic", action="store_true",
                        help="a table made by the model plus noise instead of a measurement")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="fit a campaign stored here (with --campaign)")
    parser.add_argument("--campaign", default=None)
    args = parser.parse_args()

    truth = KineticParameters()
    if args.synthetic:
        source = "model + noise (synthetic)"
        table = synthetic_campaign_table(
            campaign_conditions(args.quick), rng=np.random.default_rng(args.seed)
        )
    elif args.data_dir is not None:
        if not args.campaign:
            raise SystemExit("--data-dir needs --campaign ID")
        source = f"stored campaign {args.campaign}"
        table = read_campaign(args.data_dir, args.campaign)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            data = Path(tmp) / "data"
            campaign = measure_campaign(data, args.quick)
            table = read_campaign(data, campaign)
            source = (f"measured on the simulated reactor (campaign {campaign}, "
                      f"{time.perf_counter() - t0:.0f} s to measure)")
    start = start_values(truth, args.seed)

    children0 = _children_cpu()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    fit = fit_kinetics(table, parameters=start, workers=args.workers)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    workers_cpu = _children_cpu() - children0
    print(f"campaign: {source}; {len(table)} conditions, {fit.n_observations} fitted "
          f"observations, {len(fit.free)} free parameters")
    print(f"fit time: {wall:.1f} s wall; CPU {cpu + workers_cpu:.1f} s ({cpu:.1f} s this "
          f"process, {workers_cpu:.1f} s {args.workers} workers); {fit.evaluations} model "
          f"runs over the campaign; converged={fit.success}, reduced chi2="
          f"{fit.reduced_chi2:.3f}, error scale {fit.error_scale:.2f}")
    print("model runs after each stage: " + ", ".join(
        f"{name} {n}" for name, n in fit.diagnostics.get("model_runs", [])))
    print()
    print(f"{'parameter':<22} {'truth':>9} {'start':>9} {'fitted':>9} {'± stderr':>9} "
          f"{'(fit-truth)/σ':>13} {'rel. dev.':>9}  status")
    for name in fit.free:
        p = fit.parameters[name]
        t = getattr(truth, name)
        z = (p.value - t) / p.stderr if p.stderr and np.isfinite(p.stderr) else float("nan")
        rel = f"{(p.value - t) / t:+.1%}" if t else "—"
        status = "identified" if p.identifiable else p.reason
        print(f"{name:<22} {t:>9.4g} {p.start:>9.4g} {p.value:>9.4g} {p.stderr:>9.3g} "
              f"{z:>13.2f} {rel:>9}  {status}")
    bad = [
        n for n in fit.identified
        if abs(fit.values[n] - getattr(truth, n)) > 2 * fit.stderr[n]
        or (not is_temperature(n)
            and abs(fit.values[n] - getattr(truth, n)) > 0.25 * abs(getattr(truth, n)))
    ]
    print(f"\nidentified: {len(fit.identified)} of {len(fit.free)}; outside 2σ or 25 % of "
          f"the truth: {bad or 'none'}")
    for w in fit.warnings:
        print(f"warning: {w}")
    for t in (4.5, 7.6, 14.0):
        diagonal = sorted({float(r["t_nuc"]) for r in table
                           if abs(float(r["reaction_time"]) - t) < 0.5
                           and float(r["t_nuc"]) == float(r["t_growth"])})
        true_window = dataclasses.replace(fit, params=truth).msc437_window_c(t)
        print(f"CdSe-437 window at {t:>4} s: predicted {fit.msc437_window_c(t)} "
              f"(twin {true_window}); on the measured grid "
              f"{fit.msc437_window_at_c(t, diagonal) if diagonal else '—'}, "
              f"measured {measured_msc437_window_c(table, t)}")


if __name__ == "__main__":
    main()
