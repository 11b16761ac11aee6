"""Where runs live in the store: raw runs in ``raw``, analysis runs in ``analysis``.

The root of an msc_bluesky store holds two catalogs of bluesky runs (tiled spec
``CatalogOfBlueskyRuns``)::

    /raw/<uid>         raw runs (scans): what plans measured
    /analysis/<uid>    linked analysis runs (start document has ``raw_uid``)

as facilities lay out their tiled servers, so ``c["raw"][-1]``, ``Broker.named("msc")[-1]``
(databroker looks into ``raw`` by itself) and ``db[-1]`` are the last *scan*.

Stores written before this layout hold every run directly at the root (the *old
layout*). Readers here find runs in both places; ``msc-bluesky replay --migrate``
(:func:`msc_bluesky.storage.migrate.migrate_layout`) moves old-layout runs into the
containers. A client that is itself a catalog of runs (a server URI ending in ``/raw``,
or another facility's catalog) is used as it is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

#: Container of raw runs.
RAW = "raw"
#: Container of analysis (and fit) runs.
ANALYSIS = "analysis"
#: The run kinds, one container each.
CONTAINERS: tuple[str, ...] = (RAW, ANALYSIS)
#: tiled spec of a catalog of runs (bluesky-tiled-plugins' client class).
RUN_CATALOG_SPEC = "CatalogOfBlueskyRuns"
#: ``plan_name`` of linked analysis runs.
ANALYSIS_PLAN_NAME = "msc_analysis"
#: Runs derived from raw runs, stored in ``analysis``: live analysis, kinetic fits
#: (``msc-bluesky fit-kinetics``) and exploration records (``msc-bluesky explore``).
DERIVED_PLAN_NAMES: tuple[str, ...] = (ANALYSIS_PLAN_NAME, "msc_kinetic_fit", "msc_exploration")


def run_kind(start: dict) -> str:
    """``"analysis"`` for a run derived from raw runs, else ``"raw"``.

    Derived: a linked analysis run (it has ``raw_uid``), a kinetic fit or an exploration
    record (:data:`DERIVED_PLAN_NAMES`).

    Parameters
    ----------
    start : dict
        The run's start document.

    Returns
    -------
    str
        :data:`RAW` or :data:`ANALYSIS`.
    """
    if start.get("plan_name") in DERIVED_PLAN_NAMES or "raw_uid" in start:
        return ANALYSIS
    return RAW


def _child(client, key: str):
    """``client[key]`` as a plain path lookup, or None when there is no such node."""
    from tiled.client.container import Container

    try:
        return Container.__getitem__(client, key)
    except KeyError:
        return None


def _spec_names(client) -> set[str]:
    return {getattr(spec, "name", spec) for spec in (getattr(client, "specs", None) or [])}


def is_run_catalog(client) -> bool:
    """Whether ``client`` is itself a catalog of runs (not the root of a layout)."""
    return RUN_CATALOG_SPEC in _spec_names(client)


@dataclass
class Sources:
    """The containers to look in for one kind of run.

    Attributes
    ----------
    containers : list
        Containers holding only runs of the kind (the layout's ``raw`` / ``analysis``).
    mixed : list
        Containers holding runs of every kind (the old layout's root, or a catalog of
        runs given directly): filter them by :func:`run_kind`'s rule.
    """

    containers: list[Any]
    mixed: list[Any]

    def all(self) -> list[tuple[Any, bool]]:
        """``(container, mixed)`` pairs, layout containers first."""
        return [(c, False) for c in self.containers] + [(c, True) for c in self.mixed]


def count_legacy_runs(root) -> int:
    """Runs stored at the root in the old layout (0 for a catalog of runs given directly)."""
    if is_run_catalog(root):
        return 0
    total = len(root)
    if total <= len(CONTAINERS):  # the usual case: one listing instead of a lookup each
        from itertools import islice

        return sum(1 for key in islice(root.keys(), total) if key not in CONTAINERS)
    present = sum(1 for name in CONTAINERS if _child(root, name) is not None)
    return max(total - present, 0)


def sources(client, kind: str) -> Sources:
    """Where runs of ``kind`` are stored in the store ``client``.

    Parameters
    ----------
    client : tiled client
        The store's root (``open_catalog``/``connect``), or a catalog of runs.
    kind : {"raw", "analysis"}

    Returns
    -------
    Sources
    """
    if kind not in CONTAINERS:
        raise ValueError(f"kind must be one of {CONTAINERS}, got {kind!r}")
    if is_run_catalog(client):
        return Sources(containers=[], mixed=[as_run_catalog(client)])
    child = _child(client, kind)
    containers = [as_run_catalog(child)] if child is not None else []
    mixed = [as_run_catalog(client)] if count_legacy_runs(client) else []
    return Sources(containers=containers, mixed=mixed)


def store_sources(client) -> dict[str, Sources]:
    """:func:`sources` of every kind, from one listing of the store's root.

    :func:`sources` looks the layout up for one kind (a few requests each); readers
    that search both kinds (:func:`~.browse.campaign_table`) use this instead. A root
    with runs of the old layout beside the containers is looked up as by
    :func:`sources`.

    Parameters
    ----------
    client : tiled client
        The store's root, or a catalog of runs.

    Returns
    -------
    dict
        Kind (``"raw"``, ``"analysis"``) -> :class:`Sources`.
    """
    if is_run_catalog(client):
        mixed = [as_run_catalog(client)]
        return {kind: Sources(containers=[], mixed=mixed) for kind in CONTAINERS}
    total = len(client)
    if total > len(CONTAINERS):  # runs of the old layout at the root
        return {kind: sources(client, kind) for kind in CONTAINERS}
    from itertools import islice

    children = dict(islice(client.items(), total))
    mixed = [as_run_catalog(client)] if any(k not in CONTAINERS for k in children) else []
    return {
        kind: Sources(
            containers=[as_run_catalog(children[kind])] if kind in children else [],
            mixed=mixed,
        )
        for kind in CONTAINERS
    }


def as_run_catalog(client, *, run_client: str = "v3"):
    """The same node as a catalog of runs, with a structure-client map of its own.

    Used for the root of an old-layout store (its runs then get bluesky-tiled-plugins'
    run clients, as in a ``raw`` container) and for every container searched here.
    bluesky-tiled-plugins' ``run.v2`` (which databroker's ``db[-1]`` calls) switches the
    *shared* default map to its v2 run client for the whole process; a map of our own
    keeps ``find_runs``/``run_arrays`` on the v3 client whatever else the session did.

    Parameters
    ----------
    client : tiled client
        A container.
    run_client : {"v3", "default"}
        ``"v3"``: runs are ``BlueskyRunV3``; ``"default"``: whatever the map gives
        (databroker's Broker switches it to v2 itself).
    """
    from bluesky_tiled_plugins.clients.catalog_of_bluesky_runs import CatalogOfBlueskyRuns

    clients = own_structure_clients(client.structure_clients, v3_runs=run_client == "v3")
    return CatalogOfBlueskyRuns(client.context, item=client.item, structure_clients=clients)


def own_structure_clients(source=None, *, v3_runs: bool = True):
    """A copy of a tiled structure-client map that nobody else mutates.

    Parameters
    ----------
    source : mapping, optional
        The map to copy lazily; default tiled's ``"numpy"`` map (with the entry-point
        clients of bluesky-tiled-plugins).
    v3_runs : bool
        Map the ``BlueskyRun`` spec to ``BlueskyRunV3`` (the client this package reads).

    Returns
    -------
    tiled.utils.OneShotCachedMap
    """
    from tiled.utils import OneShotCachedMap

    if source is None:
        from tiled.client.container import DEFAULT_STRUCTURE_CLIENT_DISPATCH, Container

        Container.discover_clients_from_entrypoints()
        source = DEFAULT_STRUCTURE_CLIENT_DISPATCH["numpy"]
    factories = {key: (lambda key=key: source[key]) for key in source}
    if v3_runs:
        from bluesky_tiled_plugins.clients.bluesky_run import BlueskyRunV3

        factories["BlueskyRun"] = lambda: BlueskyRunV3
    return OneShotCachedMap(factories)


def ensure_layout(root) -> dict[str, Any]:
    """Create the ``raw`` and ``analysis`` containers if missing.

    Parameters
    ----------
    root : tiled client
        Writable root of the store.

    Returns
    -------
    dict
        ``{"raw": client, "analysis": client}``.
    """
    return {name: _ensure_container(root, name) for name in CONTAINERS}


def _ensure_container(root, name: str):
    from tiled.structures.core import Spec

    child = _child(root, name)
    if child is None:
        logger.info("creating the %r container of the store", name)
        try:
            child = root.create_container(name, specs=[Spec(RUN_CATALOG_SPEC, version="3.0")])
        except Exception:
            # another writer may have created it meanwhile
            child = _child(root, name)
            if child is None:
                raise
    return child


def container_for(client, start: dict):
    """The container a run with this start document is written to.

    Parameters
    ----------
    client : tiled client
        Writable root of the store (the containers are created on first use), or a
        catalog of runs (returned unchanged).
    start : dict
        The run's start document.

    Returns
    -------
    tiled client
    """
    if is_run_catalog(client):
        return client
    return _ensure_container(client, run_kind(start))


def find_run(client, uid: str):
    """The run with start uid ``uid`` (or a unique prefix of at least 5 characters).

    Looks in ``raw``, then ``analysis``, then at the root (old layout).

    Raises
    ------
    KeyError
        If no run has that uid.
    """
    from tiled.queries import Key, Like

    places: dict[tuple, Any] = {}  # path -> container (the old-layout root only once)
    for kind in CONTAINERS:
        for container, _ in sources(client, kind).all():
            places.setdefault(tuple(container.path_parts), container)
    for place in places.values():
        node = _child(place, uid) if len(uid) == 36 else None
        if node is not None:
            return node
        if len(uid) >= 5:
            query = Key("start.uid") == uid if len(uid) == 36 else Like("start.uid", f"{uid}%")
            found = list(place.search(query).values())
            if len(found) > 1:
                raise KeyError(f"uid {uid!r} matches {len(found)} runs; give more characters")
            if found:
                return found[0]
    raise KeyError(f"no run with uid {uid!r} in the store")
