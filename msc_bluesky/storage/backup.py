"""Per-run JSON-lines journals: the local backup of every document.

Every document of a run is appended to ``<backup_dir>/<start uid>.jsonl`` as it arrives
(one ``{"name": ..., "doc": ...}`` object per line, flushed at once), before tiled sees
it. While a run is being written its journal holds an exclusive ``flock``; the lock goes
away with the writing process, so a journal left by a crash is recognised as unlocked.
A journal is removed once its run is completely in tiled; otherwise it stays for
``msc-bluesky replay``, which moves replayed journals to ``<backup_dir>/replayed/``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Subdirectory of the backup directory that receives replayed journals.
REPLAYED_SUBDIR = "replayed"
#: Subdirectory that receives journals of stored runs when they are kept.
STORED_SUBDIR = "stored"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def encode_document(name: str, doc: dict) -> str:
    """One journal line (without newline) for a document.

    Parameters
    ----------
    name : str
        Document name (``start``, ``descriptor``, ``event``, ...).
    doc : dict
        The document; numpy values become lists / Python scalars.

    Returns
    -------
    str
    """
    return json.dumps({"name": name, "doc": doc}, default=_json_default, allow_nan=True)


class RunJournal:
    """The append-only, locked journal of one run.

    Parameters
    ----------
    backup_dir : str or Path
        Directory of journals (created if missing).
    start_uid : str
        The run's start document uid; the file is ``<start_uid>.jsonl``.
    """

    def __init__(self, backup_dir: str | Path, start_uid: str) -> None:
        self.directory = Path(backup_dir)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / f"{start_uid}.jsonl"
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - held open
        fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def write(self, name: str, doc: dict) -> None:
        """Append one document and flush it to the operating system."""
        self._file.write(encode_document(name, doc) + "\n")
        self._file.flush()

    @property
    def closed(self) -> bool:
        """Whether the journal has been closed."""
        return self._file.closed

    def close(self) -> None:
        """Sync to disk, release the lock and close; the file stays (pending replay)."""
        if self._file.closed:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._file.close()

    def discard(self, keep_in: str | Path | None = None) -> None:
        """Close and remove the journal (run stored), or move it to ``keep_in``."""
        self.close()
        if keep_in is None:
            self.path.unlink(missing_ok=True)
        else:
            Path(keep_in).mkdir(parents=True, exist_ok=True)
            self.path.replace(Path(keep_in) / self.path.name)


def pending_journals(backup_dir: str | Path) -> list[Path]:
    """Journals in ``backup_dir`` awaiting replay, oldest first.

    Parameters
    ----------
    backup_dir : str or Path

    Returns
    -------
    list of Path
    """
    directory = Path(backup_dir)
    if not directory.is_dir():
        return []
    return sorted(directory.glob("*.jsonl"), key=lambda p: (p.stat().st_mtime, p.name))


@contextmanager
def locked_if_idle(path: str | Path) -> Iterator[bool]:
    """Lock a journal unless a live writer holds it.

    Yields
    ------
    bool
        True when the lock was taken (no process is writing the run), False when the
        journal is in use.
    """
    with open(path, "a", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def read_journal(path: str | Path, limit: int | None = None) -> list[tuple[str, dict]]:
    """The documents of a journal, in order.

    A last line cut short by a crash is dropped with a warning; a damaged line elsewhere
    is an error.

    Parameters
    ----------
    path : str or Path
    limit : int, optional
        Read only the first ``limit`` documents (a journal still being written).

    Returns
    -------
    list of (name, doc)
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    docs: list[tuple[str, dict]] = []
    for number, line in enumerate(lines, start=1):
        if limit is not None and len(docs) >= limit:
            break
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            if number == len(lines):
                logger.warning("%s: dropping the incomplete last line %d", path, number)
                break
            raise ValueError(f"{path}: line {number} is not valid JSON ({err})") from err
        docs.append((item["name"], item["doc"]))
    if not docs or docs[0][0] != "start":
        raise ValueError(f"{path}: a journal must begin with a start document")
    return docs
