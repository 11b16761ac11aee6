"""Copy the runs of one store into another (embedded data directory -> tiled server).

:func:`copy_store` reads every run of the source (its ``raw`` and ``analysis``
containers, and runs of the old layout at its root), document by document, and writes
it into the same container of the target with the package's writer (flat condition
keys, arrays as zarr). It is idempotent, keyed on the run's start uid:

- a run complete in the target (start uid present with a stop document) is skipped;
- a run present but incomplete there (an earlier copy was interrupted) is deleted and
  written again;
- a run absent there is written.

So running it twice, or again after an interruption, writes each run once. A source
run that never stopped (a crashed session) is copied as it is, and skipped the next
time when the target already holds it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .documents import stored_documents
from .layout import (
    CONTAINERS,
    _child,
    container_for,
    count_legacy_runs,
    is_run_catalog,
    run_kind,
    sources,
)
from .stored_tables import TABLES_KEY, keep_tables_quietly
from .writer import make_tiled_writer

logger = logging.getLogger(__name__)

#: Events per tiled write while copying (nothing is live, so larger batches are fine).
COPY_BATCH_SIZE = 50


@dataclass
class CopyReport:
    """What :func:`copy_store` did.

    Attributes
    ----------
    copied : dict
        Start uid -> ``"raw"`` or ``"analysis"``, for runs written to the target.
    already_stored : list of str
        Start uids the target already held (nothing written).
    rewritten : list of str
        Start uids that were incomplete in the target and were written again (also in
        ``copied``).
    failed : dict
        Start uid -> error, for runs not copied (the next copy tries them again).
    documents : int
        Documents written to the target.
    """

    copied: dict[str, str] = field(default_factory=dict)
    already_stored: list[str] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    documents: int = 0

    def summary(self) -> str:
        """One line for the command line."""
        kinds = list(self.copied.values())
        return (
            f"copied {len(kinds)} runs ({kinds.count('raw')} raw, "
            f"{kinds.count('analysis')} analysis; {self.documents} documents), "
            f"{len(self.already_stored)} already in the target, {len(self.failed)} failed"
        )


def source_runs(source) -> Iterator[tuple[str, Any]]:
    """``(kind, run)`` for every run of a store, raw runs first, each uid once.

    Parameters
    ----------
    source : tiled client
        The store's root (or a catalog of runs).
    """
    seen: set[str] = set()
    for kind in CONTAINERS:
        for container, mixed in sources(source, kind).all():
            for key in list(container.keys()):
                if mixed and key in CONTAINERS:
                    continue
                run = _child(container, key)
                start = (getattr(run, "metadata", None) or {}).get("start")
                if not start:
                    logger.info("entry %r is not a bluesky run: not copied", key)
                    continue
                if (mixed and run_kind(start) != kind) or start["uid"] in seen:
                    continue
                seen.add(start["uid"])
                yield kind, run


def count_runs(source) -> int:
    """Runs in a store: its ``raw`` and ``analysis`` containers and old-layout runs."""
    if is_run_catalog(source):
        return len(source)
    present = [c for name in CONTAINERS if (c := _child(source, name)) is not None]
    return sum(len(c) for c in present) + count_legacy_runs(source)


def copy_run(target, run, *, batch_size: int = COPY_BATCH_SIZE) -> tuple[str, int]:
    """Copy one run into the target unless it is already there.

    Parameters
    ----------
    target : tiled client
        Writable root of the target store.
    run : BlueskyRun client
        The source run.
    batch_size : int
        Events per tiled write.

    Returns
    -------
    (str, int)
        ``"copied"``, ``"rewritten"`` or ``"already_stored"``, and documents written.
    """
    start = run.metadata["start"]
    uid = start["uid"]
    container = container_for(target, start)
    existing = _child(container, uid)
    outcome = "copied"
    if existing is not None:
        if existing.metadata.get("stop") or not run.metadata.get("stop"):
            return "already_stored", 0
        logger.info("run %s is incomplete in the target: writing it again", uid)
        container.delete_contents(uid, recursive=True, external_only=False)
        outcome = "rewritten"
    writer = make_tiled_writer(target, batch_size)
    n = 0
    for name, doc in stored_documents(run):
        writer(name, doc)
        n += 1
    copies = run.metadata.get(TABLES_KEY)
    if copies:  # the same start and stop documents: the copies still describe the runs
        keep_tables_quietly(target, start, copies)
    return outcome, n


def copy_store(
    source,
    target,
    *,
    batch_size: int = COPY_BATCH_SIZE,
    progress: Callable[[str, str], None] | None = None,
) -> CopyReport:
    """Copy every run of ``source`` into ``target``, each start uid once.

    Parameters
    ----------
    source : tiled client
        Root of the store to copy (e.g. :func:`.catalog.open_catalog` on a data
        directory).
    target : tiled client
        Writable root of the target store (e.g. :func:`.catalog.connect` to a server).
    batch_size : int
        Events per tiled write.
    progress : callable, optional
        Called as ``progress(uid, outcome)`` after each run (``"copied"``,
        ``"rewritten"``, ``"already_stored"`` or ``"failed"``).

    Returns
    -------
    CopyReport
    """
    report = CopyReport()
    for kind, run in source_runs(source):
        uid = run.metadata["start"]["uid"]
        try:
            outcome, n = copy_run(target, run, batch_size=batch_size)
        except Exception as err:  # report it, go on with the other runs
            logger.exception("copy of run %s failed", uid)
            report.failed[uid] = f"{type(err).__name__}: {err}"
            outcome = "failed"
        else:
            report.documents += n
            if outcome == "already_stored":
                report.already_stored.append(uid)
            else:
                report.copied[uid] = kind
                if outcome == "rewritten":
                    report.rewritten.append(uid)
        if progress is not None:
            progress(uid, outcome)
    return report
