"""The simulated IOC over real Channel Access (caproto sync client, loopback only).

One IOC subprocess (time scale 100, random prefix) serves the whole module; every test
puts the state it needs first. Waiting is always on a PV condition with a deadline.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
from caproto import ErrorResponseReceived
from caproto.sync.client import read, write

from msc_bluesky.cli import main as cli_main
from msc_bluesky.sim.kinetics import simulate_kinetics
from msc_bluesky.sim.optics import absorbance_spectrum

pytestmark = pytest.mark.integration

#: The IOC's default watchdog at time scale 100 (5 s of wall time); 0 (off) is refused.
DEFAULT_WATCHDOG_SIM_S = 500.0


@pytest.fixture(scope="module")
def ioc(simulated_ioc_module):
    return simulated_ioc_module


def get(ioc, name: str):
    """Value of ``{prefix}name``: a scalar for 1-element PVs, else an array."""
    data = read(ioc.prefix + name, repeater=False, timeout=5).data
    if len(data) == 1:
        value = data[0]
        return value.decode() if isinstance(value, bytes) else value
    return np.asarray(data)


def put(ioc, name: str, value, *, timeout: float = 10.0) -> None:
    """Put with completion (returns when the IOC has processed the put)."""
    write(ioc.prefix + name, value, notify=True, repeater=False, timeout=timeout)


def wait_for(condition, *, timeout: float = 20.0, what: str = "condition"):
    """Poll ``condition()`` until it is truthy; return its value or fail at the deadline."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        pause.wait(0.01)


def set_heaters(ioc, t_nuc: float, t_growth: float, *, ramp_rate: float = 50.0) -> None:
    for zone, value in (("nuc", t_nuc), ("growth", t_growth)):
        put(ioc, f"reactor:{zone}:ramp_rate", ramp_rate)
        put(ioc, f"reactor:{zone}:enable", 1)
        put(ioc, f"reactor:{zone}:setpoint", value)


def set_flows(ioc, cd: float, se: float) -> None:
    for pump, flow in (("pump_cd", cd), ("pump_se", se)):
        if get(ioc, f"reactor:{pump}:alarm"):
            put(ioc, f"reactor:{pump}:refill", 1)
        put(ioc, f"reactor:{pump}:flow_setpoint", flow)
        put(ioc, f"reactor:{pump}:run", 1 if flow > 0 else 0)


def settled(ioc) -> bool:
    return all(get(ioc, f"reactor:{zone}:at_temperature") for zone in ("nuc", "growth"))


def test_server_answers_with_configuration(ioc):
    assert get(ioc, "reactor:time_scale") == pytest.approx(100.0)
    assert get(ioc, "reactor:volume_nuc") == pytest.approx(0.020)
    assert get(ioc, "reactor:volume_growth") == pytest.approx(0.280)
    assert get(ioc, "reactor:volume_transfer") == pytest.approx(0.050)
    assert get(ioc, "reactor:pump_cd:max_flow") == pytest.approx(10.0)
    wavelength = get(ioc, "uvvis:wavelength")
    assert wavelength.shape == (1000,) and wavelength[0] == 300.0 and wavelength[-1] == 700.0
    q = get(ioc, "saxs:q")
    assert q.shape == (300,) and q[0] == pytest.approx(0.05) and q[-1] == pytest.approx(8.0)
    assert get(ioc, "saxs:image").shape == (128 * 128,)
    t0 = get(ioc, "reactor:sim_time")
    wait_for(lambda: get(ioc, "reactor:sim_time") > t0, what="the simulated clock to move")


