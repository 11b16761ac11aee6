"""Queue-server process safety: key files, stale managers, and a queue that survives restarts."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from msc_bluesky.qserver.http import HTTPServerError, resolve_http_api_key
from msc_bluesky.qserver.keys import SecretFileError, client_public_key, ensure_zmq_keys
from msc_bluesky.qserver.manager import ManagerError, REManager
from msc_bluesky.qserver.redis import free_port, start_redis
from msc_bluesky.qserver.stale import group_members, process_alive, read_record

PROFILE = Path(__file__).resolve().parents[1] / "profile_collection"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_zmq_key_files_are_readable_by_their_owner_only(tmp_path):
    run_dir = tmp_path / "qserver"
    keys = ensure_zmq_keys(run_dir)
    assert mode(run_dir) == 0o700
    assert mode(keys.private_path) == 0o600
    assert mode(keys.public_path) == 0o600
    assert keys.private not in keys.public_path.read_text()
    again = ensure_zmq_keys(run_dir)  # loaded, not regenerated
    assert (again.public, again.private) == (keys.public, keys.private)
    assert client_public_key(run_dir, environ={}) == keys.public

    keys.private_path.chmod(0o644)
    with pytest.raises(SecretFileError, match="chmod 600"):
        ensure_zmq_keys(run_dir)


def test_http_api_key_comes_from_a_private_file_or_the_environment(tmp_path):
    run_dir = tmp_path / "qserver"
    run_dir.mkdir()
    key, source = resolve_http_api_key(None, run_dir, environ={})
    generated = run_dir / "http_api_key"
    assert source == str(generated) and mode(generated) == 0o600
    assert generated.read_text().strip() == key and key.isalnum() and len(key) >= 32

    env_key = "a" * 20 + "1234"
    assert resolve_http_api_key(None, run_dir, environ={"MSC_HTTP_API_KEY": env_key}) == (
        env_key, "MSC_HTTP_API_KEY",
    )  # fmt: skip
    with pytest.raises(HTTPServerError, match="letters and digits"):
        resolve_http_api_key(None, run_dir, environ={"MSC_HTTP_API_KEY": "short-key!"})

    shared = tmp_path / "shared_key"
    shared.write_text("b" * 32 + "\n")
    shared.chmod(0o644)
    with pytest.raises(SecretFileError, match="other users"):
        resolve_http_api_key(shared, run_dir, environ={})
    shared.chmod(0o600)
    assert resolve_http_api_key(shared, run_dir, environ={})[0] == "b" * 32


def test_a_port_held_by_another_program_is_refused_before_starting(tmp_path):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        manager = REManager(
            redis_addr="127.0.0.1:1",
            startup_dir=PROFILE / "startup",
            zmq_control_addr=f"tcp://127.0.0.1:{port}",
            zmq_info_addr=f"tcp://127.0.0.1:{free_port()}",
            run_dir=tmp_path / "qserver",
        )
        with pytest.raises(ManagerError, match=f"127.0.0.1:{port} is already in use"):
            manager.start()
        assert manager.process is None


def _manager(redis_addr: str, run_dir: Path, control: str, info: str, prefix: str, log):
    return REManager(
        redis_addr=redis_addr,
        startup_dir=PROFILE / "startup",
        zmq_control_addr=control,
        zmq_info_addr=info,
        env={"MSC_DATA_DIR": str(run_dir.parent)},
        output=log,
        redis_name_prefix=prefix,
        run_dir=run_dir,
    )


@pytest.mark.integration
def test_a_sigkilled_managers_orphan_is_stopped_by_the_next_start(tmp_path):
    run_dir = tmp_path / "data" / "qserver"
    control, info = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    prefix = f"msc_stale_{free_port()}"
    with start_redis() as redis, open(tmp_path / "manager.log", "w") as log:
        first = _manager(redis.addr, run_dir, control, info, prefix, log).start()
        pgid = first.process.pid
        assert read_record(run_dir).pgid == pgid
        first.process.kill()  # SIGKILL start-re-manager only: its manager child lives on
        first.process.wait(timeout=10)
        orphans = group_members(pgid)
        assert orphans, "expected the manager process to outlive start-re-manager"

        second = _manager(redis.addr, run_dir, control, info, prefix, log)
        try:
            second.start()
            assert not any(process_alive(p) for p in orphans), "the orphan still runs"
            assert second.process.pid != pgid
            api = second.api()
            try:
                assert api.status()["manager_state"] == "idle"
            finally:
                api.close()
        finally:
            second.stop()
    assert read_record(run_dir) is None
    assert not group_members(second.process.pid)


@pytest.mark.integration
def test_the_queue_survives_a_restart_of_our_redis_and_manager(tmp_path):
    from bluesky_queueserver_api import BPlan

    run_dir = tmp_path / "data" / "qserver"
    persist = run_dir / "redis"
    control, info = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    prefix = f"msc_persist_{free_port()}"
    plan = BPlan("temperature_grid", ["uvvis"], "reactor", [240.0], 3.0, growth_steps=2)
    with open(tmp_path / "manager.log", "w") as log:
        with start_redis(persist_dir=persist) as redis:
            with _manager(redis.addr, run_dir, control, info, prefix, log) as manager:
                api = manager.api()
                try:
                    uid = api.item_add(plan)["item"]["item_uid"]
                finally:
                    api.close()
        assert (persist / "msc_queue.aof").stat().st_size > 0
        assert mode(persist) == 0o700
        with start_redis(persist_dir=persist) as redis:  # another port, same file
            with _manager(redis.addr, run_dir, control, info, prefix, log) as manager:
                api = manager.api()
                try:
                    items = api.queue_get()["items"]
                finally:
                    api.close()
    assert [i["item_uid"] for i in items] == [uid]
    assert items[0]["kwargs"]["growth_steps"] == 2


def test_process_alive_treats_a_missing_pid_as_dead():
    assert process_alive(os.getpid())
    assert not process_alive(2**22 + 12345)


def _fake_manager_group() -> subprocess.Popen:
    """A process in its own group whose command line looks like an RE Manager's."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('up', flush=True); sys.stdin.read()",
         "start-re-manager"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout.readline() == "up\n"  # it runs its own command line by now
    return proc


def test_a_manager_whose_qserver_still_runs_is_not_touched(tmp_path):
    from msc_bluesky.qserver.stale import (
        ManagerRecord,
        StaleManagerError,
        clear_stale_manager,
        write_record,
    )

    group, owner = _fake_manager_group(), _fake_manager_group()
    try:
        write_record(tmp_path, ManagerRecord(pgid=group.pid, owner_pid=owner.pid,
                                             control_addr="tcp://127.0.0.1:1",
                                             info_addr="tcp://127.0.0.1:2"))  # fmt: skip
        with pytest.raises(StaleManagerError, match="stop that `msc-bluesky qserver` first"):
            clear_stale_manager(tmp_path)
        assert group.poll() is None and read_record(tmp_path) is not None

        owner.kill()  # its qserver is gone: now the group is stale and ours to stop
        owner.wait(timeout=10)
        assert clear_stale_manager(tmp_path, echo=lambda line: None) == [group.pid]
        assert group.wait(timeout=10) is not None
        assert read_record(tmp_path) is None
    finally:
        for proc in (group, owner):
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
