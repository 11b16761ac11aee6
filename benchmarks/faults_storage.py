"""Storage under faults: time to detect, time to safety, documents kept vs acquired.

Cases, each with real processes:

- ``tiled server killed mid-run``: ``msc-bluesky serve`` is SIGKILLed while a writer
  streams runs to it; the server is restarted and ``replay`` loads the backup.
- ``writer process killed mid-run``: the writing session itself is SIGKILLed; its
  journals are released with the process (detect: until replay may take them) and
  replayed into the embedded store (``replay_s``).
- ``two writers, one embedded store``: two processes write the same SQLite store at
  once ("database is locked" is retried, not a loss).

Columns: ``detect_s`` — fault to the writer declaring the run kept in the backup
(the writer bounds tiled's client retries to 3 s and its connect timeout to 2 s:
``storage.writer.bound_tiled_retries``); ``safe_s`` — fault to every acknowledged document being
on disk (journal or store): the journal line is written before the writer returns
(for a killed writer there is nothing after the fault to time: "–");
``docs_kept`` — documents in the store after replay;
``docs_acquired`` — documents acknowledged by the writer. Goal: kept == acquired.

    python benchmarks/faults_storage.py [--runs 4] [--events 5]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from event_model import compose_run

logger = logging.getLogger("faults_storage")

KEYS = {
    "reactor_t_nuc": {"dtype": "number", "shape": [], "source": "bench"},
    "uvvis_absorbance": {"dtype": "array", "shape": [1000], "source": "bench"},
    "saxs_intensity": {"dtype": "array", "shape": [300], "source": "bench"},
}


def run_documents(n_events: int, seed: int):
    """Documents of one raw run: start, descriptor, ``n_events`` events, stop."""
    rng = np.random.default_rng(seed)
    bundle = compose_run(metadata={"plan_name": "faults_bench", "seed": seed})
    yield "start", bundle.start_doc
    desc = bundle.compose_descriptor(name="primary", data_keys=KEYS)
    yield "descriptor", desc.descriptor_doc
    for i in range(n_events):
        data = {
            "reactor_t_nuc": 200.0 + i,
            "uvvis_absorbance": rng.random(1000).tolist(),
            "saxs_intensity": rng.random(300).tolist(),
        }
        yield "event", desc.compose_event(
            data=data, timestamps=dict.fromkeys(data, time.time()), seq_num=i + 1
        )
    yield "stop", bundle.compose_stop()


def _wait(predicate, timeout: float, what: str, interval: float = 0.05) -> float:
    """Poll until true; return the seconds it took."""
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - t0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Server:
    """``msc-bluesky serve`` on a free loopback port."""

    def __init__(self, data_dir: Path, key: str, port: int | None = None) -> None:
        import httpx

        self.port = port or _free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.log = open(data_dir / f"serve-{self.port}.log", "a")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "msc_bluesky.cli", "serve", "--data-dir", str(data_dir),
             "--port", str(self.port), "--api-key", key],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

        def healthy() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"tiled server exited with {self.process.returncode}")
            try:
                return httpx.get(f"{self.uri}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            _wait(healthy, 120, "the tiled server")
        except BaseException:
            self.stop()
            raise RuntimeError(
                f"tiled server on {self.uri} did not start:\n"
                + Path(self.log.name).read_text()[-2000:]
            ) from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self.log.close()


def _stored_documents(client, uids) -> int:
    from msc_bluesky.storage.layout import find_run

    total = 0
    for uid in uids:
        try:
            run = find_run(client, uid)  # raw/ or analysis/ (storage/layout.py)
        except KeyError:
            continue
        streams = 1 if "primary" in run else 0
        stream = run["primary"].base if streams else {}
        events = len(stream["internal"].read()) if "internal" in stream else 0
        total += 1 + streams + events + (1 if run.metadata.get("stop") else 0)
    return total


def server_killed(runs: int, events: int) -> dict:
    """SIGKILL the tiled server after the first run; restart it and replay."""
    from msc_bluesky.storage.catalog import close_client, connect
    from msc_bluesky.storage.replay import replay_backups
    from msc_bluesky.storage.server import generate_api_key
    from msc_bluesky.storage.writer import JournaledWriter

    with tempfile.TemporaryDirectory() as tmp:
        served, backup, key = Path(tmp) / "served", Path(tmp) / "backup", generate_api_key()
        served.mkdir()
        server = _Server(served, key)
        client = connect(server.uri, api_key=key)
        writer = JournaledWriter(client, backup)
        acquired, uids, killed_at, safe = 0, [], None, None
        try:
            for r in range(runs):
                for i, (name, doc) in enumerate(run_documents(events, seed=r)):
                    if r == 1 and i == 3 and killed_at is None:
                        assert writer.flush(120)
                        server.process.send_signal(signal.SIGKILL)
                        server.process.wait(30)
                        killed_at = time.monotonic()
                        logger.info("tiled server killed")
                    writer(name, doc)  # returns once the document is in the journal
                    acquired += 1
                    if killed_at is not None and safe is None:  # first document after
                        safe = time.monotonic() - killed_at
                    if name == "start":
                        uids.append(doc["uid"])
            _wait(lambda: writer.status.backed_up, 600, "the writer to keep a run in the backup")
            detect = time.monotonic() - killed_at
            writer.close(600)
            close_client(client)
        finally:
            server.stop()
        again = _Server(served, key, port=server.port)
        try:
            client = connect(again.uri, api_key=key)
            report = replay_backups(client, backup)
            assert not report.failed, report.failed
            kept = _stored_documents(client, uids)
            close_client(client)
        finally:
            again.stop()
    return {"case": "tiled server killed mid-run", "detect_s": detect, "safe_s": safe,
            "docs_kept": kept, "docs_acquired": acquired}  # fmt: skip


def _writer_main(
    data_dir: str, runs: int, events: int, seed: int, out: str, pace_s: float = 0.0
) -> int:
    """Child process: write ``runs`` runs to the embedded store; report what happened.

    ``pace_s`` is a pause after each document, as an acquisition would make.
    """
    from msc_bluesky.storage.catalog import close_client, open_catalog
    from msc_bluesky.storage.writer import JournaledWriter

    client = open_catalog(data_dir)
    writer = JournaledWriter(client, Path(data_dir) / "backup")
    acquired, uids = 0, []
    for r in range(runs):
        for name, doc in run_documents(events, seed=seed * 1000 + r):
            writer(name, doc)
            acquired += 1
            if name == "start":
                uids.append(doc["uid"])
            Path(out).with_suffix(".progress").write_text(json.dumps([acquired, uids]))
            time.sleep(pace_s)
    writer.close(600)
    close_client(client)
    Path(out).write_text(json.dumps({"acquired": acquired, "uids": uids,
                                     "backed_up": writer.status.backed_up,
                                     "retries": writer.status.retries}))  # fmt: skip
    return 0


def _child(
    data_dir: Path, runs: int, events: int, seed: int, out: Path, pace_s: float = 0.0
) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, "--child", str(data_dir), str(runs), str(events), str(seed),
         str(out), str(pace_s)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def two_writers(runs: int, events: int) -> dict:
    """Two processes write one embedded SQLite store at the same time."""
    from msc_bluesky.storage.catalog import close_client, open_catalog

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        close_client(open_catalog(data_dir))
        outs = [Path(tmp) / f"w{i}.json" for i in (1, 2)]
        procs = [_child(data_dir, runs, events, i, out) for i, out in enumerate(outs, start=1)]
        for proc in procs:
            proc.wait(900)
        results = [json.loads(out.read_text()) for out in outs]
        client = open_catalog(data_dir)
        kept = _stored_documents(client, [u for r in results for u in r["uids"]])
        close_client(client)
    return {"case": "two writers, one embedded store", "detect_s": None, "safe_s": None,
            "docs_kept": kept, "docs_acquired": sum(r["acquired"] for r in results),
            "retries": sum(r["retries"] for r in results)}  # fmt: skip


def writer_killed(runs: int, events: int) -> dict:
    """SIGKILL the writing process mid-run; replay its journals."""
    from msc_bluesky.storage.backup import locked_if_idle, pending_journals
    from msc_bluesky.storage.catalog import close_client, open_catalog
    from msc_bluesky.storage.layout import find_run
    from msc_bluesky.storage.replay import replay_backups

    with tempfile.TemporaryDirectory() as tmp:
        data_dir, out = Path(tmp) / "data", Path(tmp) / "w.json"
        close_client(open_catalog(data_dir))
        proc = _child(data_dir, runs, events, 7, out, pace_s=0.2)
        progress = out.with_suffix(".progress")

        def halfway() -> bool:
            try:
                return json.loads(progress.read_text())[0] >= (runs * (events + 3)) // 2
            except (OSError, ValueError):  # not written yet, or caught mid-write
                return False

        _wait(halfway, 600, "half of the documents")
        proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        proc.wait(30)
        acquired, uids = json.loads(progress.read_text())
        journals = pending_journals(data_dir / "backup")

        def orphaned() -> bool:  # the dead writer's locks are gone: replay may take them
            for path in journals:
                with locked_if_idle(path) as idle:
                    if not idle:
                        return False
            return True

        _wait(orphaned, 60, "the journals to be released")
        detect = time.monotonic() - killed_at
        t0 = time.monotonic()
        client = open_catalog(data_dir)
        report = replay_backups(client, data_dir / "backup")
        replay_s = time.monotonic() - t0
        assert not report.failed, report.failed
        # a run cut short gets a recovered stop document: count only what was acquired
        kept = _stored_documents(client, uids) - sum(
            1 for u in report.replayed
            if "recovered" in find_run(client, u).metadata["stop"]["reason"]
        )
        close_client(client)
    return {"case": "writer process killed mid-run", "detect_s": detect, "safe_s": None,
            "docs_kept": kept, "docs_acquired": acquired, "replay_s": replay_s}  # fmt: skip


def cases(runs: int = 4, events: int = 5) -> list[dict]:
    """Run every case; one dict per case (see the module docstring for the columns)."""
    return [server_killed(runs, events), writer_killed(runs, events), two_writers(runs, events)]


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--events", type=int, default=5)
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        d, r, e, s, o, pace = args.child
        return _writer_main(d, int(r), int(e), int(s), o, float(pace))
    rows = cases(args.runs, args.events)
    print(f"{'case':34} {'detect_s':>9} {'safe_s':>7} {'kept':>5} {'acquired':>9}")
    for row in rows:
        print(f"{row['case']:34} {_fmt(row['detect_s']):>9} {_fmt(row['safe_s']):>7} "
              f"{row['docs_kept']:>5} {row['docs_acquired']:>9}")  # fmt: skip
    for row in rows:
        extra = {k: v for k, v in row.items() if k not in ("case", "detect_s", "safe_s",
                                                           "docs_kept", "docs_acquired")}
        if extra:
            print(f"  {row['case']}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in extra.items()))
    lost = sum(r["docs_acquired"] - r["docs_kept"] for r in rows)
    print(f"documents lost: {lost}")
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.exit(main())
