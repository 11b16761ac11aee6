"""Storage: the tiled catalog, the journalled writer, backup/replay, serving, browsing.

Modules (docs/storage.md):

- :mod:`.catalog`    data directory layout, embedded catalog (:func:`open_catalog`),
                     server clients (:func:`connect`), :func:`open_databroker`
- :mod:`.writer`     :class:`JournaledWriter`: tiled writes with a local journal
- :mod:`.backup`     per-run JSON-lines journals
- :mod:`.replay`     :func:`replay_backups`
- :mod:`.copy_store` :func:`copy_store` (data directory -> server, each run once)
- :mod:`.verify`     :func:`missing_documents` (durability checks)
- :mod:`.server`     the ``msc-bluesky serve`` application
- :mod:`.browse`     :func:`find_runs`, :func:`run_arrays`, :func:`campaign_table`
- :mod:`.conditions` flat searchable condition keys added to start documents
- :mod:`.layout`     ``raw`` and ``analysis`` containers, :func:`find_run`
- :mod:`.migrate`    :func:`migrate_layout` (old layout -> containers)
- :mod:`.profile`    the tiled profile ``msc``
- :mod:`.databroker` ``db`` for a session

Nothing here imports tiled at package import time.
"""
