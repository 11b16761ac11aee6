"""Run a campaign locally through a session's RunEngine, or submit it to the queue server."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from msc_bluesky.campaign.definition import CampaignStep, check_campaign, conditions_of

logger = logging.getLogger(__name__)

#: Start-metadata key that tags every run of one campaign (``msc-bluesky report --campaign``).
CAMPAIGN_KEY = "campaign_id"


@dataclass
class CampaignOutcome:
    """What a local campaign run did.

    Attributes
    ----------
    campaign_id : str
        Value of ``start["campaign_id"]`` in every run of the campaign.
    run_uids : list of str
        Raw run uids, in order.
    completed_steps : int
        Steps that finished.
    interrupted : bool
        True when the user stopped the campaign (Ctrl-C); the reactor was put in standby.
    error : str
        The failure that ended the campaign early, "" when none.
    step_seconds : list of float
        Wall time of each step.
    """

    campaign_id: str
    run_uids: list[str] = field(default_factory=list)
    completed_steps: int = 0
    interrupted: bool = False
    error: str = ""
    step_seconds: list[float] = field(default_factory=list)


def make_plan(step: CampaignStep, session: Any, md: dict[str, Any]):
    """Build the plan generator of one step with the session's devices."""
    from msc_bluesky import plans

    plan = getattr(plans, step.plan)
    detectors = [getattr(session, name) for name in step.detectors]
    return plan(detectors, session.reactor, **step.kwargs, md=md)


def run_campaign(
    steps: Sequence[CampaignStep],
    session: Any,
    campaign_id: str,
    *,
    echo: Callable[[str], None] = print,
    md: dict[str, Any] | None = None,
) -> CampaignOutcome:
    """Run every step through ``session.RE``, stopping safely on Ctrl-C or failure.

    Every condition is checked before anything moves. On Ctrl-C the RunEngine is
    aborted, which runs each plan's finalizer (heaters to standby, pumps stopped); the
    runs recorded so far stay in the store.

    Parameters
    ----------
    steps : sequence of CampaignStep
    session : msc_bluesky.session.Session
        Provides ``RE``, ``reactor``, ``uvvis``, ``saxs``.
    campaign_id : str
        Tag recorded as ``start["campaign_id"]`` in every run.
    echo : callable
        Where progress lines go.
    md : dict, optional
        Extra start metadata for every run.

    Returns
    -------
    CampaignOutcome
    """
    from bluesky.utils import RunEngineInterrupted

    total = check_campaign(steps, reactor_configuration(session.reactor))
    outcome = CampaignOutcome(campaign_id=campaign_id)
    echo(f"campaign {campaign_id}: {len(steps)} steps, {total} conditions")
    done = 0
    for i, step in enumerate(steps, start=1):
        n = len(conditions_of(step))
        echo(f"[{i}/{len(steps)}] {step.title}: {n} conditions ({done}/{total} done)")
        step_md = {CAMPAIGN_KEY: campaign_id, "campaign_step": step.title, **(md or {})}
        t0 = time.perf_counter()
        try:
            uids = session.RE(make_plan(step, session, step_md))
        except RunEngineInterrupted:
            outcome.interrupted = True
            echo("interrupted: aborting the run; heaters go to standby and pumps stop …")
            _abort(session.RE, "interrupted by the user (Ctrl-C)")
            break
        except KeyboardInterrupt:
            outcome.interrupted = True
            echo("interrupted: heaters go to standby and pumps stop …")
            _abort(session.RE, "interrupted by the user (Ctrl-C)")
            break
        except Exception as err:  # the plan's finalizer already made the reactor safe
            outcome.error = f"{type(err).__name__}: {err}"
            echo(f"step {step.title!r} failed: {outcome.error}")
            break
        outcome.step_seconds.append(time.perf_counter() - t0)
        outcome.run_uids.extend(uids or ())
        outcome.completed_steps += 1
        done += n
    return outcome


def reactor_configuration(reactor: Any):
    """Geometry and pump limits read from a connected reactor, or None if unreadable.

    The campaign checks every step's flows against them before the first step runs
    (outside any plan, so plain ophyd reads).

    Returns
    -------
    msc_bluesky.plans.validation.ReactorConfiguration or None
    """
    from msc_bluesky.plans.validation import ReactorConfiguration

    try:
        values = [
            float(signal.get())
            for signal in (
                reactor.volume_nuc, reactor.volume_growth, reactor.volume_transfer,
                reactor.pump_cd.max_flow, reactor.pump_se.max_flow, reactor.flow_ratio,
            )
        ]  # fmt: skip
    except Exception as err:  # not connected, or a fake reactor: the plans check again
        logger.info("reactor configuration not readable (%s); using the simulated one", err)
        return None
    return ReactorConfiguration(*values)


def _abort(RE: Any, reason: str) -> None:  # noqa: N803
    if RE.state != "idle":
        try:
            RE.abort(reason)
        except Exception as err:  # already idle or failed: nothing more to do here
            logger.warning("abort after interrupt: %s", err)


