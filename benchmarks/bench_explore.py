"""Adaptive exploration against the full grid and random sampling, on the simulated reactor.

    python benchmarks/bench_explore.py [--seeds 0 1 2] [--budget 25] [--time-scale 200]

One simulated IOC and one session (embedded tiled store in a temporary directory):

1. the full 14 s grid of the paper (70 conditions) is measured with ``condition_scan``;
   its stored analysis is the reference map and its diagonal gives the reference window;
2. for each seed, the loop of ``msc-bluesky explore`` (map objective) measures its own
   proposals live, up to the budget or its stopping rule;
3. for each seed, random sampling with the same number of conditions: the same model
   fitted on randomly chosen grid points (their results taken from the full-grid
   measurement, which is what measuring them again would give up to noise).

Printed: conditions used, accuracy of the predicted 14 s CdSe-437 map against the full
grid, the window edges and their error, and wall time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid

import numpy as np


def _measure_full_grid(session, campaign_id: str):
    from msc_bluesky.campaign.local import summary_rows
    from msc_bluesky.campaign.summary import msc437_window, summarize
    from msc_bluesky.explore.space import paper_grid
    from msc_bluesky.plans import condition_scan

    grid = paper_grid()
    session.RE(condition_scan([session.uvvis], session.reactor, grid,
                              md={"campaign_id": campaign_id}))
    session.writer.flush(600)
    conditions = summarize(summary_rows(session.client, campaign_id))["conditions"]
    truth = {(c["t_nuc"], c["t_growth"]): bool(c["msc437_detected"]) for c in conditions}
    return truth, msc437_window(conditions)


def _score(agent, truth, window):
    from msc_bluesky.explore.summary import diagonal_window, predicted_phase_map

    predicted = predicted_phase_map(agent)
    accuracy = np.mean([g["msc437"] == truth[(g["t_nuc"], g["t_growth"])] for g in predicted])
    found, _ = diagonal_window(agent)
    if window is None or found is None:
        edge_error = float("nan")
    else:
        edge_error = max(abs(found[0] - window[0]), abs(found[1] - window[1]))
    return float(accuracy), found, edge_error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", type=int, default=25)
    parser.add_argument("--time-scale", type=float, default=200.0)
    args = parser.parse_args()

    from msc_bluesky.campaign.local import connect_devices, simulated_reactor
    from msc_bluesky.explore.agent import MapAgent, Observation
    from msc_bluesky.explore.loop import Exploration
    from msc_bluesky.explore.measure import session_measure
    from msc_bluesky.explore.space import ExplorationSpace

    rows = []
    with tempfile.TemporaryDirectory() as data_dir, simulated_reactor(
        None, args.time_scale, echo=lambda s: None
    ) as prefix:
        from msc_bluesky.session import SessionConfig, build_session

        session = build_session(SessionConfig(prefix=prefix, data_dir=data_dir,
                                              live_plots=False, progress=False,
                                              heartbeat_s=1.0))
        try:
            connect_devices(session)
            t0 = time.perf_counter()
            truth, window = _measure_full_grid(session, uuid.uuid4().hex[:12])
            rows.append(("full grid", "-", 70, 1.0, window, 0.0, time.perf_counter() - t0))
            space = ExplorationSpace(t_nuc_range=(260.0, 320.0))
            for seed in args.seeds:
                agent = MapAgent(space, seed=seed)
                t0 = time.perf_counter()
                exploration = Exploration(
                    agent, session_measure(session, uuid.uuid4().hex[:12]),
                    budget=args.budget, echo=lambda s: None,
                )
                exploration.run()
                accuracy, found, err = _score(agent, truth, window)
                rows.append(("explore", seed, exploration.conditions_used, accuracy, found, err,
                             time.perf_counter() - t0))
                rng = np.random.default_rng(seed)
                rand = MapAgent(space, seed=seed)
                picks = rng.choice(len(space), size=exploration.conditions_used, replace=False)
                rand.ingest([
                    Observation(c, truth[(c["t_nuc"], c["t_growth"])])
                    for c in space.as_conditions(space.candidates[picks])
                ])
                accuracy, found, err = _score(rand, truth, window)
                rows.append(("random", seed, exploration.conditions_used, accuracy, found, err,
                             float("nan")))
        finally:
            session.close()

    print(f"reference window at 14 s (full grid, diagonal): {window}")
    print(f"{'method':<10} {'seed':>4} {'conditions':>10} {'map accuracy':>12} "
          f"{'window (°C)':>14} {'edge error':>10} {'wall s':>7}")
    for method, seed, n, acc, found, err, secs in rows:
        w = "—" if not found else f"{found[0]:.0f}–{found[1]:.0f}"
        print(f"{method:<10} {seed!s:>4} {n:>10} {acc:>12.1%} {w:>14} {err:>10.1f} {secs:>7.1f}")


if __name__ == "__main__":
    main()
