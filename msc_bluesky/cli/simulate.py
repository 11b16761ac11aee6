"""``msc-bluesky simulate``: what the instruments would see for one condition."""

from __future__ import annotations

import argparse
import json
import math
import sys

from msc_bluesky.limits import ConditionError

HELP = "Simulate one reactor condition and print the UV-Vis spectrum, SAXS curve and truth."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``msc-bluesky simulate``."""
    parser.add_argument("--t-nuc", type=float, required=True, help="nucleation chamber °C")
    parser.add_argument("--t-growth", type=float, required=True, help="growth oven °C")
    parser.add_argument("--time", type=float, required=True, help="reaction time in s")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument(
        "--format", choices=("table", "json", "png"), default="table", help="output format"
    )
    parser.add_argument("--output", default=None, help="file for --format png (simulate.png)")


def _table(m) -> str:
    c = m.composition
    cond = m.conditions
    lines = [
        f"T_nuc {cond['t_nuc']:g} °C, T_growth {cond['t_growth']:g} °C, "
        f"reaction time {cond['reaction_time']:g} s "
        f"(chamber {cond['t_chamber']:.3g} s, oven {cond['t_oven']:.3g} s), seed {cond['seed']}",
        f"precursor left {c.precursor_mM:.3g} mM ({100 * c.unreacted_fraction:.1f} %), "
        f"monomer {c.monomer_mM:.3g} mM",
        "MSC families (mM of CdSe units):",
    ]
    for fam, units in c.msc_units_mM.items():
        lines.append(f"  CdSe-{fam}: {units:8.4f}")
    if c.nc_number_mM > 1e-15 and math.isfinite(c.nc_exciton_nm):
        lines.append(
            f"NC: peak {c.nc_exciton_nm:.1f} nm, mean diameter {2 * c.nc_mean_radius_nm:.2f} nm "
            f"(sd {2 * c.nc_radius_sd_nm:.2f} nm), {c.nc_units_mM:.3g} mM units, "
            f"{c.nc_number_mM:.3g} mM particles"
        )
    else:
        lines.append("NC: none")
    lines.append("SAXS populations (radius, width, volume fraction):")
    pops = c.populations(min_volume_fraction=1e-9)
    for p in pops:
        lines.append(
            f"  {p.name:7s} R {p.radius_nm:.3f} nm  σ {p.width_nm:.3f} nm  "
            f"φ {p.volume_fraction:.3g}"
        )
    if not pops:
        lines.append("  none")
    lines.append(f"max absorbance {m.absorbance.max():.3g}; I(q_min) {m.intensity[0]:.3g} cm^-1")
    return "\n".join(lines)


def _png(m, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(m.wavelength_nm, m.absorbance)
    ax1.set_xlabel("wavelength (nm)")
    ax1.set_ylabel("absorbance")
    ax2.errorbar(m.q_per_nm, m.intensity, yerr=m.intensity_sigma, fmt=".", ms=2)
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("q (nm$^{-1}$)")
    ax2.set_ylabel("I (cm$^{-1}$)")
    c = m.conditions
    fig.suptitle(
        f"T_nuc {c['t_nuc']:g} °C, T_growth {c['t_growth']:g} °C, t {c['reaction_time']:g} s"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    """Simulate, print in the chosen format; exit status 2 on invalid conditions."""
    from msc_bluesky.sim import simulate

    try:
        m = simulate(args.t_nuc, args.t_growth, args.time, seed=args.seed)
    except ConditionError as err:
        print(f"msc-bluesky simulate: error: {err}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(m.to_dict(), allow_nan=False))
    elif args.format == "png":
        path = args.output or "simulate.png"
        _png(m, path)
        print(path)
    else:
        print(_table(m))
    return 0
