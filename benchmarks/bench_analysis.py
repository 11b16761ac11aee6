"""Benchmark the analysis core: time per spectrum fit and per SAXS inversion.

    python benchmarks/bench_analysis.py            # our fits only (seconds)
    python benchmarks/bench_analysis.py --compare  # also McSAS3 (about a minute) and lmfit

Goals: spectrum fit < 5 ms, SAXS inversion < 20 ms. The comparison runs on the same
synthetic curves (tests/analysis_synthetic.py, independent of the simulator): McSAS3 with
one repetition against our NNLS inversion (time, volume-fraction error), an lmfit
multi-peak fit against our spectrum fit (time, NC peak error).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.signal import find_peaks

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from analysis_synthetic import saxs_curve, spectrum  # noqa: E402

from msc_bluesky.analysis import saxs, uvvis  # noqa: E402

LAM = np.linspace(300.0, 700.0, 1000)
Q = np.geomspace(0.05, 8.0, 300)
NC_PEAKS = (490.0, 527.0, 550.0, 572.0, 600.0)
MSC_SETS = ({}, {437.0: 0.15}, {403.0: 0.1, 437.0: 0.2, 467.0: 0.06})
SAXS_TRUTH = [(0.94, 0.10, 1e-3), (2.0, 0.10, 1e-3)]
SPLIT_NM = 1.4  # radius separating the two populations when summing volume fractions


def _spectra(rng: np.random.Generator) -> list[tuple[float, np.ndarray]]:
    return [
        (nc, spectrum(LAM, msc=msc, nc_peak_nm=nc, noise=0.003, rng=rng))
        for nc in NC_PEAKS
        for msc in MSC_SETS
    ]


def _saxs_curves(rng: np.random.Generator, n: int = 10) -> list[tuple[np.ndarray, np.ndarray]]:
    clean = saxs_curve(Q, SAXS_TRUTH, background=0.01)
    sigma = 0.01 * clean
    return [(clean + rng.normal(0.0, sigma), sigma) for _ in range(n)]


def _time_ms(func, *args, repeat: int = 5) -> float:
    func(*args)  # warm the caches (design matrices are reused per grid)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func(*args)
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


def _split_fractions(radius: np.ndarray, phi: np.ndarray) -> tuple[float, float]:
    return float(phi[radius < SPLIT_NM].sum()), float(phi[radius >= SPLIT_NM].sum())


def bench_ours(rng: np.random.Generator) -> None:
    spectra = _spectra(rng)
    t_spec = [_time_ms(uvvis.fit_spectrum, LAM, y) for _, y in spectra]
    err = [abs(uvvis.fit_spectrum(LAM, y).nc.peak_nm - nc) for nc, y in spectra]
    print(
        f"spectrum fit  : median {statistics.median(t_spec):6.2f} ms, max {max(t_spec):6.2f} ms "
        f"per spectrum ({len(spectra)} spectra, 1000 points; goal < 5 ms); "
        f"NC peak error max {max(err):.2f} nm"
    )
    curves = _saxs_curves(rng)
    t_saxs = [_time_ms(saxs.fit_size_distribution, Q, y, s) for y, s in curves]
    rel = []
    for y, s in curves:
        fit = saxs.fit_size_distribution(Q, y, s)
        small, large = _split_fractions(fit.radius_nm, fit.volume_fraction)
        rel += [abs(small / SAXS_TRUTH[0][2] - 1), abs(large / SAXS_TRUTH[1][2] - 1)]
    print(
        f"SAXS inversion: median {statistics.median(t_saxs):6.2f} ms, max {max(t_saxs):6.2f} ms "
        f"per curve ({len(curves)} curves, 300 points; goal < 20 ms); "
        f"volume-fraction error max {100 * max(rel):.1f} % (absolute)"
    )
    t_meso = [_time_ms(saxs.find_mesophase, Q, y) for y, _ in curves[:3]]
    print(f"mesophase     : median {statistics.median(t_meso):6.2f} ms per curve")


def compare_lmfit(rng: np.random.Generator) -> None:
    try:
        import lmfit
    except ImportError as err:
        print(f"lmfit comparison skipped: {err}")
        return
    spectra = _spectra(rng)[1::3]  # one per NC position (with CdSe-437): lmfit is slow
    errs_lm, errs_ours, t_lm, t_ours = [], [], [], []
    for nc_true, y in spectra:
        model = lmfit.models.LinearModel(prefix="bg_")
        params = model.make_params(slope=0.0, intercept=float(y.min()))
        for fam in (350, 381, 403, 437, 466):
            g = lmfit.models.GaussianModel(prefix=f"m{fam}_")
            params.update(g.make_params())
            params[f"m{fam}_center"].set(value=fam, min=fam - 2, max=fam + 2)
            params[f"m{fam}_sigma"].set(value=4.0, min=2.0, max=8.0)
            params[f"m{fam}_amplitude"].set(value=0.1, min=0.0)
            model = model + g
        # NC exciton and two broad higher transitions; the NC starts at the most prominent
        # maximum of the smoothed spectrum above 460 nm (a fair, generic guess).
        smooth = np.convolve(y, np.ones(15) / 15, mode="same")
        red = np.where(LAM > 460)[0][5:-8]
        peaks, props = find_peaks(smooth[red], prominence=0.0)
        guess = LAM[red[peaks[np.argmax(props["prominences"])]]] if peaks.size else 520.0
        for name, centre, sig, lo, hi in (
            ("nc_", guess, 12.0, guess - 25.0, guess + 25.0),
            ("h1_", guess - 40, 20.0, guess - 90.0, guess - 15.0),
            ("h2_", guess - 90, 25.0, 330.0, guess - 40.0),
        ):
            g = lmfit.models.GaussianModel(prefix=name)
            params.update(g.make_params())
            params[f"{name}center"].set(value=centre, min=lo, max=hi)
            params[f"{name}sigma"].set(value=sig, min=6.0, max=40.0)
            params[f"{name}amplitude"].set(value=5.0, min=0.0)
            model = model + g
        t0 = time.perf_counter()
        result = model.fit(y, params, x=LAM, max_nfev=3000)
        t_lm.append(time.perf_counter() - t0)
        errs_lm.append(abs(result.params["nc_center"].value - nc_true))
        t0 = time.perf_counter()
        ours = uvvis.fit_spectrum(LAM, y)
        t_ours.append(time.perf_counter() - t0)
        errs_ours.append(abs(ours.nc.peak_nm - nc_true) if ours.nc else float("inf"))
    print(
        f"spectrum, same {len(spectra)} spectra: lmfit multi-peak median "
        f"{1e3 * statistics.median(t_lm):7.1f} ms, NC peak error median "
        f"{statistics.median(errs_lm):.2f} nm / max {max(errs_lm):.2f} nm | ours median "
        f"{1e3 * statistics.median(t_ours):5.2f} ms, error median "
        f"{statistics.median(errs_ours):.2f} nm / max {max(errs_ours):.2f} nm"
    )


def compare_mcsas3(rng: np.random.Generator, max_iter: int, n_contrib: int) -> None:
    try:
        import pandas as pd
        from mcsas3 import mc_data_1d, mc_hat
        from mcsas3.mc_analysis import McAnalysis
    except ImportError as err:
        print(f"McSAS3 comparison skipped: {err}")
        return
    y, sigma = _saxs_curves(rng, n=1)[0]
    r_lo, r_hi = np.pi / Q[-1], np.pi / Q[0]
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = Path(tmp) / "mcsas3.nxs"
        df = pd.DataFrame({"Q": Q, "I": y, "ISigma": sigma})
        mds = mc_data_1d.McData1D(df=df, nbins=0, dataRange=[Q[0], Q[-1]])
        mds.store(out)
        hat = mc_hat.McHat(
            modelName="mcsas_sphere",
            nContrib=n_contrib,
            modelDType="default",
            fitParameterLimits={"radius": [r_lo, r_hi]},
            staticParameters={"sld": 33.0, "sld_solvent": 0.0},
            maxIter=max_iter,
            convCrit=1.0,
            nRep=1,
            nCores=1,
            seed=1,
        )
        t0 = time.perf_counter()
        hat.run(mds.measData.copy(), out)
        t_mc = time.perf_counter() - t0
        chi2_mc = float(hat._opt.gof)  # reduced chi-square reached (convCrit 1 = converged)
        hist = pd.DataFrame(
            [
                {
                    "parameter": "radius",
                    "nBin": 60,
                    "binScale": "log",
                    "presetRangeMin": r_lo,
                    "presetRangeMax": r_hi,
                    "binWeighting": "vol",
                    "autoRange": False,
                }
            ]
        )
        analysis = McAnalysis(out, mds.measData.copy(), hist, store=False)
        averaged = analysis._averagedHistograms[0]
        centres = averaged["xMean"].to_numpy()
        phi_mc = averaged["yMean"].to_numpy()
    small_mc, large_mc = _split_fractions(centres, phi_mc)
    t0 = time.perf_counter()
    fit = saxs.fit_size_distribution(Q, y, sigma)
    t_ours = time.perf_counter() - t0
    small, large = _split_fractions(fit.radius_nm, fit.volume_fraction)
    truth_share = SAXS_TRUTH[0][2] / (SAXS_TRUTH[0][2] + SAXS_TRUTH[1][2])

    def share_err(a: float, b: float) -> float:
        return 100.0 * abs(a / (a + b) - truth_share) if a + b > 0 else float("nan")

    # McSAS3 reads intensity as 1/(m sr) with SLD in 1e-6 Å^-2 (33 = our CdSe contrast); our
    # intensity is in cm^-1, 100x smaller, so its volume fractions are 100x too small.
    small_mc, large_mc = 100.0 * small_mc, 100.0 * large_mc
    truth = (SAXS_TRUTH[0][2], SAXS_TRUTH[1][2])

    def rel(a: float, b: float) -> str:
        return f"{100 * abs(a / truth[0] - 1):.1f} % / {100 * abs(b / truth[1] - 1):.1f} %"

    print(
        f"SAXS, same curve: McSAS3 (1 repetition, {n_contrib} contributions, <= {max_iter} "
        f"steps, reduced chi2 reached {chi2_mc:.2f}) {t_mc:6.1f} s, volume fractions "
        f"{small_mc:.3g} / {large_mc:.3g} (x100 for cm^-1 -> m^-1), error {rel(small_mc, large_mc)}"
        f", small-population share error {share_err(small_mc, large_mc):.1f} points | ours "
        f"{1e3 * t_ours:5.1f} ms, {small:.3g} / {large:.3g}, error {rel(small, large)}, share "
        f"error {share_err(small, large):.1f} points (truth {truth[0]:.3g} / {truth[1]:.3g})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--compare", action="store_true", help="also run McSAS3 (~1 min) and lmfit"
    )
    parser.add_argument(
        "--mcsas-iterations", type=int, default=20000,
        help="McSAS3 step limit (default 20000; it stops earlier at reduced chi2 1)",
    )
    parser.add_argument("--mcsas-contributions", type=int, default=100)
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # figures appear as they are measured
    rng = np.random.default_rng(2020)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"load average {load} on {os.cpu_count()} cores (busy machines inflate the times)")
    bench_ours(rng)
    if args.compare:
        compare_lmfit(rng)
        compare_mcsas3(rng, args.mcsas_iterations, args.mcsas_contributions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
