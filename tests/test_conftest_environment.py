"""The test process's guard against caproto's torn environment reads (tests/conftest.py)."""

from __future__ import annotations

import caproto._utils as ca_utils
from conftest import environment_read_retrying


def test_a_torn_environment_read_is_taken_again():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise KeyError("PYTEST_CURRENT_TEST")
        return {"EPICS_CA_ADDR_LIST": "127.0.0.1"}

    assert environment_read_retrying(flaky)() == {"EPICS_CA_ADDR_LIST": "127.0.0.1"}
    assert len(calls) == 3


def test_caproto_reads_its_addresses_through_the_guarded_function(monkeypatch):
    # the behaviour relied on: the client's address list goes through the module-level
    # get_environment_variables that conftest replaced
    assert hasattr(ca_utils.get_environment_variables, "wrapped")
    env = ca_utils.get_environment_variables()
    env["EPICS_CA_ADDR_LIST"] = "127.0.0.2"
    env["EPICS_CA_AUTO_ADDR_LIST"] = "NO"
    monkeypatch.setattr(ca_utils, "get_environment_variables", lambda: dict(env))
    assert [host for host, _ in ca_utils.get_client_address_list()] == ["127.0.0.2"]