def test_setpoint_put_ramps_readback_and_settles(ioc):
    set_heaters(ioc, 25.0, 25.0, ramp_rate=50.0)
    wait_for(lambda: settled(ioc), what="heaters at 25 °C")
    put(ioc, "reactor:nuc:ramp_rate", 2.0)
    put(ioc, "reactor:nuc:setpoint", 120.0)
    assert get(ioc, "reactor:nuc:at_temperature") == 0
    seen = []

    def done() -> bool:
        seen.append(get(ioc, "reactor:nuc:readback"))
        return bool(get(ioc, "reactor:nuc:at_temperature"))

    wait_for(done, what="nucleation heater at 120 °C")
    ramp = [v for v in seen if 26.0 < v < 119.0]
    assert len(ramp) >= 3, f"no intermediate ramp values seen: {seen}"
    assert all(a <= b + 1e-9 for a, b in zip(seen, seen[1:], strict=False))
    assert get(ioc, "reactor:nuc:readback") == pytest.approx(120.0)
    # A put of the same value drops at_temperature (1 -> 0 -> 1 for ophyd positioners).
    put(ioc, "reactor:nuc:setpoint", 120.0)
    assert get(ioc, "reactor:nuc:at_temperature") == 0
    wait_for(lambda: get(ioc, "reactor:nuc:at_temperature") == 1, what="settling again")


def test_flow_change_changes_reaction_time(ioc):
    set_flows(ioc, 6.0, 6.0)
    wait_for(lambda: get(ioc, "reactor:pump_cd:flow") == pytest.approx(6.0), what="flow 6")
    wait_for(lambda: get(ioc, "reactor:reaction_time") == pytest.approx(1.5), what="t = 1.5 s")
    left = get(ioc, "reactor:pump_cd:volume_left")
    wait_for(lambda: get(ioc, "reactor:pump_cd:volume_left") < left, what="reservoir to drain")
    assert get(ioc, "reactor:pump_cd:dispensed") > 0
    set_flows(ioc, 2.0, 2.0)
    wait_for(lambda: get(ioc, "reactor:reaction_time") == pytest.approx(4.5), what="t = 4.5 s")
    set_flows(ioc, 0.0, 0.0)
    wait_for(lambda: math.isinf(get(ioc, "reactor:reaction_time")), what="t = inf")


def test_acquire_gives_new_spectrum_and_curve(ioc):
    set_heaters(ioc, 25.0, 25.0)
    set_flows(ioc, 5.0, 5.0)
    wait_for(lambda: settled(ioc), what="heaters at 25 °C")
    put(ioc, "uvvis:mode", "sample")
    put(ioc, "uvvis:acquire", 1)
    put(ioc, "saxs:acquire", 1)
    cold_a = get(ioc, "uvvis:absorbance")
    cold_i = get(ioc, "saxs:intensity")

    set_heaters(ioc, 280.0, 280.0)
    wait_for(lambda: settled(ioc), what="heaters at 280 °C")
    start = get(ioc, "reactor:pump_cd:dispensed") * 2
    wait_for(lambda: get(ioc, "reactor:pump_cd:dispensed") * 2 > start + 3 * 0.35,
             what="three residence volumes")
    n_uv = get(ioc, "uvvis:array_counter")
    put(ioc, "uvvis:acquire", 1)  # returns when the acquisition is done
    assert get(ioc, "uvvis:array_counter") == n_uv + 1
    assert get(ioc, "uvvis:busy") == 0 and get(ioc, "uvvis:acquire") == 0
    hot_a = get(ioc, "uvvis:absorbance")
    assert np.abs(hot_a - cold_a).max() > 0.05
    # The spectrum is the cell's contents at 280 °C, 1.8 s against the precursor blank
    # the reference was taken on at start-up.
    wl = get(ioc, "uvvis:wavelength")
    expected = (absorbance_spectrum(simulate_kinetics(280.0, 280.0, 1.8), wl)
                - absorbance_spectrum(simulate_kinetics(25.0, 25.0, 0.05), wl))
    assert np.abs(hot_a - expected).mean() < 0.01
    assert np.abs(cold_a).mean() < 0.01

    n_saxs = get(ioc, "saxs:array_counter")
    put(ioc, "saxs:acquire", 1)
    assert get(ioc, "saxs:array_counter") == n_saxs + 1
    assert get(ioc, "saxs:busy") == 0
    hot_i = get(ioc, "saxs:intensity")
    sigma = get(ioc, "saxs:intensity_sigma")
    assert np.all(sigma > 0)
    assert np.abs(hot_i - cold_i).max() > 5 * sigma.max()
    image = get(ioc, "saxs:image").reshape(get(ioc, "saxs:image_height"),
                                           get(ioc, "saxs:image_width"))
    q = get(ioc, "saxs:q")
    # The image's brightest ring is the low-q end of the curve, its edge the high-q end.
    assert image.max() == pytest.approx(np.interp(0.09, q, hot_i), rel=0.3)
    assert 0.0 < get(ioc, "saxs:transmission") <= 1.0


