"""``msc-bluesky fit-kinetics``: fit the kinetic model to a stored campaign."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from msc_bluesky.cli.store_options import add_store_arguments, open_store

HELP = "Fit the kinetic model's rate constants and activation energies to a stored campaign."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``msc-bluesky fit-kinetics``."""
    add_store_arguments(parser, "the campaign")
    parser.add_argument("--campaign", metavar="ID", default=None,
                        help="only runs whose start document has campaign_id == ID "
                             "(default: every run in the store)")
    parser.add_argument("--json", metavar="FILE", type=Path, default=None,
                        help="write parameters, CdSe-437 windows and reduced chi2 as JSON")
    parser.add_argument("--report-dir", metavar="DIR", type=Path, default=Path("msc_report"),
                        help="where the figures go (default: ./msc_report)")
    parser.add_argument("--no-report", action="store_true", help="skip the figures")
    parser.add_argument("--no-store", action="store_true",
                        help="do not store the fit as a run in the store")
    parser.add_argument("--fit", metavar="NAME", action="append", default=None,
                        help="fit this parameter (repeatable; default: every k_* and ea_* "
                        "and the closed-shell switch closed_shell_* but its widths)")
    parser.add_argument("--fix", metavar="NAME[=VALUE]", action="append", default=None,
                        help="hold this parameter, at VALUE or the model's value (repeatable)")
    parser.add_argument("--max-evaluations", type=int, default=None,
                        help="largest number of optimiser evaluations (default 100)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes for the model runs (default: up to 2)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _fixed(items: list[str] | None) -> dict[str, float] | list[str] | None:
    if not items:
        return None
    values: dict[str, float] = {}
    names: list[str] = []
    for item in items:
        name, eq, value = item.partition("=")
        if eq:
            try:
                values[name.strip()] = float(value)
            except ValueError:
                raise ValueError(f"--fix {item}: {value!r} is not a number") from None
        else:
            names.append(name.strip())
    if values and names:
        from msc_bluesky.sim import KineticParameters

        defaults = KineticParameters()
        for n in names:
            if not hasattr(defaults, n):
                raise ValueError(f"--fix {n}: not a parameter of the kinetic model")
            values[n] = getattr(defaults, n)
        return values
    return values or names


def _fmt(v: float, digits: int = 4) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{v:.{digits}g}"


def format_parameters(fit) -> str:
    """The parameter table: value ± error and identified / not identified / held."""
    lines = [f"{'parameter':<26} {'value':>11}   {'± stderr':>10}  status"]
    for p in fit.parameters.values():
        if p.held:
            status = "held"
            err = ""
        else:
            status = "identified" if p.identifiable else f"not identified ({p.reason})"
            err = "± " + _fmt(p.stderr, 3)
        lines.append(f"{p.name:<26} {_fmt(p.value):>11}   {err:>10}  {status}")
    return "\n".join(lines)


def format_windows(fit, measured: dict[float, list[float] | None]) -> str:
    """Predicted CdSe-437 windows (and the measured one where the data have it)."""
    from msc_bluesky.modelling import WINDOW_REACTION_TIMES_S

    lines = ["predicted CdSe-437 window, T_nuc = T_growth:"]
    for t in WINDOW_REACTION_TIMES_S:
        segments = fit.msc437_segments_c(t)
        window = fit.msc437_window_c(t)
        text = f"{window[0]:.0f}–{window[1]:.0f} °C" if window else "none"
        others = [f"{lo:.0f}–{hi:.0f} °C" for lo, hi, _ in segments if [lo, hi] != window]
        if others:
            text += " (band also above detection at " + ", ".join(others) + ")"
        seen = measured.get(t)
        if seen:
            span = f"{seen[0]:.0f}" if seen[0] == seen[1] else f"{seen[0]:.0f}–{seen[1]:.0f}"
            text += f"; measured {span} °C"
        lines.append(f"  {t:>4.1f} s: {text}")
    return "\n".join(lines)


def _campaign_ids(client, raw_uids: list[str]) -> list[str]:
    from msc_bluesky.storage.layout import find_run

    ids = set()
    for uid in raw_uids:
        try:
            cid = find_run(client, uid).metadata["start"].get("campaign_id")
        except Exception:  # a run that went away is not worth failing the fit for
            continue
        if cid:
            ids.add(str(cid))
    return sorted(ids)


def run(args: argparse.Namespace) -> int:
    """Read the campaign, fit, print, write JSON/figures and store the fit run."""
    from msc_bluesky.modelling import WINDOW_REACTION_TIMES_S, fit_kinetics
    from msc_bluesky.modelling.data import measured_conditions
    from msc_bluesky.modelling.window import measured_msc437_window_c
    from msc_bluesky.storage.browse import campaign_table
    from msc_bluesky.storage.catalog import close_client

    try:
        fixed = _fixed(args.fix)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.workers < 1:
        print("error: --workers must be >= 1", file=sys.stderr)
        return 2
    if args.max_evaluations is not None and args.max_evaluations < 1:
        print("error: --max-evaluations must be >= 1", file=sys.stderr)
        return 2
    if not args.tiled_uri and not args.catalog_uri and not Path(args.data_dir).is_dir():
        print(f"error: data directory {args.data_dir} does not exist; give --data-dir DIR "
              "(an msc_bluesky data directory) or --tiled-uri URI", file=sys.stderr)
        return 1
    client = open_store(args, os.path.abspath(args.data_dir))
    if client is None:
        return 1
    try:
        md = {"campaign_id": args.campaign} if args.campaign else None
        table = campaign_table(client, md=md)
        rows = [dict(r) for r in table.to_dict("records")]
        used = measured_conditions(rows)
        where = f"campaign {args.campaign}" if args.campaign else "the store"
        if not used:
            print(f"error: {where} holds no analysed measurement to fit "
                  "(no analysis runs with spectra or SAXS fits)", file=sys.stderr)
            return 1
        raw_uids = sorted({c.raw_uid for c in used if c.raw_uid})
        campaign_ids = [args.campaign] if args.campaign else _campaign_ids(client, raw_uids)
        print(f"{where}: {len(used)} analysed conditions from {len(raw_uids)} raw runs")
        options = {"workers": args.workers}
        if args.max_evaluations is not None:
            options["max_evaluations"] = args.max_evaluations
        bar = None
        if not args.no_progress:
            from tqdm import tqdm

            bar = tqdm(desc="fitting", unit=" model runs", file=sys.stderr, leave=False)

            def progress(n: int, chi2: float) -> None:
                bar.update(n - bar.n)
                bar.set_postfix_str(f"chi2 {chi2:.4g}", refresh=False)

            options["progress"] = progress
        try:
            fit = fit_kinetics(rows, parameters=args.fit, fixed=fixed, **options)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        finally:
            if bar is not None:
                bar.close()

        print()
        print(format_parameters(fit))
        print(f"\nreduced chi2 = {_fmt(fit.reduced_chi2, 3)} ({fit.n_observations} observations, "
              f"{len(fit.free)} free parameters, {fit.evaluations} model runs, "
              f"{fit.seconds:.1f} s)")
        measured = {t: measured_msc437_window_c(rows, t) for t in WINDOW_REACTION_TIMES_S}
        print(format_windows(fit, measured))
        for w in fit.warnings:
            print(f"warning: {w}")

        summary = fit.to_dict()
        summary["campaign_id"] = campaign_ids[0] if len(campaign_ids) == 1 else campaign_ids
        summary["measured_msc437_window_c"] = {f"{t:.1f}": w for t, w in measured.items()}
        if not args.no_store:
            uid = _store(client, fit, campaign_ids)
            if uid is None:
                return 1
            summary["fit_uid"] = uid
            print(f"fit stored as run {uid} (plan_name msc_kinetic_fit)")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(summary, indent=2) + "\n")
            print(f"JSON written to {args.json}")
        if not args.no_report:
            from msc_bluesky.modelling.figures import write_fit_figures

            written = write_fit_figures(fit, rows, args.report_dir)
            print("figures: " + ", ".join(str(p) for p in written))
    finally:
        close_client(client)
    return 0


def _store(client, fit, campaign_ids: list[str]) -> str | None:
    from msc_bluesky.modelling.fit_run import fit_run_documents
    from msc_bluesky.storage.writer import make_tiled_writer

    campaign = campaign_ids[0] if len(campaign_ids) == 1 else None
    md = {"campaign_ids": campaign_ids} if len(campaign_ids) > 1 else None
    docs = fit_run_documents(fit, campaign_id=campaign, md=md)
    writer = make_tiled_writer(client)
    try:
        for name, doc in docs:
            writer(name, doc)
    except Exception as err:
        print(f"error: storing the fit run failed ({type(err).__name__}: {err})",
              file=sys.stderr)
        return None
    return docs[0][1]["uid"]
