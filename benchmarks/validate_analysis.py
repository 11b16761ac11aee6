"""Validate the live analysis on data it was never tuned on.

    python benchmarks/validate_analysis.py [--spectra 1000] [--seed 2026]
                                           [--nc-model transitions|smooth] [--no-saxs]

Spectra come from tests/independent_spectra.py, a generator that shares no code with
msc_bluesky (Gaussian/Lorentzian bands in energy, NC excitons 470–660 nm with stronger
higher transitions, λ^-n scattering, offsets, constant or photometric noise). Prints per
family detection and false-alarm rates, the rate of missed bands deeper than 10 σ, the NC
first-exciton error, σ coverage (scatter of (fit − truth)/σ) and the fit time (wall and
CPU; wall time depends on the machine's load). ``--nc-model smooth`` scores the earlier
NC model (``fit_spectrum(nc_model="smooth")``) for comparison. Ends with
benchmarks/validate_saxs.py when it exists (unless ``--no-saxs``), so one command
validates both fits.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from independent_spectra import make_cases  # noqa: E402
from spectra_validation import report, score  # noqa: E402

from msc_bluesky.analysis import uvvis  # noqa: E402


def _cpu_times_ms(cases) -> list[float]:
    grid = [c for c in cases if c.wavelength_nm.size == 1000][:200]
    times = []
    for case in grid:
        t0 = time.process_time()
        uvvis.fit_spectrum(case.wavelength_nm, case.absorbance)
        times.append(1e3 * (time.process_time() - t0))
    return times


def _run_saxs_validation() -> None:
    path = HERE / "validate_saxs.py"
    if not path.exists():
        return
    spec = importlib.util.spec_from_file_location("validate_saxs", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    print()
    module.main()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spectra", type=int, default=1000, help="number of spectra")
    parser.add_argument("--seed", type=int, default=2026, help="generator seed")
    parser.add_argument("--nc-model", choices=uvvis.NC_MODELS, default="transitions",
                        help="fit_spectrum(nc_model=...) (default transitions)")
    parser.add_argument("--no-saxs", action="store_true", help="skip validate_saxs.py")
    args = parser.parse_args(argv)
    if args.spectra < 10:
        parser.error("--spectra must be at least 10")
    # spectra_validation calls uvvis.fit_spectrum: give it the chosen NC model
    uvvis.fit_spectrum = functools.partial(uvvis.fit_spectrum, nc_model=args.nc_model)
    print(f"fit_spectrum(nc_model={args.nc_model!r})")

    cases = make_cases(args.spectra, seed=args.seed)
    uvvis.fit_spectrum(cases[0].wavelength_nm, cases[0].absorbance)  # warm the caches
    print(report(score(cases)))
    cpu = _cpu_times_ms(cases)
    print(f"fit CPU time (1000-point spectra): median {np.median(cpu):.2f} ms, "
          f"90th percentile {np.percentile(cpu, 90):.2f} ms (goal < 5 ms median)")
    if not args.no_saxs:
        _run_saxs_validation()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
