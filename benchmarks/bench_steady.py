"""Steady state from the signal against the fixed wait, on the simulated reactor.

For each condition change typical of the campaign, starting each time from the
previous condition flushed with the fixed wait:

1. the fixed wait (``residence_volumes`` = 3) is timed, then the cell is measured;
2. back at the previous condition, the signal wait (``steady="signal"``) is timed and
   the cell measured; then more liquid is pumped, to 4 volumes in all ("fully
   flushed"), and the cell is measured again.

Printed per change: the wall time of both waits and the time saved, the rule that
ended the signal wait and its volumes, and how far the signal-wait measurement is from
the fully flushed one: max |ΔA| / σ over the spectrum (σ of both spectra from their
own scatter, :mod:`msc_bluesky.analysis.spectral_noise`; a value ≤ 4 is noise), the
same for the fixed wait, the NC first-exciton peak shift (nm, both fitted with
:func:`msc_bluesky.analysis.uvvis.fit_spectrum`) and the SAXS max |ΔI| / σ.

Then the totals: time saved over all changes, the rules that ended the signal waits
and the volumes they used, and the machine's load with the CPU time of this process and
of the simulated IOC (timings on a loaded machine are inflated: at time scale 100 one
residence volume at 14 s is 0.16 s of wall time, so a stall of 50 ms is a third of a
volume).

    python benchmarks/bench_steady.py                  # time scale 100
    python benchmarks/bench_steady.py --time-scale 20
    python benchmarks/bench_steady.py --repeat 3       # every change three times
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter

import numpy as np

#: (label, previous condition, new condition): (t_nuc, t_growth, reaction_time).
CHANGES = [
    ("grid: T_growth -10 °C at 14 s", (300.0, 300.0, 14.0), (300.0, 290.0, 14.0)),
    ("grid: T_growth -10 °C at 14 s", (280.0, 270.0, 14.0), (280.0, 260.0, 14.0)),
    ("grid: next T_nuc (+10 °C, 14 s)", (280.0, 260.0, 14.0), (290.0, 290.0, 14.0)),
    ("reaction time 14 s -> 4.5 s", (280.0, 280.0, 14.0), (280.0, 280.0, 4.5)),
    ("reaction time 4.5 s -> 14 s", (280.0, 280.0, 4.5), (280.0, 280.0, 14.0)),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-scale", type=float, default=100.0)
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the list of changes this many times (default 1)")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    cpu0, children0 = time.process_time(), os.times()

    import bluesky.plan_stubs as bps
    from bluesky import RunEngine

    from msc_bluesky.analysis.uvvis import fit_spectrum
    from msc_bluesky.campaign.local import simulated_reactor
    from msc_bluesky.instrument import reactor as make_reactor
    from msc_bluesky.instrument import saxs as make_saxs
    from msc_bluesky.instrument import uvvis as make_uvvis
    from msc_bluesky.plans.safety import safe_state
    from msc_bluesky.plans.steady import spectrum_sigma, wait_for_signal
    from msc_bluesky.plans.validation import read_reactor_configuration
    from msc_bluesky.plans.watch import ReactorWatch, watching

    with simulated_reactor(None, args.time_scale, echo=lambda line: None) as prefix:
        reactor, uvvis, saxs = make_reactor(prefix), make_uvvis(prefix), make_saxs(prefix)
        for device in (reactor, uvvis, saxs):
            device.wait_for_connection(timeout=60)
        from msc_bluesky.devices.heartbeat import Heartbeat

        heartbeat = Heartbeat(reactor.heartbeat, 1.0).start()  # the IOC's watchdog is armed
        RE = RunEngine({}, context_managers=[])  # noqa: N806
        watch = ReactorWatch(reactor)
        wavelength = np.asarray(uvvis.wavelength.get(), dtype=float)
        path = float(uvvis.path_length.get())
        rows = []

        def measure():
            yield from bps.trigger(uvvis, group="m")
            yield from bps.trigger(saxs, group="m")
            yield from bps.wait("m")
            a = np.asarray((yield from bps.rd(uvvis.absorbance)), dtype=float)
            i = np.asarray((yield from bps.rd(saxs.intensity)), dtype=float)
            s = np.asarray((yield from bps.rd(saxs.intensity_sigma)), dtype=float)
            return a, i, s

        def set_condition(cond):
            t_nuc, t_growth, t = cond
            yield from watching(bps.mv(reactor.t_nuc, t_nuc, reactor.t_growth, t_growth,
                                       reactor.reaction_time, t), watch, "settle")

        def one(prev, cond):
            config = yield from read_reactor_configuration(reactor)
            one_volume = config.residence_volume_ml
            out = {}
            for rule in ("fixed", "signal"):
                yield from set_condition(prev)
                yield from watching(bps.mv(reactor.flush, 3 * one_volume), watch, "flush")
                yield from set_condition(cond)
                t0 = time.perf_counter()
                if rule == "fixed":
                    yield from watching(bps.mv(reactor.flush, 3 * one_volume), watch, "flush")
                    out["fixed_s"] = time.perf_counter() - t0
                    out["fixed"] = yield from measure()
                else:
                    outcome = yield from watching(
                        wait_for_signal(reactor, [uvvis, saxs], one_volume_ml=one_volume,
                                        max_volumes=3), watch, "flush")
                    out["signal_s"] = time.perf_counter() - t0
                    out["outcome"] = outcome
                    out["signal"] = yield from measure()
                    extra = max(4.0 - outcome.volumes, 0.0)
                    yield from watching(bps.mv(reactor.flush, extra * one_volume), watch,
                                        "flush")
                    out["full"] = yield from measure()
            rows.append(out)

        def plan():
            try:
                for _ in range(max(1, args.repeat)):
                    for _, prev, cond in CHANGES:
                        yield from one(prev, cond)
            finally:
                yield from safe_state(reactor)

        try:
            RE(plan())
        finally:
            watch.close()
            heartbeat.stop()
        for device in (reactor, uvvis, saxs):
            device.destroy()

    cpu = time.process_time() - cpu0
    children = os.times()
    ioc_cpu = (children.children_user + children.children_system
               - children0.children_user - children0.children_system)
    changes = CHANGES * max(1, args.repeat)

    def max_z(a, b):
        sigma = np.hypot(spectrum_sigma(a), spectrum_sigma(b))
        return float(np.max(np.abs(a - b) / sigma))

    def nc_peak(a):
        nc = fit_spectrum(wavelength, a, path).nc
        return None if nc is None else float(nc.peak_nm)

    print(f"steady state from the signal vs the fixed 3-volume wait, time scale "
          f"{args.time_scale:g} (σ: each spectrum's own noise; |ΔA|/σ <= 4 is noise)")
    print(f"{'change':<32} {'fixed s':>7} {'signal s':>8} {'saved':>6} {'rule':>11} "
          f"{'vol':>5} {'|ΔA|/σ sig':>10} {'|ΔA|/σ fix':>10} {'ΔNC nm':>7} {'SAXS z':>6}")
    total_fixed = total_signal = 0.0
    for (label, _, _), row in zip(changes, rows, strict=True):
        a_sig, i_sig, s_sig = row["signal"]
        a_full, i_full, s_full = row["full"]
        a_fix = row["fixed"][0]
        p_sig, p_full = nc_peak(a_sig), nc_peak(a_full)
        shift = "-" if p_sig is None or p_full is None else f"{p_sig - p_full:+.2f}"
        saxs_z = float(np.max(np.abs(i_sig - i_full) / np.hypot(s_sig, s_full)))
        total_fixed += row["fixed_s"]
        total_signal += row["signal_s"]
        print(f"{label:<32} {row['fixed_s']:7.2f} {row['signal_s']:8.2f} "
              f"{100 * (1 - row['signal_s'] / row['fixed_s']):5.0f}% "
              f"{row['outcome'].rule:>11} {row['outcome'].volumes:5.2f} "
              f"{max_z(a_sig, a_full):10.2f} {max_z(a_fix, a_full):10.2f} {shift:>7} "
              f"{saxs_z:6.2f}")
    print(f"{'all changes':<32} {total_fixed:7.2f} {total_signal:8.2f} "
          f"{100 * (1 - total_signal / total_fixed):5.0f}%")
    rules = Counter(row["outcome"].rule for row in rows)
    volumes = np.array([row["outcome"].volumes for row in rows])
    print(f"rules: {', '.join(f'{k} {v}' for k, v in sorted(rules.items()))} of {len(rows)}; "
          f"signal-wait volumes median {np.median(volumes):.2f} (range {volumes.min():.2f}-"
          f"{volumes.max():.2f}, fixed 3); load {load_before:.1f} -> {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores; CPU s: this process {cpu:.1f}, IOC {ioc_cpu:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
