"""Storage figures: write throughput and campaign-table query time (embedded tiled).

Prints events per second written through :class:`JournaledWriter` (journal + tiled,
each event a 1000-point spectrum and a 300-point I(q)) for several batch sizes, and the
time :func:`campaign_table` takes over a campaign of raw runs with linked analysis runs,
databroker's ``db[-1].table()`` and ``db(t_nuc=...)`` on that store, and how fast
``replay --migrate`` moves runs of the old layout into ``raw``/``analysis``.

    python benchmarks/bench_storage.py [--events 50] [--runs 100] [--migrate-runs 20]

Load and durability of a served store (``storage_load.py``): one writer streaming a
campaign plus 8 readers polling its campaign table, against a tiled server process on
SQLite and, with ``--catalog-uri`` (an empty database), on PostgreSQL side by side;
then the server is SIGKILLed mid-write, restarted, and the acknowledged documents are
checked:

    python benchmarks/bench_storage.py --catalog-uri postgresql://postgres@127.0.0.1:5432/msc_bench
    python benchmarks/bench_storage.py --load        # the same on SQLite only
        [--preload 1000] [--conditions 8] [--readers 8] [--poll-interval 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from event_model import compose_run

from msc_bluesky.storage.browse import campaign_table
from msc_bluesky.storage.catalog import close_client, open_catalog, open_databroker
from msc_bluesky.storage.conditions import condition_bounds
from msc_bluesky.storage.migrate import migrate_layout
from msc_bluesky.storage.writer import JournaledWriter

RAW_KEYS = {
    "reactor_t_nuc": {"dtype": "number", "shape": [], "source": "bench"},
    "reactor_t_growth": {"dtype": "number", "shape": [], "source": "bench"},
    "reactor_reaction_time": {"dtype": "number", "shape": [], "source": "bench"},
    "uvvis_absorbance": {"dtype": "array", "shape": [1000], "source": "bench"},
    "saxs_intensity": {"dtype": "array", "shape": [300], "source": "bench"},
}
FIT_KEYS = {
    "raw_seq_num": {"dtype": "integer", "shape": [], "source": "bench"},
    "phase": {"dtype": "string", "shape": [], "source": "bench"},
    "nc_peak_nm": {"dtype": "number", "shape": [], "source": "bench"},
    "fit_ok": {"dtype": "boolean", "shape": [], "source": "bench"},
}


def raw_run(n_events: int, t_nuc: float, rng: np.random.Generator):
    """Documents of one raw run (one condition per event)."""
    conditions = [
        {"t_nuc": t_nuc, "t_growth": 230.0, "reaction_time": 1.5 + i} for i in range(n_events)
    ]
    bundle = compose_run(metadata={"plan_name": "bench", "conditions": conditions})
    yield "start", bundle.start_doc
    desc = bundle.compose_descriptor(name="primary", data_keys=RAW_KEYS)
    yield "descriptor", desc.descriptor_doc
    for i, c in enumerate(conditions):
        data = {
            "reactor_t_nuc": c["t_nuc"],
            "reactor_t_growth": c["t_growth"],
            "reactor_reaction_time": c["reaction_time"],
            "uvvis_absorbance": rng.random(1000).tolist(),
            "saxs_intensity": rng.random(300).tolist(),
        }
        now = time.time()
        yield "event", desc.compose_event(
            data=data, timestamps=dict.fromkeys(data, now), seq_num=i + 1
        )
    yield "stop", bundle.compose_stop()


def analysis_run(raw_start: dict, n_events: int):
    """Documents of a linked analysis run."""
    bundle = compose_run(
        metadata={
            "plan_name": "msc_analysis",
            "raw_uid": raw_start["uid"],
            "conditions": raw_start["conditions"],
        }
    )
    yield "start", bundle.start_doc
    desc = bundle.compose_descriptor(name="primary", data_keys=FIT_KEYS)
    yield "descriptor", desc.descriptor_doc
    for i in range(n_events):
        data = {"raw_seq_num": i + 1, "phase": "NC", "nc_peak_nm": 500.0 + i, "fit_ok": True}
        yield "event", desc.compose_event(
            data=data, timestamps=dict.fromkeys(data, time.time()), seq_num=i + 1
        )
    yield "stop", bundle.compose_stop()


def bench_writes(client, backup: Path, n_events: int, batch_size: int) -> float:
    """Events per second through JournaledWriter (until everything is in tiled)."""
    rng = np.random.default_rng(0)
    docs = list(raw_run(n_events, 250.0, rng))
    writer = JournaledWriter(client, backup, batch_size=batch_size)
    start = time.perf_counter()
    for name, doc in docs:
        writer(name, doc)
    if not writer.close(600):
        raise RuntimeError("writer did not drain")
    elapsed = time.perf_counter() - start
    if writer.status.backed_up:
        raise RuntimeError(f"runs went to the backup: {writer.status.backed_up}")
    return n_events / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50, help="events per write benchmark")
    parser.add_argument("--runs", type=int, default=100, help="raw runs in the campaign")
    parser.add_argument(
        "--migrate-runs", type=int, default=20, help="raw runs (+ analysis) to migrate"
    )
    parser.add_argument(
        "--catalog-uri", default=None,
        help="an empty PostgreSQL database: run the load benchmark on SQLite and on it",
    )
    parser.add_argument("--load", action="store_true",
                        help="run the load benchmark (SQLite only without --catalog-uri)")
    parser.add_argument("--preload", type=int, default=1000,
                        help="runs stored before the load benchmark streams (default 1000)")
    parser.add_argument("--conditions", type=int, default=8,
                        help="conditions of the streamed campaign (default 8)")
    parser.add_argument("--readers", type=int, default=8,
                        help="reader threads polling the campaign table (default 8)")
    parser.add_argument("--poll-interval", type=float, default=1.0,
                        help="seconds each reader waits between polls (default 1; 0: none)")
    args = parser.parse_args()
    if args.catalog_uri or args.load:
        from storage_load import main_load

        for name in ("preload", "conditions", "readers"):
            if getattr(args, name) < 1:
                parser.error(f"--{name} must be a positive integer")
        if not args.poll_interval >= 0:
            parser.error("--poll-interval must be a number >= 0")
        main_load(args.catalog_uri, preload_runs=args.preload, conditions=args.conditions,
                  readers=args.readers, interval=args.poll_interval)
        return
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        client = open_catalog(tmp)
        print(f"catalog creation + open: {time.perf_counter() - t0:.1f} s")
        try:
            for batch_size in (1, 10, 50):
                rate = bench_writes(client, Path(tmp) / "backup", args.events, batch_size)
                print(
                    f"write throughput, batch_size={batch_size:>3}: {rate:7.1f} events/s "
                    f"({args.events} events, 1000-pt spectrum + 300-pt I(q))"
                )
            rng = np.random.default_rng(1)
            writer = JournaledWriter(client, Path(tmp) / "backup", batch_size=10)
            t0 = time.perf_counter()
            for i in range(args.runs):
                raw = list(raw_run(1, 190.0 + (i % 10) * 10, rng))
                for name, doc in [*raw, *analysis_run(raw[0][1], 1)]:
                    writer(name, doc)
            writer.close(600)
            print(
                f"wrote {args.runs} raw + {args.runs} analysis runs in "
                f"{time.perf_counter() - t0:.1f} s"
            )
            t0 = time.perf_counter()
            table = campaign_table(client, plan_name="bench")
            elapsed = time.perf_counter() - t0
            print(f"campaign_table over {args.runs} runs: {elapsed:.2f} s ({len(table)} rows)")
            t0 = time.perf_counter()
            subset = campaign_table(client, plan_name="bench", t_nuc=250)
            print(
                f"campaign_table t_nuc=250: {time.perf_counter() - t0:.2f} s "
                f"({len(subset)} rows)"
            )
            bench_databroker(client)
        finally:
            close_client(client)
    with tempfile.TemporaryDirectory() as tmp:
        bench_migration(tmp, args.migrate_runs)


def bench_databroker(client) -> None:
    """databroker's legacy API on the campaign store."""
    db = open_databroker(client)
    t0 = time.perf_counter()
    table = db[-1].table()
    print(f"db[-1].table(): {time.perf_counter() - t0:.2f} s ({len(table)} rows)")
    t0 = time.perf_counter()
    found = list(db(t_nuc=250.0))
    print(f"db(t_nuc=250) (flat key, server-side): {time.perf_counter() - t0:.2f} s "
          f"({len(found)} runs)")


def bench_migration(tmp: str, n_runs: int) -> None:
    """Write runs the old way (all at the root) and time migrate_layout."""
    from bluesky_tiled_plugins import TiledWriter

    client = open_catalog(tmp)
    try:
        old = TiledWriter(
            client, batch_size=10,
            patches={"start": lambda s: {**s, "condition_bounds": condition_bounds(
                s.get("conditions"))}},
        )
        rng = np.random.default_rng(2)
        for i in range(n_runs):
            raw = list(raw_run(1, 190.0 + (i % 10) * 10, rng))
            for name, doc in [*raw, *analysis_run(raw[0][1], 1)]:
                old(name, doc)
        t0 = time.perf_counter()
        report = migrate_layout(client)
        elapsed = time.perf_counter() - t0
        print(f"migrate {2 * n_runs} old-layout runs: {elapsed:.1f} s "
              f"({2 * n_runs / elapsed:.1f} runs/s; {report.summary()})")
    finally:
        close_client(client)


if __name__ == "__main__":
    main()
