"""Load journals from the backup directory into tiled, once.

For each journal not held by a live writer:

- the run is already complete in tiled (its start uid exists and has a stop document):
  nothing is written, the journal is marked replayed;
- the run exists but is incomplete (the outage came mid-run): the partial run is deleted
  and written again from the journal, which holds every document;
- the run is absent: it is written.

A journal whose run never stopped (the writing process crashed) gets a stop document
with ``exit_status="fail"`` and a reason saying so. Replayed journals move to
``<backup_dir>/replayed/`` so that a second replay adds nothing.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .backup import REPLAYED_SUBDIR, locked_if_idle, pending_journals, read_journal
from .layout import container_for
from .stored_tables import ScalarTables, keep_copies_of
from .writer import DEFAULT_RETRY_DELAYS_S, is_transient, make_tiled_writer

logger = logging.getLogger(__name__)

#: Events per tiled write during replay (nothing is live, so larger batches are fine).
REPLAY_BATCH_SIZE = 500


@dataclass
class ReplayReport:
    """Outcome of :func:`replay_backups`.

    Attributes
    ----------
    replayed : list of str
        Start uids written to tiled.
    already_stored : list of str
        Start uids that were complete in tiled already (nothing written).
    in_use : list of Path
        Journals a live writer still holds (left alone).
    failed : dict
        Journal path -> error message (left for the next replay).
    """

    replayed: list[str] = field(default_factory=list)
    already_stored: list[str] = field(default_factory=list)
    in_use: list[Path] = field(default_factory=list)
    failed: dict[Path, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for people."""
        return (
            f"replayed {len(self.replayed)} run(s), {len(self.already_stored)} already in "
            f"tiled, {len(self.in_use)} in use, {len(self.failed)} failed"
        )


def _recovered_stop(docs: list[tuple[str, dict]]) -> dict:
    start = docs[0][1]
    stream_of = {d["uid"]: d.get("name", "primary") for n, d in docs if n == "descriptor"}
    counts: Counter = Counter()
    for name, doc in docs:
        if name == "event":
            counts[stream_of.get(doc["descriptor"], "primary")] += 1
        elif name == "event_page":
            counts[stream_of.get(doc["descriptor"], "primary")] += len(doc["seq_num"])
    return {
        "uid": str(uuid.uuid4()),
        "run_start": start["uid"],
        "time": max(float(d.get("time", 0.0)) for _, d in docs),
        "exit_status": "fail",
        "reason": "recovered from the local backup: the run ended without a stop document",
        "num_events": dict(counts),
    }


def _stored_state(client, uid: str) -> str:
    """'absent', 'partial' or 'complete'."""
    try:
        node = client[uid]
    except KeyError:
        return "absent"
    return "complete" if node.metadata.get("stop") else "partial"


def replay_journal(client, path: str | Path, *, batch_size: int = REPLAY_BATCH_SIZE,
                   tables: ScalarTables | None = None) -> str:
    """Load one journal into tiled.

    Parameters
    ----------
    client : tiled client
        Writable catalog of runs.
    path : str or Path
        The journal.
    batch_size : int
        Events per tiled write.
    tables : ScalarTables, optional
        Collects the runs' scalar tables; a replayed linked analysis run gets copies
        of its own and (when replayed before it with the same collector) its raw run's
        table (:mod:`.stored_tables`).

    Returns
    -------
    str
        ``"replayed"`` or ``"already_stored"``.
    """
    docs = read_journal(path)
    uid = docs[0][1]["uid"]
    container = container_for(client, docs[0][1])  # raw or analysis (layout.py)
    state = _stored_state(container, uid)
    if state == "complete":
        return "already_stored"
    if state == "partial":
        logger.info("run %s is incomplete in tiled: rewriting it from the journal", uid)
        container.delete_contents(uid, recursive=True, external_only=False)
    if docs[-1][0] != "stop":
        docs.append(("stop", _recovered_stop(docs)))
    writer = make_tiled_writer(client, batch_size)
    for name, doc in docs:
        writer(name, doc)
    if tables is not None:  # copies of the scalar tables for campaign_table
        for name, doc in docs:
            tables(name, doc)
        keep_copies_of(client, tables, uid)
    return "replayed"


def _replay_with_retries(client, path: Path, *, batch_size: int, tables: ScalarTables,
                         retry_delays: tuple[float, ...]) -> str:
    """:func:`replay_journal`, again after a transient error (a reset connection, 5xx).

    Safe to repeat: each attempt first asks tiled what it holds of the run (complete:
    nothing to do; partial: rewritten from the journal).
    """
    for delay in retry_delays:
        try:
            return replay_journal(client, path, batch_size=batch_size, tables=tables)
        except Exception as err:
            if not is_transient(err):
                raise
            logger.warning("replay of %s: storage error (%s: %s); retrying in %g s",
                           path, type(err).__name__, err, delay)
            time.sleep(delay)
    return replay_journal(client, path, batch_size=batch_size, tables=tables)


def replay_backups(
    client,
    backup_dir: str | Path,
    *,
    batch_size: int = REPLAY_BATCH_SIZE,
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS_S,
) -> ReplayReport:
    """Load every pending journal of a backup directory into tiled.

    A journal whose replay meets a transient error (connection reset, timeout, HTTP
    5xx, "database is locked") is replayed again after each of ``retry_delays``; it is
    reported as failed, and kept, only when the last attempt fails too.

    Parameters
    ----------
    client : tiled client
        Writable catalog of runs.
    backup_dir : str or Path
        Directory of journals (``<data_dir>/backup``).
    batch_size : int
        Events per tiled write.
    retry_delays : sequence of float
        Pauses (s) before each new attempt at a journal; ``()`` disables retries.

    Returns
    -------
    ReplayReport
    """
    report = ReplayReport()
    tables = ScalarTables(batch_size)
    done_dir = Path(backup_dir) / REPLAYED_SUBDIR
    for path in pending_journals(backup_dir):
        with locked_if_idle(path) as idle:
            if not idle:
                report.in_use.append(path)
                continue
            try:
                outcome = _replay_with_retries(
                    client, path, batch_size=batch_size, tables=tables,
                    retry_delays=tuple(float(d) for d in retry_delays),
                )
            except Exception as err:
                logger.exception("replay of %s failed", path)
                report.failed[path] = f"{type(err).__name__}: {err}"
                continue
            done_dir.mkdir(parents=True, exist_ok=True)
            path.replace(done_dir / path.name)
        uid = path.stem
        (report.replayed if outcome == "replayed" else report.already_stored).append(uid)
    return report
