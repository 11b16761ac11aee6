"""How far the analysis' NC concentration is from the simulator's, against exciton width.

The kinetic fit (docs/modelling.md) compares the analysis' ``nc_concentration_molar``
with the model's NC number concentration. This benchmark measures the ratio
measured / true, with the simulator as ground truth, per condition: the exciton FWHM the
analysis reports, the reaction time, the ratio, the σ the analysis states for it
(relative) and the actual error in units of that σ. The summary groups the conditions
by reaction time and by FWHM, and prints the NC-concentration σ the fit uses there
(``Observable.discrepancy`` at amplitude 1: the width law ``4 % (w/40 nm)²`` and its
floor, before and with ``NC_CONCENTRATION_FLOOR_FRACTION``): the bias that the floor and
the fit's per-reaction-time gain (``NC_CONCENTRATION_SERIES_GAIN``) absorb.

By default the spectra are made here as the simulated IOC makes them (noiseless
``absorbance_spectrum`` of the twin's composition at the steady state, then the UV-Vis
detector's counting noise at its defaults: 0.1 s × 10 averages, a noiseless dark and
reference) and analysed with ``analysis.uvvis.fit_spectrum`` (the live analysis' fit),
at the UV-Vis conditions of the paper's campaign and of the recovery test's campaign
(tests/test_modelling_recovery.py), ``--repeats`` noise draws each. ``--data-dir DIR
--campaign ID`` reads a campaign measured on the simulated reactor instead (the true
value then comes from ``simulate_kinetics`` at the row's nominal conditions).

    python benchmarks/nc_concentration_bias.py [--repeats N] [--seed S]
        [--data-dir DIR --campaign ID]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path

import numpy as np

from msc_bluesky.analysis import uvvis
from msc_bluesky.campaign.definition import conditions_of, paper_campaign
from msc_bluesky.modelling.observables import (
    NC_CONCENTRATION_FLOOR_FRACTION,
    observable,
)
from msc_bluesky.sim import absorbance_spectrum, default_wavelength_nm, detectors, simulate_kinetics

#: The simulated UV-Vis detector's defaults (msc_bluesky/iocs/uvvis.py) and flow cell.
INTEGRATION_TIME_S = 0.1
AVERAGES = 10
PATH_LENGTH_CM = 0.1

#: The recovery test's UV-Vis conditions not in the paper's campaign (4.5 s diagonal).
RECOVERY_EXTRA = [(t, t, 4.5) for t in (260.0, 280.0, 300.0, 320.0)] + [
    (t, g, 14.0) for t in range(250, 331, 10) for g in (t, t - 30) if t < 260 or t > 320
]

#: FWHM bins (nm) of the summary.
FWHM_BINS = (0.0, 30.0, 45.0, 60.0, math.inf)


def uvvis_conditions() -> list[tuple[float, float, float]]:
    """The UV-Vis conditions of the paper's campaign and the recovery test's, once each."""
    out = []
    for step in paper_campaign():
        if "uvvis" in step.detectors:
            out += [(float(c["t_nuc"]), float(c["t_growth"]), float(c["reaction_time"]))
                    for c in conditions_of(step)]
    out += [(float(a), float(b), float(c)) for a, b, c in RECOVERY_EXTRA]
    return sorted(set(out))


def measure(condition: tuple[float, float, float], rng: np.random.Generator) -> dict:
    """One spectrum of ``condition`` as the simulated IOC measures it, analysed."""
    wl = default_wavelength_nm()
    comp = simulate_kinetics(*condition)
    absorbance = absorbance_spectrum(comp, wl, path_length_cm=PATH_LENGTH_CM)
    counts = detectors.measure_counts(absorbance, INTEGRATION_TIME_S, AVERAGES, wl, rng)
    dark = detectors.expected_counts(absorbance, INTEGRATION_TIME_S, wl, dark_only=True)
    blank = detectors.expected_counts(np.zeros_like(wl), INTEGRATION_TIME_S, wl)
    measured = detectors.absorbance_from_counts(
        counts, INTEGRATION_TIME_S, dark, INTEGRATION_TIME_S, blank, INTEGRATION_TIME_S
    )
    nc = uvvis.fit_spectrum(wl, measured, PATH_LENGTH_CM).nc
    return {
        "t_nuc": condition[0], "t_growth": condition[1], "reaction_time": condition[2],
        "true": comp.nc_number_mM * 1e-3,
        "measured": nc.concentration_molar if nc is not None else math.nan,
        "sigma": nc.concentration_molar_sigma if nc is not None else math.nan,
        "fwhm": nc.fwhm_nm if nc is not None else math.nan,
    }


def from_campaign(data_dir: Path, campaign: str) -> list[dict]:
    """The same quantities from a campaign measured on the simulated reactor."""
    from msc_bluesky.storage.browse import campaign_table
    from msc_bluesky.storage.catalog import close_client, open_catalog

    client = open_catalog(data_dir)
    try:
        table = campaign_table(client, md={"campaign_id": campaign})
        rows = [dict(r) for r in table.to_dict("records")]
    finally:
        close_client(client)
    out = []
    for r in rows:
        value = float(r.get("nc_concentration_molar", math.nan) or math.nan)
        if not math.isfinite(value):
            continue
        comp = simulate_kinetics(float(r["t_nuc"]), float(r["t_growth"]),
                                 float(r["reaction_time"]))
        out.append({
            "t_nuc": float(r["t_nuc"]), "t_growth": float(r["t_growth"]),
            "reaction_time": float(r["reaction_time"]), "true": comp.nc_number_mM * 1e-3,
            "measured": value,
            "sigma": float(r.get("nc_concentration_molar_sigma", math.nan) or math.nan),
            "fwhm": float(r.get("nc_fwhm_nm", math.nan) or math.nan),
        })
    return out


def fit_sigma(value: float, fwhm: float, floor_fraction: float) -> float:
    """Relative NC-concentration discrepancy σ of the fit (amplitude 1) with a relative
    floor of ``floor_fraction`` (0: the width law and NC_FLOOR_FRACTION of the default
    only, as before the floor)."""
    obs = dataclasses.replace(observable("nc_concentration_molar"), broad_floor=floor_fraction)
    return obs.discrepancy(value, fwhm) / abs(value)


def summarise(label: str, rows: list[dict]) -> None:
    """One summary line for a group of rows."""
    if not rows:
        return
    ratio = np.array([r["measured"] / r["true"] for r in rows])
    stated = np.array([r["sigma"] / r["measured"] for r in rows])
    fwhm = np.array([r["fwhm"] for r in rows])
    err = ratio - 1.0
    rms = float(np.sqrt(np.mean(err**2)))
    old = np.array([fit_sigma(r["measured"], r["fwhm"], 0.0) for r in rows])
    new = np.array([fit_sigma(r["measured"], r["fwhm"], NC_CONCENTRATION_FLOOR_FRACTION)
                    for r in rows])
    print(f"{label:<22} {len(rows):>3} {np.median(fwhm):>6.1f} {np.median(ratio):>8.3f} "
          f"{rms:>7.1%} {np.nanmedian(stated):>8.1%} {rms / np.nanmedian(stated):>7.1f} "
          f"{np.median(old):>8.1%} {np.median(new):>8.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="noise draws per condition")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--campaign", default=None)
    args = parser.parse_args()

    t0 = time.perf_counter()
    if args.data_dir is not None:
        if not args.campaign:
            raise SystemExit("--data-dir needs --campaign ID")
        source = f"campaign {args.campaign} measured on the simulated reactor"
        rows = from_campaign(args.data_dir, args.campaign)
    else:
        rng = np.random.default_rng(args.seed)
        conditions = uvvis_conditions()
        source = (f"{len(conditions)} UV-Vis conditions x {args.repeats} noise draws, "
                  "spectra as the simulated IOC makes them")
        rows = [measure(c, rng) for c in conditions for _ in range(args.repeats)]
    rows = [r for r in rows if math.isfinite(r["measured"]) and r["true"] > 0]
    print(f"NC concentration, analysis / simulator: {source}; {len(rows)} with an NC "
          f"exciton ({time.perf_counter() - t0:.0f} s)")
    print()
    print(f"{'T_nuc':>6} {'T_grow':>6} {'t (s)':>5} {'FWHM':>6} {'ratio':>7} "
          f"{'stated σ':>8} {'err/σ':>6}")
    for r in sorted(rows, key=lambda r: (r["reaction_time"], r["fwhm"])):
        ratio = r["measured"] / r["true"]
        stated = r["sigma"] / r["measured"]
        print(f"{r['t_nuc']:>6.0f} {r['t_growth']:>6.0f} {r['reaction_time']:>5.1f} "
              f"{r['fwhm']:>6.1f} {ratio:>7.3f} {stated:>8.2%} {(ratio - 1) / stated:>+6.1f}")
    print()
    print("group: n, median FWHM (nm), median ratio, rms error, median stated σ, rms/stated,"
          " fit σ before (law, 2.5 % floor), with the 5 % floor")
    print(f"{'group':<22} {'n':>3} {'FWHM':>6} {'ratio':>8} {'rms':>7} {'stated':>8} "
          f"{'x':>7} {'before':>8} {'after':>8}")
    for t in sorted({round(r["reaction_time"], 1) for r in rows}):
        summarise(f"t = {t:g} s", [r for r in rows if round(r["reaction_time"], 1) == t])
    for low, high in zip(FWHM_BINS[:-1], FWHM_BINS[1:], strict=True):
        summarise(f"FWHM {low:g}-{high:g} nm", [r for r in rows if low <= r["fwhm"] < high])
    summarise("all", rows)


if __name__ == "__main__":
    main()
