"""Median time to simulate one condition (kinetics + spectrum + I(q)); goal < 20 ms."""

from __future__ import annotations

import statistics
import time

import numpy as np

from msc_bluesky.sim import simulate

CONDITIONS = [
    (280, 280, 14.0), (280, 190, 14.0), (320, 230, 14.0), (280, 280, 4.5), (350, 350, 7.6),
    (240, 230, 1.5), (25, 25, 14.0),
]


def main(repeats: int = 20) -> None:
    rng = np.random.default_rng(0)
    simulate(280, 280, 14.0, rng=rng)  # import/first-call warm-up, not a cache
    all_times = []
    for cond in CONDITIONS:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            simulate(*cond, rng=rng)
            times.append(time.perf_counter() - t0)
        all_times += times
        print(f"{cond}: median {1e3 * statistics.median(times):.2f} ms")
    print(f"median over all conditions: {1e3 * statistics.median(all_times):.2f} ms (goal < 20 ms)")


if __name__ == "__main__":
    main()
