"""Measure a proposal with the existing plans and read the result back from tiled.

The explorer learns from the stored analysis runs, the same path any user's data takes:
the raw run is tagged with ``exploration_id`` and ``exploration_step``, and the linked
analysis run's fields are read back with :func:`msc_bluesky.storage.browse.campaign_table`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from msc_bluesky.explore.agent import Observation

#: Start-metadata keys that tag the raw runs of an exploration.
EXPLORATION_KEY = "exploration_id"
STEP_KEY = "exploration_step"
#: Path length (cm) assumed when the analysis does not report NC absorbance directly.
DEFAULT_PATH_LENGTH_CM = 0.1


def observation_from_row(row: Mapping[str, Any], condition: dict[str, float]) -> Observation:
    """An :class:`Observation` from one row of the campaign table (raw + analysis fields)."""
    fit_ok = bool(_true(row.get("fit_ok", False)))
    nc_abs = _number(row.get("nc_absorbance"))
    if not math.isfinite(nc_abs):
        c, eps = _number(row.get("nc_concentration_molar")), _number(
            row.get("nc_extinction_coefficient")
        )
        nc_abs = c * eps * DEFAULT_PATH_LENGTH_CM if math.isfinite(c * eps) else 0.0
    return Observation(
        condition=dict(condition),
        msc437=bool(_true(row.get("msc437_detected", False))),
        msc437_absorbance=_number(row.get("msc437_absorbance")),
        nc_absorbance=nc_abs,
        fit_ok=fit_ok,
        raw_uid=str(row.get("raw_uid") or ""),
    )


def read_observation(
    client: Any, exploration_id: str, step: int, condition: dict[str, float]
) -> Observation:
    """The stored result of one exploration step (``fit_ok=False`` when none is stored)."""
    from msc_bluesky.storage.browse import campaign_table

    table = campaign_table(client, md={EXPLORATION_KEY: exploration_id, STEP_KEY: step})
    if table.empty:
        return Observation(dict(condition), False, fit_ok=False)
    return observation_from_row(table.iloc[-1].to_dict(), condition)


def session_measure(
    session: Any,
    exploration_id: str,
    *,
    detectors: tuple[str, ...] = ("uvvis",),
    plan_kwargs: dict[str, Any] | None = None,
    storage_timeout: float = 120.0,
    md: dict[str, Any] | None = None,
) -> Callable[[dict[str, float], int, str], Observation]:
    """A ``measure`` callable that runs ``condition_scan`` through the session's RunEngine.

    Parameters
    ----------
    session : msc_bluesky.session.Session
    exploration_id : str
    detectors : tuple of str
        Session device names to read (default the UV-Vis spectrometer).
    plan_kwargs : dict, optional
        Further ``condition_scan`` options (e.g. ``residence_volumes``).
    storage_timeout : float
        Seconds to wait for the writer to store the runs before reading them back.
    md : dict, optional
        Further start metadata of every raw run.
    """
    from msc_bluesky.plans import condition_scan

    def measure(condition: dict[str, float], step: int, reason: str) -> Observation:
        run_md = {
            **(md or {}),
            EXPLORATION_KEY: exploration_id,
            STEP_KEY: step,
            "exploration_reason": reason,
        }
        dets = [getattr(session, name) for name in detectors]
        session.RE(
            condition_scan(dets, session.reactor, [condition], **(plan_kwargs or {}), md=run_md)
        )
        if not session.writer.flush(storage_timeout):
            raise RuntimeError(
                f"the store did not take the run of step {step} within {storage_timeout:g} s; "
                "it is kept in the local backup (`msc-bluesky replay`)"
            )
        return read_observation(session.client, exploration_id, step, condition)

    return measure


def _number(value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan
    return v


def _true(value: Any) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value)


class ProposalWithdrawn(Exception):
    """A queued proposal was deleted from the queue before it ran (a person rejected it)."""


def _wait_for_item(api: Any, item_uid: str, poll_s: float, timeout: float | None):
    """The history entry of a queue item once it ran; None if it left the queue unrun."""
    import threading
    import time

    pause = threading.Event()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        for item in reversed(api.history_get()["items"]):
            if item.get("item_uid") == item_uid:
                return item
        queued = {i.get("item_uid") for i in api.queue_get()["items"]}
        running = (api.queue_get().get("running_item") or {}).get("item_uid")
        if item_uid not in queued and item_uid != running:
            # not queued, not running, not (yet) in the history: look once more, then give up
            if not any(i.get("item_uid") == item_uid for i in api.history_get()["items"]):
                return None
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"queue item {item_uid} did not run within {timeout:g} s")
        pause.wait(poll_s)


def queue_measure(
    api: Any,
    client: Any,
    exploration_id: str,
    *,
    release: bool = True,
    detectors: tuple[str, ...] = ("uvvis",),
    echo: Callable[[str], None] = print,
    poll_s: float = 0.5,
    timeout: float | None = None,
    storage_timeout: float = 120.0,
) -> Callable[[dict[str, float], int, str], Observation]:
    """A ``measure`` callable that queues ``condition_scan`` on the queue server.

    Parameters
    ----------
    api : bluesky_queueserver_api REManagerAPI
        Client of the running RE Manager.
    client : tiled client
        The store the queue worker writes to (read back for the analysis).
    exploration_id : str
    release : bool
        Start the queue for every proposal (True); with False, each proposal waits in the
        queue until a person starts the queue (releases it) or deletes the item (rejects it,
        :class:`ProposalWithdrawn`).
    detectors : tuple of str
        Device names in the worker's namespace.
    timeout : float, optional
        Seconds to wait for an item to run (None: as long as it takes).
    storage_timeout : float
        Seconds to wait for the worker's analysis run to appear in the store.
    """
    from bluesky_queueserver_api import BPlan

    def measure(condition: dict[str, float], step: int, reason: str) -> Observation:
        import threading
        import time

        md = {EXPLORATION_KEY: exploration_id, STEP_KEY: step, "exploration_reason": reason}
        plan = BPlan("condition_scan", list(detectors), "reactor", [condition], md=md)
        try:
            uid = api.item_add(plan)["item"]["item_uid"]
        except api.RequestFailedError as err:
            raise RuntimeError(f"the queue server refused the proposal: {err}") from None
        if release:
            status = api.status()
            if not status.get("worker_environment_exists"):
                api.environment_open()
                api.wait_for_idle(timeout=300)
            if api.status().get("manager_state") == "idle":
                api.queue_start()
        else:
            echo(f"proposal queued as item {uid}: start the queue to release it, or delete "
                 "the item to reject it")
        item = _wait_for_item(api, uid, poll_s, timeout)
        if item is None:
            raise ProposalWithdrawn(f"queue item {uid} was deleted before it ran")
        result = item.get("result") or {}
        if result.get("exit_status") != "completed":
            message = (result.get("msg") or "").strip().splitlines()
            raise RuntimeError(
                f"queue item {uid} {result.get('exit_status', 'failed')}: "
                + (message[-1] if message else "no message")
            )
        pause, deadline = threading.Event(), time.monotonic() + storage_timeout
        while True:
            observation = read_observation(client, exploration_id, step, condition)
            if observation.raw_uid and observation.fit_ok or time.monotonic() > deadline:
                return observation
            pause.wait(poll_s)

    return measure
