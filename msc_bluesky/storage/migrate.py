"""Move the runs of an old-layout store into the ``raw`` and ``analysis`` containers.

Stores written before :mod:`.layout` hold every run at the root. :func:`migrate_layout`
rewrites each such run, document by document, into its container (raw runs to ``raw``,
analysis runs to ``analysis``; the writer's start patch adds the flat condition keys)
and only then deletes the old copy. A run already complete in its container (an earlier
migration interrupted before the delete) is not written twice. Readers find runs in both
places meanwhile, so a store can be used during and after an interrupted migration.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .documents import stored_documents
from .layout import _child, as_run_catalog, container_for, is_run_catalog, run_kind
from .writer import make_tiled_writer

logger = logging.getLogger(__name__)

#: Events per tiled write while migrating (nothing is live, so larger batches are fine).
MIGRATE_BATCH_SIZE = 50


@dataclass
class MigrationReport:
    """What :func:`migrate_layout` did.

    Attributes
    ----------
    moved : dict
        Start uid -> ``"raw"`` or ``"analysis"``, for every run moved.
    failed : dict
        Start uid -> error, for runs left at the root.
    """

    moved: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the command line."""
        kinds = list(self.moved.values())
        return (
            f"migrated {len(kinds)} runs to the new layout ({kinds.count('raw')} raw, "
            f"{kinds.count('analysis')} analysis), {len(self.failed)} failed"
        )


def migrate_layout(root, *, batch_size: int = MIGRATE_BATCH_SIZE) -> MigrationReport:
    """Move every run stored at the root into the ``raw`` or ``analysis`` container.

    Parameters
    ----------
    root : tiled client
        Writable root of the store.
    batch_size : int
        Events per tiled write.

    Returns
    -------
    MigrationReport

    Raises
    ------
    ValueError
        If ``root`` is a catalog of runs rather than the root of a store.
    """
    if is_run_catalog(root):
        raise ValueError(
            "this client is a catalog of runs, not the root of an msc_bluesky store; "
            "open the store's root (data directory or server URI without a path)"
        )
    report = MigrationReport()
    old_root = as_run_catalog(root)
    keys = [k for k in root.keys() if k not in ("raw", "analysis")]
    for key in keys:
        node = _child(old_root, key)
        start = (getattr(node, "metadata", None) or {}).get("start")
        if not start:
            logger.info("root entry %r is not a bluesky run: left alone", key)
            continue
        kind = run_kind(start)
        target = container_for(root, start)
        try:
            existing = _child(target, start["uid"])
            if existing is not None and not existing.metadata.get("stop"):
                target.delete_contents(start["uid"], recursive=True, external_only=False)
                existing = None
            if existing is None:
                writer = make_tiled_writer(root, batch_size)
                for name, doc in stored_documents(node):
                    writer(name, doc)
            root.delete_contents(key, recursive=True, external_only=False)
        except Exception as err:  # keep the old copy; report and go on
            logger.exception("migration of run %s failed", key)
            report.failed[key] = f"{type(err).__name__}: {err}"
            continue
        report.moved[start["uid"]] = kind
    return report
