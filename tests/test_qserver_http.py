"""The queue server's REST door: bluesky-httpserver with an API key and a 'user' role.

One module-scoped stack: our own Redis, a simulated IOC, the RE Manager (encrypted
control socket) with an open environment, and ``start-bluesky-httpserver`` on
127.0.0.1, driven with plain HTTP requests. ``msc-bluesky campaign --queue --wait``
runs against the same manager.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from msc_bluesky.qserver.http import HTTPServer
from msc_bluesky.qserver.manager import REManager, close_environment
from msc_bluesky.qserver.redis import find_or_start_redis, free_port

httpx = pytest.importorskip("httpx")
pytestmark = pytest.mark.integration

PROFILE = Path(__file__).resolve().parents[1] / "profile_collection"
ENV_TIMEOUT_S = 120.0
PLAN_TIMEOUT_S = 180.0
API_KEY = "msctest" + "0123456789abcdef" * 2


def wait_until(condition, timeout: float, what: str, interval: float = 0.3):
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
def stack(tmp_path_factory):
    """Redis, IOC, RE Manager with an open environment, and the HTTP server."""
    from msc_bluesky.cli.qserver import LiveStreamProxy
    from msc_bluesky.iocs.launcher import SimulatedIOC

    tmp = tmp_path_factory.mktemp("http")
    data_dir = tmp / "data"
    control, info = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    live_in, live_out = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    with (
        LiveStreamProxy(live_in, live_out),
        find_or_start_redis(force_start=True) as redis,
        SimulatedIOC(time_scale=200.0) as ioc,
        open(tmp / "re_manager.log", "w") as log,
        open(tmp / "http.log", "w") as http_log,
    ):
        env = {**ioc.env, "MSC_PREFIX": ioc.prefix, "MSC_DATA_DIR": str(data_dir),
               "OPHYD_CONTROL_LAYER": "caproto", "MPLBACKEND": "Agg",
               "MSC_LIVE_STREAM": live_in}  # fmt: skip
        manager = REManager(
            redis_addr=redis.addr, startup_dir=PROFILE / "startup",
            zmq_control_addr=control, zmq_info_addr=info, env=env, output=log,
            redis_name_prefix=f"msc_http_{free_port()}", run_dir=data_dir / "qserver",
        )  # fmt: skip
        manager.start(timeout=90)  # margin for a loaded 2-core machine
        api = manager.api()
        http = HTTPServer(
            port=free_port(), api_key=API_KEY, zmq_control_addr=control,
            zmq_info_addr=info, zmq_public_key=manager.public_key, output=http_log,
        )  # fmt: skip
        try:
            api.environment_open()
            api.wait_for_idle(timeout=ENV_TIMEOUT_S)
            assert api.status()["worker_environment_exists"], (tmp / "re_manager.log").read_text()
            http.start(timeout=120)
            yield {"http": http, "api": api, "data_dir": data_dir, "control": control, "tmp": tmp,
                   "live": (live_in, live_out)}  # fmt: skip
        finally:
            http.stop()
            try:
                close_environment(api, timeout=ENV_TIMEOUT_S)
            finally:
                api.close()
                manager.stop()


@pytest.fixture
def rest(stack):
    http = stack["http"]
    with httpx.Client(base_url=http.url, headers=http.headers(), timeout=30.0) as client:
        yield client


def test_requests_without_the_api_key_get_401(stack):
    url = stack["http"].url
    assert httpx.get(f"{url}/status").status_code == 401
    assert httpx.post(f"{url}/queue/start").status_code == 401
    wrong = {"Authorization": "ApiKey " + "f" * 32}
    assert httpx.get(f"{url}/status", headers=wrong).status_code == 401


def test_the_api_key_is_in_no_log_and_no_command_line(stack, rest):
    http = stack["http"]
    assert rest.get("/status").status_code == 200  # something was logged by now
    log = (stack["tmp"] / "http.log").read_text()
    assert "Uvicorn running on http://127.0.0.1" in log
    assert http.api_key not in log
    cmdline = Path(f"/proc/{http.process.pid}/cmdline").read_bytes().decode()
    assert http.api_key not in cmdline
    keys = stack["data_dir"] / "qserver"
    private = (keys / "zmq_server_private.key").read_text().strip()
    assert private not in (stack["tmp"] / "re_manager.log").read_text()


def test_the_server_listens_on_loopback_and_reports_status(rest):
    assert str(rest.base_url).startswith("http://127.0.0.1:")
    status = rest.get("/status").json()
    assert status["worker_environment_exists"] is True
    assert status["manager_state"] == "idle"


def test_bluesky_queueserver_apis_http_client_works_with_the_key(stack):
    from bluesky_queueserver_api.http import REManagerAPI

    http = stack["http"]
    api = REManagerAPI(http_server_uri=f"http://{http.host}:{http.port}")
    try:
        api.set_authorization_key(api_key=http.api_key)
        assert api.status()["manager_state"] == "idle"
        assert "condition_scan" in api.plans_allowed()["plans_allowed"]
        with pytest.raises(api.HTTPClientError, match="401"):
            api.script_upload("print('no')")
    finally:
        api.close()


def test_a_bad_item_is_rejected_with_its_message(rest):
    before = rest.get("/queue/get").json()["items"]
    item = {"name": "temperature_grid", "item_type": "plan",
            "args": [["uvvis"], "reactor", [500.0], 3.0]}  # fmt: skip
    answer = rest.post("/queue/item/add", json={"item": item}).json()
    assert answer["success"] is False
    assert "500" in answer["msg"] and "range" in answer["msg"], answer["msg"]
    assert rest.get("/queue/get").json()["items"] == before


@pytest.mark.parametrize(
    "path, payload",
    [
        ("/script/upload", {"script": "import os\nos.system('true')\n"}),
        ("/function/execute", {"item": {"name": "print", "item_type": "function"}}),
        ("/permissions/set", {"user_group_permissions": {}}),
        ("/manager/stop", {}),
    ],
)
def test_scripts_functions_permissions_and_stopping_are_forbidden(rest, path, payload):
    answer = rest.post(path, json=payload)
    assert answer.status_code == 401
    assert "Not enough permissions" in answer.json()["detail"]


def test_a_plan_added_and_started_over_http_runs_to_completion(rest):
    item = {"name": "temperature_grid", "item_type": "plan",
            "args": [["uvvis", "saxs"], "reactor", [240.0], 3.0],
            "kwargs": {"growth_steps": 2, "growth_step": 10.0, "residence_volumes": 1}}  # fmt: skip
    added = rest.post("/queue/item/add", json={"item": item}).json()
    assert added["success"] is True, added
    uid = added["item"]["item_uid"]
    assert rest.post("/queue/start").json()["success"] is True

    def finished():
        history = rest.get("/history/get").json()["items"]
        return next((h for h in history if h["item_uid"] == uid), None)

    done = wait_until(finished, PLAN_TIMEOUT_S, "the plan to finish")
    assert done["result"]["exit_status"] == "completed", done["result"].get("traceback")
    assert len(done["result"]["run_uids"]) == 1
    wait_until(lambda: rest.get("/status").json()["manager_state"] == "idle", 30, "idle")


def test_campaign_queue_wait_follows_the_queue_and_prints_the_summary(stack, tmp_path, capsys):
    from msc_bluesky.cli import main

    campaign = tmp_path / "one.csv"
    campaign.write_text("t_nuc,t_growth,reaction_time\n240,240,3\n")
    code = main([
        "campaign", "--queue", "--wait", "--file", str(campaign),
        "--data-dir", str(stack["data_dir"]), "--zmq-control-addr", stack["control"],
        "--no-report",
    ])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert "[1/1] conditions from one.csv: completed" in out.out
    lines = out.out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["T_nuc", "T_growth"])
    row = lines[header + 2].split()
    assert row[:3] == ["240", "240", "3.0"], lines[header:]
    assert "CdSe-437 persists at 14 s" in out.out


def test_msc_bluesky_live_shows_a_queued_plan(stack, rest):
    from msc_bluesky.callbacks.zmq_consumer import make_publisher, wait_for_consumer

    live_in, live_out = stack["live"]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop("DISPLAY", None)
    viewer = subprocess.Popen(
        [sys.executable, "-m", "msc_bluesky.cli", "live", "--address", live_out,
         "--max-runs", "1", "--analysis"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(viewer.stdout), daemon=True)
    reader.start()
    probe = make_publisher(live_in)
    try:
        wait_for_consumer(probe, lambda: any(line.startswith("probe ") for line in lines))
        item = {"name": "condition_scan", "item_type": "plan",
                "args": [["uvvis", "saxs"], "reactor",
                         [{"t_nuc": 240.0, "t_growth": 240.0, "reaction_time": 3.0}]]}  # fmt: skip
        added = rest.post("/queue/item/add", json={"item": item}).json()
        assert added["success"] is True, added
        assert rest.post("/queue/start").json()["success"] is True
        assert viewer.wait(timeout=PLAN_TIMEOUT_S) == 0
        reader.join(timeout=10)
    finally:
        probe.close()
        if viewer.poll() is None:
            viewer.kill()
            viewer.wait(timeout=10)
    text = "".join(lines)
    assert "started: condition_scan" in text and "stopped: success" in text, text
    assert "reactor_t_nuc" in text, text  # BestEffortCallback's table of hinted fields
    assert "phase" in text, text  # the live analysis table
    wait_until(lambda: rest.get("/status").json()["manager_state"] == "idle", 30, "idle")
