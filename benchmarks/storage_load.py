"""Load and durability of a served store (``bench_storage.py --catalog-uri`` / ``--load``).

For one backend (SQLite catalog in the data directory, or a PostgreSQL database) this

1. starts ``msc-bluesky serve`` as its own process;
2. preloads ``--preload`` runs (half raw, half linked analysis runs of earlier
   campaigns: start and stop documents, no event data) with parallel requests;
3. streams a campaign — for each condition a raw run (one event: a 1000-point
   spectrum, a 300-point I(q)) and its linked analysis run, as a campaign makes them —
   through :class:`JournaledWriter` as fast as the server takes it, while ``--readers``
   reader threads (in a separate process) poll that campaign's :func:`campaign_table`,
   each waiting ``--poll-interval`` seconds between polls (0: back to back);
4. times the finished campaign's table alone (the "campaign-table query" at
   ``--preload`` + stored runs);
5. streams more runs, SIGKILLs the server mid-write, restarts it on the same data, and
   counts the documents the server had acknowledged (its answer reached the writer)
   that are missing; then replays the writer's backup and counts what is still missing.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from event_model import compose_run

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
}


#: Conditions streamed in the SIGKILL phase (the server dies after ``kill_after`` documents).
KILL_CONDITIONS = 4

# -- documents ------------------------------------------------------------------------


def condition_runs(campaign_id: str, index: int, rng: np.random.Generator):
    """Documents of one condition: a raw run with one event, then its analysis run."""
    condition = {"t_nuc": 250.0 + index % 7 * 10, "t_growth": 230.0, "reaction_time": 14.0}
    md = {"plan_name": "condition_scan", "conditions": [condition], "campaign_id": campaign_id}
    raw = compose_run(metadata=md)
    yield "start", raw.start_doc
    desc = raw.compose_descriptor(name="primary", data_keys=RAW_KEYS)
    yield "descriptor", desc.descriptor_doc
    data = {
        "reactor_t_nuc": condition["t_nuc"],
        "reactor_t_growth": condition["t_growth"],
        "reactor_reaction_time": condition["reaction_time"],
        "uvvis_absorbance": rng.random(1000).tolist(),
        "saxs_intensity": rng.random(300).tolist(),
    }
    yield "event", desc.compose_event(data=data, timestamps=dict.fromkeys(data, time.time()),
                                      seq_num=1)
    yield "stop", raw.compose_stop()
    fit = compose_run(metadata={
        "plan_name": "msc_analysis", "raw_uid": raw.start_doc["uid"],
        "conditions": [condition], "campaign_id": campaign_id,
    })  # fmt: skip
    yield "start", fit.start_doc
    desc = fit.compose_descriptor(name="primary", data_keys=FIT_KEYS)
    yield "descriptor", desc.descriptor_doc
    fields = {"raw_seq_num": 1, "phase": "MSC+NC", "nc_peak_nm": 520.0 + index}
    yield "event", desc.compose_event(data=fields, timestamps=dict.fromkeys(fields, time.time()),
                                      seq_num=1)
    yield "stop", fit.compose_stop()


# -- the server -----------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``msc-bluesky serve`` on loopback; ``kill()`` is SIGKILL, ``stop()`` SIGTERM."""

    def __init__(self, data_dir: Path, key: str, catalog_uri: str | None, port: int = 0):
        import httpx

        self.port = port or _free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "msc_bluesky.cli", "serve", "--data-dir", str(data_dir),
               "--port", str(self.port), "--api-key", key, "--no-profile"]
        if catalog_uri:
            cmd += ["--catalog-uri", catalog_uri]
        self.log = open(data_dir.parent / f"serve-{self.port}.log", "a")  # noqa: SIM115
        self.process = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"tiled server exited; see {self.log.name}")
            try:
                if httpx.get(f"{self.uri}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"tiled server did not start; see {self.log.name}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        """SIGTERM and wait."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


# -- preload --------------------------------------------------------------------------


def preload(client, n_runs: int, workers: int = 8) -> float:
    """Create ``n_runs`` runs (start + stop metadata) with parallel requests; seconds."""
    from tiled.structures.core import Spec

    from msc_bluesky.storage.conditions import add_condition_bounds

    raw, analysis = client["raw"], client["analysis"]
    spec = [Spec("BlueskyRun", version="3.0")]

    def one(i: int) -> None:
        campaign = f"earlier{i // 100:03d}"
        condition = {"t_nuc": 250.0 + i % 7 * 10, "t_growth": 230.0, "reaction_time": 14.0}
        uid = str(uuid.uuid4())
        start = add_condition_bounds({"uid": uid, "time": time.time(), "scan_id": i,
                                      "plan_name": "condition_scan", "conditions": [condition],
                                      "campaign_id": campaign})  # fmt: skip
        stop = {"uid": str(uuid.uuid4()), "run_start": uid, "time": time.time(),
                "exit_status": "success", "num_events": {"primary": 1}}  # fmt: skip
        raw.create_container(key=uid, metadata={"start": start, "stop": stop}, specs=spec)
        fit_uid = str(uuid.uuid4())
        fit = {**start, "uid": fit_uid, "plan_name": "msc_analysis", "raw_uid": uid}
        fit_stop = {**stop, "uid": str(uuid.uuid4()), "run_start": fit_uid}
        analysis.create_container(key=fit_uid, metadata={"start": fit, "stop": fit_stop},
                                  specs=spec)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(n_runs // 2)))
    return time.perf_counter() - t0


# -- readers (a separate process, one thread each) --------------------------------------


def _reader_process(uri, key, campaign_id, n_threads, interval, stop, results) -> None:
    from msc_bluesky.storage.browse import campaign_table
    from msc_bluesky.storage.catalog import connect

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def poll() -> None:
        client = connect(uri, api_key=key)
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                campaign_table(client, md={"campaign_id": campaign_id})
            except Exception as err:
                with lock:
                    errors.append(f"{type(err).__name__}: {err}")
            else:
                with lock:
                    latencies.append(time.perf_counter() - t0)
            stop.wait(interval)  # a dashboard refreshing every `interval` seconds

    threads = [threading.Thread(target=poll) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put((latencies, errors))


# -- writing with acknowledgements --------------------------------------------------------


@contextlib.contextmanager
def acknowledgements():
    """Record every document whose tiled write returned (the server answered).

    The journalled writer sends each document through ``make_tiled_writer``'s callback
    (batch size 1: one write per document); the wrapper only records.
    """
    from msc_bluesky.storage import writer as writer_module

    acked: list[tuple[str, dict]] = []
    real = writer_module.make_tiled_writer

    def recording(client, batch_size=1, **options):
        inner = real(client, batch_size, **options)

        def write(name, doc):
            inner(name, doc)
            acked.append((name, doc))

        return write

    writer_module.make_tiled_writer = recording
    try:
        yield acked
    finally:
        writer_module.make_tiled_writer = real


class _Counter(logging.Handler):
    """Counts warnings (retried writes) and errors that libraries log, and keeps the first."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count, self.first = 0, ""

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        self.first = self.first or record.getMessage()[:300]


@contextlib.contextmanager
def counted_warnings(*names: str):
    """Count (instead of print) WARNING+ records of the named loggers."""
    counter = _Counter()
    loggers = [logging.getLogger(n) for n in names]
    saved = [lg.propagate for lg in loggers]
    for lg in loggers:
        lg.addHandler(counter)
        lg.propagate = False
    try:
        yield counter
    finally:
        for lg, propagate in zip(loggers, saved, strict=True):
            lg.removeHandler(counter)
            lg.propagate = propagate


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run_backend(label: str, catalog_uri: str | None, *, preload_runs: int, conditions: int,
                readers: int, interval: float = 1.0, kill_after: int = 12) -> dict:
    """Every measurement for one backend; returns the figures."""
    import tiled.client.utils as tiled_client_utils

    from msc_bluesky.storage.browse import campaign_table
    from msc_bluesky.storage.catalog import close_client, connect
    from msc_bluesky.storage.replay import replay_backups
    from msc_bluesky.storage.server import generate_api_key
    from msc_bluesky.storage.verify import missing_documents
    from msc_bluesky.storage.writer import JournaledWriter

    out: dict = {"backend": label}
    key = generate_api_key()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "served"
        t0 = time.perf_counter()
        server = Server(data_dir, key, catalog_uri)
        out["server_start_s"] = time.perf_counter() - t0
        client = connect(server.uri, api_key=key)
        try:
            out["preload_s"] = preload(client, preload_runs)
            out["stored_runs"] = len(client["raw"]) + len(client["analysis"])
            campaign_id = uuid.uuid4().hex[:12]
            ctx = multiprocessing.get_context("spawn")
            stop, results = ctx.Event(), ctx.Queue()
            reader = ctx.Process(target=_reader_process,
                                 args=(server.uri, key, campaign_id, readers, interval, stop,
                                       results))
            reader.start()
            with counted_warnings("bluesky_tiled_plugins", "msc_bluesky.storage.writer",
                                  "tiled") as retried:
                writer = JournaledWriter(client, Path(tmp) / "backup")
                rng = np.random.default_rng(0)
                n_docs = 0
                t0 = time.perf_counter()
                for i in range(conditions):
                    for name, doc in condition_runs(campaign_id, i, rng):
                        writer(name, doc)
                        n_docs += 1
                drained = writer.close(600)
                elapsed = time.perf_counter() - t0
            out["write_retries"] = retried.count + writer.status.retries
            out["first_retry"] = retried.first
            stop.set()
            latencies, errors = results.get(timeout=600)
            reader.join(60)
            out.update(
                write_s=elapsed, runs_written=2 * conditions, docs_written=n_docs,
                docs_per_s=n_docs / elapsed, runs_per_s=2 * conditions / elapsed,
                write_errors=len(writer.status.backed_up) + (0 if drained else 1),
                polls=len(latencies), read_errors=len(errors),
                read_p50_ms=1e3 * _percentile(latencies, 50),
                read_p99_ms=1e3 * _percentile(latencies, 99),
                first_read_error=errors[0] if errors else "",
            )
            out["stored_runs"] = len(client["raw"]) + len(client["analysis"])
            log = Path(server.log.name).read_text(errors="replace")
            out["server_errors"] = log.count("Exception in ASGI application")
            out["server_locked"] = log.count("OperationalError: database is locked")
            quiet = []
            for _ in range(20):
                t0 = time.perf_counter()
                table = campaign_table(client, md={"campaign_id": campaign_id})
                quiet.append(time.perf_counter() - t0)
            out["table_rows"] = len(table)
            out["table_p50_ms"] = 1e3 * _percentile(quiet, 50)
            out["table_p99_ms"] = 1e3 * _percentile(quiet, 99)
        finally:
            close_client(client)

        # -- SIGKILL mid-write ------------------------------------------------------------
        saved = tiled_client_utils.TILED_RETRY_TIMEOUT, tiled_client_utils.TILED_RETRY_ATTEMPTS
        tiled_client_utils.TILED_RETRY_TIMEOUT, tiled_client_utils.TILED_RETRY_ATTEMPTS = 2.0, 2
        client = connect(server.uri, api_key=key)
        backup = Path(tmp) / "backup-kill"
        all_docs: list[tuple[str, dict]] = []
        try:
            with acknowledgements() as acked, counted_warnings(
                "bluesky_tiled_plugins", "msc_bluesky.storage.writer", "tiled"
            ):  # the failures the kill causes are expected: counted, not printed
                writer = JournaledWriter(client, backup)

                def kill_mid_write() -> None:  # as soon as kill_after documents are stored
                    while len(acked) < kill_after and writer.flush(0.0) is False:
                        time.sleep(0.005)
                    server.kill()

                killer = threading.Thread(target=kill_mid_write)
                rng = np.random.default_rng(1)
                for i in range(KILL_CONDITIONS):
                    for name, doc in condition_runs("killed", i, rng):
                        writer(name, doc)
                        all_docs.append((name, doc))
                    if i == 0:
                        killer.start()
                killer.join()
                writer.flush(600)
                acknowledged = list(acked)
            close_client(client)
            server.stop()
            again = Server(data_dir, key, catalog_uri, port=server.port)
            client = connect(again.uri, api_key=key)
            out["acknowledged"] = len(acknowledged)
            out["lost_acknowledged"] = len(missing_documents(client, acknowledged))
            writer.close(60)
            out["kept_in_backup"] = writer.status.kept
            report = replay_backups(client, backup)
            out["replay_failed"] = len(report.failed)
            out["missing_after_replay"] = len(missing_documents(client, all_docs))
            out["docs_streamed"] = len(all_docs)
            close_client(client)
            again.stop()
        finally:
            tiled_client_utils.TILED_RETRY_TIMEOUT, tiled_client_utils.TILED_RETRY_ATTEMPTS = saved
            server.stop()
    return out


def fresh_postgres(uri: str) -> None:
    """Refuse a database that already holds a tiled catalog (the figures need a new store)."""
    from msc_bluesky.storage.catalog import catalog_exists

    if catalog_exists(tempfile.gettempdir(), uri):
        raise SystemExit(
            f"bench_storage: {uri} already holds a tiled catalog; give an empty database "
            "(e.g. `createdb -h 127.0.0.1 -U postgres msc_bench`)"
        )


def empty_postgres(uri: str) -> None:
    """Drop what the benchmark created in its (previously empty) database."""
    import psycopg2

    with psycopg2.connect(uri) as conn, conn.cursor() as cur:
        cur.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    conn.close()


def print_table(rows: list[dict]) -> None:
    """Backends side by side."""
    fields = [
        ("server start (s)", "server_start_s", "{:.1f}"),
        ("preload, 8 parallel writers (s)", "preload_s", "{:.1f}"),
        ("stored runs", "stored_runs", "{}"),
        ("campaign: runs written", "runs_written", "{}"),
        ("write throughput (docs/s)", "docs_per_s", "{:.1f}"),
        ("write throughput (runs/s)", "runs_per_s", "{:.2f}"),
        ("write errors (runs kept in backup)", "write_errors", "{}"),
        ("writes retried (logged)", "write_retries", "{}"),
        ("server errors (HTTP 500)", "server_errors", "{}"),
        ("  of which 'database is locked'", "server_locked", "{}"),
        ("reader polls", "polls", "{}"),
        ("read errors", "read_errors", "{}"),
        ("read latency p50 (ms)", "read_p50_ms", "{:.0f}"),
        ("read latency p99 (ms)", "read_p99_ms", "{:.0f}"),
        ("campaign table rows", "table_rows", "{}"),
        ("campaign table p50 (ms)", "table_p50_ms", "{:.0f}"),
        ("campaign table p99 (ms)", "table_p99_ms", "{:.0f}"),
        ("kill: docs acknowledged", "acknowledged", "{}"),
        ("kill: acknowledged lost", "lost_acknowledged", "{}"),
        ("kill: docs kept in backup", "kept_in_backup", "{}"),
        ("kill: missing after replay", "missing_after_replay", "{}"),
    ]
    width = max(len(f[0]) for f in fields)
    print(f"{'':<{width}}  " + "  ".join(f"{r['backend']:>12}" for r in rows))
    for title, key, fmt in fields:
        cells = [fmt.format(r[key]) if key in r else "–" for r in rows]
        print(f"{title:<{width}}  " + "  ".join(f"{c:>12}" for c in cells))
    for r in rows:
        if r.get("first_read_error"):
            print(f"{r['backend']}: first read error: {r['first_read_error']}")
        if r.get("first_retry"):
            print(f"{r['backend']}: first retried write: {r['first_retry']}")


def main_load(catalog_uri: str | None, *, preload_runs: int, conditions: int,
              readers: int, interval: float = 1.0) -> None:
    """Run the load benchmark on SQLite (and PostgreSQL when a URI is given)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    if catalog_uri:
        fresh_postgres(catalog_uri)
    rows = []
    print(f"load: {preload_runs} preloaded runs, a campaign of {conditions} conditions "
          f"(raw + analysis run each), {readers} readers polling its campaign table "
          f"every {interval:g} s",
          flush=True)
    rows.append(run_backend("SQLite", None, preload_runs=preload_runs, conditions=conditions,
                            readers=readers, interval=interval))
    print_table(rows)
    if catalog_uri:
        try:
            rows.append(run_backend("PostgreSQL", catalog_uri, preload_runs=preload_runs,
                                    conditions=conditions, readers=readers,
                                    interval=interval))
        finally:
            empty_postgres(catalog_uri)
        print()
        print_table(rows)
