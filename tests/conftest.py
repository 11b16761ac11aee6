"""Test configuration shared by every tier.

Channel Access is pinned to loopback before anything imports ophyd or caproto: the
EPICS environment is read once per process.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile

os.environ["EPICS_CA_ADDR_LIST"] = "127.0.0.1"
os.environ["EPICS_CA_AUTO_ADDR_LIST"] = "NO"
os.environ["EPICS_CAS_INTERFACES"] = "127.0.0.1"
os.environ["EPICS_CAS_BEACON_ADDR_LIST"] = "127.0.0.1"
os.environ["EPICS_CAS_AUTO_BEACON_ADDR_LIST"] = "NO"
os.environ.setdefault("OPHYD_CONTROL_LAYER", "caproto")
os.environ.setdefault("MPLBACKEND", "Agg")

# tiled profiles (``msc``, written by `serve` and the IPython profile) go to a throw-away
# directory, never the user's: tiled reads TILED_PROFILES once, at import.
_PROFILES = tempfile.mkdtemp(prefix="msc-test-tiled-profiles-")
os.environ["TILED_PROFILES"] = _PROFILES
atexit.register(shutil.rmtree, _PROFILES, ignore_errors=True)


def _free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# One CA server port for the whole test session: clients read it once per process, and
# simulated IOCs started by tests (one at a time, random prefixes) listen on it.
os.environ.setdefault("EPICS_CA_SERVER_PORT", str(_free_tcp_port()))
os.environ.setdefault("EPICS_CA_REPEATER_PORT", str(_free_tcp_port()))


def environment_read_retrying(read, attempts: int = 5):
    """``read`` (caproto's ``get_environment_variables``) tried again on a torn read.

    caproto's client reads the whole environment (``dict(os.environ)``) on its search
    thread for every batch of searches, while pytest sets and removes
    ``PYTEST_CURRENT_TEST`` on the main thread at every test phase. When the two meet,
    the read raises ``KeyError`` (or ``RuntimeError``: changed during iteration) and
    caproto's search thread dies without a word: no PV of that client connects again
    (seen once in CI: every signal of a test's devices timed out). A torn read is
    simply taken again. Only the test process needs this (nothing else mutates the
    environment while Channel Access runs); caproto is pinned in the ``test`` extra and
    tests/test_conftest_environment.py checks the behaviour relied on.
    """

    def safe_read():
        for _ in range(attempts - 1):
            try:
                return read()
            except (KeyError, RuntimeError):
                continue
        return read()

    safe_read.wrapped = read
    return safe_read


def _install_environment_read_retrying() -> None:
    import caproto._utils as ca_utils

    if not hasattr(ca_utils.get_environment_variables, "wrapped"):
        ca_utils.get_environment_variables = environment_read_retrying(
            ca_utils.get_environment_variables)


_install_environment_read_retrying()


# -- simulated IOC fixtures (issue 3) ---------------------------------------------------
import pytest  # noqa: E402


@pytest.fixture
def simulated_ioc():
    """A fresh simulated IOC for one test: random prefix, time scale 100, session port."""
    from msc_bluesky.iocs.launcher import SimulatedIOC

    with SimulatedIOC(time_scale=100.0) as ioc:
        yield ioc


@pytest.fixture(scope="module")
def simulated_ioc_module():
    """One simulated IOC shared by a test module (time scale 100); tests set their state."""
    from msc_bluesky.iocs.launcher import SimulatedIOC

    with SimulatedIOC(time_scale=100.0) as ioc:
        yield ioc


@pytest.fixture
def RE():  # noqa: N802 - bluesky's conventional name
    """A fresh RunEngine without SIGINT handling, halted if a test leaves it running."""
    from bluesky import RunEngine

    engine = RunEngine({}, context_managers=[])
    yield engine
    if engine.state != "idle":
        engine.halt()