def test_acquisition_takes_simulated_time(ioc):
    put(ioc, "uvvis:integration_time", 1.0)
    put(ioc, "uvvis:averages", 20)  # 20 simulated s = 0.2 wall s at time scale 100
    try:
        t0 = get(ioc, "reactor:sim_time")
        put(ioc, "uvvis:acquire", 1)
        # sim_time is published by the reactor's scan (20 Hz wall, 5 simulated s at time
        # scale 100): the value read at once may predate the end of the acquisition by
        # one scan period (seen in CI: 19.1 s). The next value published cannot.
        read_at_once = get(ioc, "reactor:sim_time")
        later = wait_for(lambda: (v := get(ioc, "reactor:sim_time")) > read_at_once and v,
                         what="the next published sim_time")
        assert later - t0 >= 20.0
    finally:
        put(ioc, "uvvis:integration_time", 0.1)
        put(ioc, "uvvis:averages", 10)


def test_dark_and_reference_are_stored(ioc):
    put(ioc, "uvvis:mode", "dark")
    put(ioc, "uvvis:acquire", 1)
    dark = get(ioc, "uvvis:dark")
    put(ioc, "uvvis:mode", "sample")
    assert np.allclose(get(ioc, "uvvis:counts"), dark)
    assert dark.mean() < get(ioc, "uvvis:reference").mean() / 10


@pytest.mark.parametrize("name, bad", [
    ("reactor:nuc:setpoint", math.nan),
    ("reactor:nuc:setpoint", math.inf),
    ("reactor:growth:setpoint", 361.0),
    ("reactor:growth:setpoint", 19.0),
    ("reactor:pump_cd:flow_setpoint", 10.5),
    ("reactor:pump_se:flow_setpoint", -1.0),
    ("reactor:pump_se:flow_setpoint", math.nan),
    ("reactor:nuc:ramp_rate", 0.0),
    ("reactor:nuc:enable", 2),
    ("reactor:volume_growth", -0.1),
    ("uvvis:integration_time", 0.0),
    ("saxs:exposure_time", math.inf),
])
def test_bad_puts_are_refused_and_value_unchanged(ioc, name, bad):
    before = get(ioc, name)
    with pytest.raises(ErrorResponseReceived):
        put(ioc, name, bad)
    assert get(ioc, name) == before


def test_watchdog_sends_heaters_to_standby(ioc):
    set_heaters(ioc, 150.0, 150.0)
    put(ioc, "reactor:heartbeat", 1)
    put(ioc, "reactor:watchdog_timeout", 30.0)  # simulated s: 0.3 wall s
    try:
        wait_for(lambda: get(ioc, "reactor:alarm") == 1, what="watchdog alarm")
        assert "WATCHDOG" in get(ioc, "reactor:status")
        assert get(ioc, "reactor:nuc:enable") == 0 and get(ioc, "reactor:growth:enable") == 0
        assert get(ioc, "reactor:pump_cd:run") == 0
    finally:
        put(ioc, "reactor:watchdog_timeout", DEFAULT_WATCHDOG_SIM_S)
    put(ioc, "reactor:nuc:enable", 1)
    wait_for(lambda: get(ioc, "reactor:alarm") == 0, what="alarm cleared by enabling")


