"""A queued plan whose runs did not reach the store does not look like a clean success.

bluesky-queueserver records a plan that returns as ``completed`` with an empty message;
the only message a history item carries is that of a plan that raised (``exit_status``
``failed``, ``msg`` "Plan failed: …"). :func:`storage_checked` is a RunEngine
preprocessor (``RE.preprocessors``, bluesky's public hook) installed by the queue
server's startup: after the plan, once the writer is idle, it raises
:class:`StorageIncomplete` when documents of the plan's runs were kept in the local
backup instead of the store. The item's result then says, e.g. ``Plan failed: 12
documents of 2 run(s) kept in the local backup; run `msc-bluesky replay --data-dir
D --tiled-uri U```. The runs themselves are complete and closed; nothing is lost, and
the queue stops (as after any failure) until a person has looked at the store.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from bluesky.utils import Msg

#: Seconds to wait for the writer to be idle before looking at what it kept.
FLUSH_TIMEOUT_S: float = 60.0


class StorageIncomplete(RuntimeError):
    """Documents of the plan's runs are only in the local backup (replay loads them)."""


def replay_hint(config: Any) -> str:
    """The ``msc-bluesky replay`` command for a session's configuration."""
    where = f" --data-dir {config.data_dir}"
    if getattr(config, "tiled_uri", None):
        where += f" --tiled-uri {config.tiled_uri}"
    return f"run `msc-bluesky replay{where}`"


def kept_since(writer: Any, known: set[str]) -> tuple[int, int]:
    """(documents, runs) the writer kept in the backup for runs not in ``known``."""
    runs = [uid for uid in writer.status.backed_up if uid not in known]
    return sum(writer.status.documents_kept.get(uid, 0) for uid in runs), len(runs)


def storage_checked(
    writer: Any, config: Any, *, timeout: float = FLUSH_TIMEOUT_S
) -> Callable[[Generator[Msg, Any, Any]], Generator[Msg, Any, Any]]:
    """A RunEngine preprocessor: the plan fails when its runs went to the backup.

    Parameters
    ----------
    writer : JournaledWriter
        The session's writer (its ``status`` names the runs kept in the backup).
    config : SessionConfig
        Names the data directory and tiled server in the replay command.
    timeout : float
        Seconds to wait for the writer to finish the plan's documents.

    Returns
    -------
    callable
        ``plan -> plan``, for ``RE.preprocessors.append``.
    """

    def preprocessor(plan: Generator[Msg, Any, Any]) -> Generator[Msg, Any, Any]:
        known = set(writer.status.backed_up)
        result = yield from plan
        drained = writer.flush(timeout)
        documents, runs = kept_since(writer, known)
        if documents:
            raise StorageIncomplete(
                f"{documents} document{'s' if documents != 1 else ''} of {runs} run(s) kept "
                f"in the local backup, not in the store; {replay_hint(config)}"
            )
        if not drained:
            raise StorageIncomplete(
                f"the store did not take the plan's documents within {timeout:g} s; they "
                f"are in the local backup; {replay_hint(config)}"
            )
        return result

    return preprocessor
