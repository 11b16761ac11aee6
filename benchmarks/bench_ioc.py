"""Channel Access figures of the simulated IOC (loopback, random prefix, free port).

Prints the round-trip time of a 1000-point waveform read and the latency of a
put-complete acquire (UV-Vis: 0.1 s x 10 scans; SAXS: 1 s exposure) at --time-scale
1000, where the simulated acquisition itself takes 1 ms of wall time.

    python benchmarks/bench_ioc.py [--repeats N] [--time-scale F]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def _figures(samples: list[float]) -> str:
    ms = sorted(1e3 * s for s in samples)
    p90 = ms[int(0.9 * (len(ms) - 1))]
    return f"median {statistics.median(ms):7.2f} ms   p90 {p90:7.2f} ms   min {ms[0]:7.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--time-scale", type=float, default=1000.0)
    args = parser.parse_args()

    from msc_bluesky.iocs.launcher import SimulatedIOC, client_env, free_port

    port = free_port()
    os.environ.update(client_env(port))  # before the first CA client of this process
    from caproto.sync.client import read as sync_read
    from caproto.threading.client import Context

    t0 = time.perf_counter()
    with SimulatedIOC(time_scale=args.time_scale, port=port) as ioc:
        start_s = time.perf_counter() - t0
        ctx = Context()
        names = ["uvvis:absorbance", "saxs:intensity", "saxs:image", "uvvis:acquire",
                 "saxs:acquire", "reactor:nuc:readback"]
        pvs = dict(zip(names, ctx.get_pvs(*[ioc.prefix + n for n in names], timeout=5.0),
                       strict=True))
        for pv in pvs.values():
            pv.wait_for_connection(timeout=10.0)

        def timed(func) -> list[float]:
            func()  # warm-up
            out = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                func()
                out.append(time.perf_counter() - t)
            return out

        waveform = timed(lambda: pvs["uvvis:absorbance"].read(timeout=5.0))
        n_points = len(pvs["uvvis:absorbance"].read().data)
        scalar = timed(lambda: pvs["reactor:nuc:readback"].read(timeout=5.0))
        image = timed(lambda: pvs["saxs:image"].read(timeout=5.0))
        sync = timed(lambda: sync_read(ioc.prefix + "uvvis:absorbance", repeater=False,
                                       timeout=5.0))
        uv_acq = timed(lambda: pvs["uvvis:acquire"].write([1], wait=True, timeout=10.0))
        saxs_acq = timed(lambda: pvs["saxs:acquire"].write([1], wait=True, timeout=10.0))
        ctx.disconnect()

    print(f"simulated IOC, time scale {args.time_scale:g}, {args.repeats} repeats, loopback")
    print(f"  IOC start until reactor:sim_time answers     {start_s * 1e3:8.0f} ms")
    print(f"  read {n_points}-point waveform (connected)     {_figures(waveform)}")
    print(f"  read scalar (connected)                      {_figures(scalar)}")
    print(f"  read 128x128 image (connected)               {_figures(image)}")
    print(f"  sync client read of the waveform (connects)  {_figures(sync)}")
    print(f"  uvvis acquire, put-complete (1 sim s)        {_figures(uv_acq)}")
    print(f"  saxs acquire, put-complete (1 sim s)         {_figures(saxs_acq)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