def test_heartbeat_keeps_watchdog_quiet(ioc):
    set_heaters(ioc, 60.0, 60.0)
    put(ioc, "reactor:watchdog_timeout", 100.0)  # 1 wall s at time scale 100
    try:
        t_end = get(ioc, "reactor:sim_time") + 300.0
        while get(ioc, "reactor:sim_time") < t_end:
            put(ioc, "reactor:heartbeat", 1)
            assert get(ioc, "reactor:alarm") == 0
            threading.Event().wait(0.05)
        assert get(ioc, "reactor:nuc:enable") == 1
    finally:
        put(ioc, "reactor:watchdog_timeout", DEFAULT_WATCHDOG_SIM_S)


def test_pump_running_dry_raises_alarm(ioc):
    put(ioc, "reactor:pump_cd:capacity", 0.5)
    put(ioc, "reactor:pump_cd:refill", 1)
    try:
        assert get(ioc, "reactor:pump_cd:volume_left") == pytest.approx(0.5)
        set_flows(ioc, 10.0, 1.0)  # 0.5 mL at 10 mL/min: 3 simulated s
        wait_for(lambda: get(ioc, "reactor:pump_cd:alarm") == 1, what="pump dry alarm")
        assert get(ioc, "reactor:alarm") == 2
        assert "PUMP DRY" in get(ioc, "reactor:status")
        assert get(ioc, "reactor:pump_cd:run") == 0
        assert get(ioc, "reactor:pump_cd:volume_left") == 0.0
        wait_for(lambda: get(ioc, "reactor:pump_cd:flow") == 0.0, what="flow readback 0")
        with pytest.raises(ErrorResponseReceived):
            put(ioc, "reactor:pump_cd:run", 1)
    finally:
        put(ioc, "reactor:pump_cd:capacity", 250.0)
        put(ioc, "reactor:pump_cd:refill", 1)
    assert get(ioc, "reactor:pump_cd:alarm") == 0
    wait_for(lambda: get(ioc, "reactor:alarm") == 0, what="reactor alarm cleared")


def test_standby_put(ioc):
    set_heaters(ioc, 100.0, 100.0)
    set_flows(ioc, 1.0, 1.0)
    put(ioc, "reactor:standby", 1)
    assert get(ioc, "reactor:nuc:enable") == 0 and get(ioc, "reactor:growth:enable") == 0
    assert get(ioc, "reactor:pump_cd:run") == 0 and get(ioc, "reactor:pump_se:run") == 0
    assert get(ioc, "reactor:status").startswith("standby")


def test_list_pvs_names_every_contract_pv(capsys):
    assert cli_main(["ioc", "--list-pvs", "--prefix", "X:"]) == 0
    out = capsys.readouterr().out
    names = {line.split()[0].rstrip("*") for line in out.splitlines() if line.strip()}
    expected = {"reactor:" + n for n in (
        "nuc:setpoint", "nuc:readback", "nuc:ramp_rate", "nuc:tolerance", "nuc:settle_time",
        "nuc:at_temperature", "nuc:enable", "growth:setpoint", "growth:readback",
        "pump_cd:flow_setpoint", "pump_cd:flow", "pump_cd:run", "pump_cd:volume_left",
        "pump_cd:dispensed", "pump_cd:max_flow", "pump_cd:refill", "pump_cd:alarm",
        "pump_se:flow_setpoint", "volume_nuc", "volume_growth", "volume_transfer",
        "reaction_time", "heartbeat", "watchdog_timeout", "standby", "alarm", "status",
        "sim_time", "time_scale")}
    expected |= {"uvvis:" + n for n in (
        "wavelength", "absorbance", "counts", "dark", "reference", "integration_time",
        "averages", "mode", "acquire", "busy", "array_counter", "path_length")}
    expected |= {"saxs:" + n for n in (
        "q", "intensity", "intensity_sigma", "exposure_time", "transmission", "acquire",
        "busy", "array_counter", "image", "image_width", "image_height")}
    assert {"X:" + n for n in expected} <= names