def queue_items(steps: Sequence[CampaignStep], campaign_id: str) -> list[dict[str, Any]]:
    """The campaign as queue-server plan items (devices referred to by name)."""
    check_campaign(steps)
    items = []
    for step in steps:
        items.append(
            {
                "name": step.plan,
                "args": [list(step.detectors), "reactor"],
                "kwargs": {
                    **step.kwargs,
                    "md": {CAMPAIGN_KEY: campaign_id, "campaign_step": step.title},
                },
                "item_type": "plan",
            }
        )
    return items


def submit_campaign(
    steps: Sequence[CampaignStep],
    campaign_id: str,
    *,
    zmq_control_addr: str = "tcp://127.0.0.1:60615",
    start_queue: bool = True,
    echo: Callable[[str], None] = print,
    zmq_public_key: str | None = None,
) -> list[str]:
    """Add the campaign's plans to a running queue server; optionally start the queue.

    ``zmq_public_key`` is the RE Manager's public key when its control socket is
    encrypted (``msc-bluesky qserver`` always encrypts it); bluesky-queueserver-api
    also reads ``QSERVER_ZMQ_PUBLIC_KEY``.

    Returns
    -------
    list of str
        The queue item uids.

    Raises
    ------
    RuntimeError
        If the queue server refuses an item, with its message; items added before it
        stay in the queue.
    """
    from bluesky_queueserver_api import BPlan
    from bluesky_queueserver_api.zmq import REManagerAPI

    api = REManagerAPI(zmq_control_addr=zmq_control_addr, zmq_public_key=zmq_public_key)
    try:
        uids = []
        for item in queue_items(steps, campaign_id):
            plan = BPlan(item["name"], *item["args"], **item["kwargs"])
            try:
                response = api.item_add(plan)
            except api.RequestFailedError as err:
                raise RuntimeError(f"queue server refused {item['name']}: {err}") from None
            uids.append(response["item"]["item_uid"])
            echo(f"queued {item['name']} ({response['item']['item_uid']})")
        if start_queue:
            status = api.status()
            if not status.get("worker_environment_exists"):
                api.environment_open()
                api.wait_for_idle(timeout=120)
            api.queue_start()
            echo("queue started")
        return uids
    finally:
        api.close()


def follow_queue(
    api: Any,
    item_uids: Sequence[str],
    campaign_id: str,
    *,
    echo: Callable[[str], None] = print,
    poll_s: float = 1.0,
    timeout: float | None = None,
) -> CampaignOutcome:
    """Follow queued campaign items until each has run, or the queue stopped on a failure.

    Parameters
    ----------
    api : REManagerAPI or compatible
        Client of the running manager (``status()``, ``history_get()``, ``queue_get()``).
    item_uids : sequence of str
        The campaign's queue items, in order (from :func:`submit_campaign`).
    campaign_id : str
        The campaign's tag (recorded in the outcome).
    echo : callable
        Where one line per finished item goes.
    poll_s : float
        Seconds between status requests.
    timeout : float or None
        Give up after this many seconds (``TimeoutError``); None waits as long as it runs.

    Returns
    -------
    CampaignOutcome
        ``run_uids`` and ``completed_steps`` of the items that completed; ``error`` the
        first failure's message (the queue server stops the queue on it).
    """
    import threading

    outcome = CampaignOutcome(campaign_id=campaign_id)
    wanted = list(item_uids)
    reported: set[str] = set()
    pause = threading.Event()
    deadline = None if timeout is None else time.monotonic() + timeout
    last_history_uid = None
    idle_polls = 0
    while True:
        status = api.status()
        if status.get("plan_history_uid") != last_history_uid:
            last_history_uid = status.get("plan_history_uid")
            for item in api.history_get()["items"]:
                uid = item.get("item_uid")
                if uid not in wanted or uid in reported:
                    continue
                reported.add(uid)
                result = item.get("result") or {}
                exit_status = result.get("exit_status", "unknown")
                step = wanted.index(uid) + 1
                title = (item.get("kwargs", {}).get("md") or {}).get("campaign_step", item["name"])
                echo(f"[{step}/{len(wanted)}] {title}: {exit_status}")
                if exit_status == "completed":
                    outcome.completed_steps += 1
                    outcome.run_uids.extend(result.get("run_uids") or ())
                elif not outcome.error:
                    message = result.get("msg") or result.get("traceback", "")
                    outcome.error = f"{item['name']} {exit_status}: " + (
                        message.strip().splitlines()[-1] if message.strip() else "no message"
                    )
        if len(reported) == len(wanted):
            return outcome
        idle = status.get("manager_state") == "idle"
        if idle and outcome.error:
            return outcome  # the failure stopped the queue; the rest stays queued
        idle_polls = idle_polls + 1 if idle else 0
        if idle_polls >= 3:  # idle for a while with items of ours not run
            not_run = set(wanted) - reported
            queued = {i.get("item_uid") for i in api.queue_get()["items"]} & not_run
            left = len(not_run)
            outcome.error = (
                f"the queue stopped with {left} of the campaign's items not run"
                + (" (still queued: `qserver queue start` continues)" if queued else "")
            )
            return outcome
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"campaign {campaign_id} still running after {timeout} s")
        pause.wait(poll_s)
