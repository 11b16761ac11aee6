"""Everything ``msc-bluesky campaign`` starts and stops around a local campaign."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any


def use_loopback_channel_access(port: int) -> None:
    """Point this process's Channel Access client at ``127.0.0.1:port`` only.

    Must run before the first ophyd device or caproto client exists: the EPICS
    environment is read once per process.
    """
    os.environ["EPICS_CA_ADDR_LIST"] = "127.0.0.1"
    os.environ["EPICS_CA_AUTO_ADDR_LIST"] = "NO"
    os.environ["EPICS_CA_SERVER_PORT"] = str(port)
    os.environ.setdefault("OPHYD_CONTROL_LAYER", "caproto")


#: Events per tiled write during a campaign. Every document is journalled locally first
#: (the writer's backup), so a batch loses nothing on a crash; it cuts the requests per
#: condition enough that the store keeps up with the reactor, so storage finishes
#: within seconds of the last measurement instead of draining a backlog.
CAMPAIGN_BATCH_SIZE = 10

#: Wall seconds without a heartbeat after which the started IOC puts the heaters in
#: standby (the campaign beats every second while it runs): the IOC's default.
WATCHDOG_WALL_S = 5.0


class ReactorIOC:
    """The reactor a campaign uses: its PV prefix, and a wait until it answers.

    Attributes
    ----------
    prefix : str
        PV prefix of the reactor's IOC.
    ioc : SimulatedIOC or None
        The simulated IOC started for the campaign, None for a running one.
    """

    def __init__(self, prefix: str, ioc: Any = None, echo=print) -> None:
        self.prefix = prefix
        self.ioc = ioc
        self._echo = echo
        self._ready = ioc is None

    def wait_ready(self) -> str:
        """Wait until a started IOC answers (at once for a running one); the prefix."""
        if not self._ready:
            self.ioc.wait_ready()
            self._ready = True
            self._echo(f"simulated IOC ready, PV prefix {self.prefix}")
        return self.prefix


@contextlib.contextmanager
def launched_reactor(
    prefix: str | None, time_scale: float, echo=print
) -> Iterator[ReactorIOC]:
    """Like :func:`simulated_reactor`, but yield as soon as the IOC process is launched.

    The caller does its other start-up work (imports, catalogue, devices) while the IOC
    starts, and calls :meth:`ReactorIOC.wait_ready` before connecting.
    """
    if prefix:
        yield ReactorIOC(prefix)
        return
    from msc_bluesky.iocs.launcher import SimulatedIOC, free_port

    port = free_port()
    use_loopback_channel_access(port)
    echo(f"starting the simulated reactor IOC on 127.0.0.1:{port} (time scale {time_scale:g}) …")
    watchdog = ("--watchdog", f"{WATCHDOG_WALL_S * time_scale:g}")
    ioc = SimulatedIOC(time_scale=time_scale, port=port, extra_args=watchdog).launch()
    try:
        yield ReactorIOC(ioc.prefix, ioc, echo)
    finally:
        ioc.stop()


@contextlib.contextmanager
def simulated_reactor(
    prefix: str | None, time_scale: float, echo=print
) -> Iterator[str]:
    """Yield the PV prefix of the reactor to use, starting a simulated IOC if none is given.

    With ``prefix`` set, the IOC is assumed to run already (the EPICS environment is the
    user's). Otherwise the simulated IOC starts on loopback and a free port, with its
    watchdog armed (:data:`WATCHDOG_WALL_S`), and stops on exit.
    """
    with launched_reactor(prefix, time_scale, echo) as reactor_ioc:
        yield reactor_ioc.wait_ready()


def connect_devices(session: Any, timeout: float = 60.0) -> None:
    """Connect the session's reactor and detectors, or say clearly which could not.

    Raises
    ------
    ConnectionError
        Naming the devices that did not connect, the prefix and the EPICS address list.
    """
    import time

    deadline = time.monotonic() + timeout
    missing = []
    for device in (session.reactor, session.uvvis, session.saxs):
        try:
            device.wait_for_connection(timeout=max(1.0, deadline - time.monotonic()))
        except TimeoutError as err:
            missing.append(f"{device.name} ({err})")
    if missing:
        raise ConnectionError(
            f"could not connect within {timeout:g} s to: {'; '.join(missing)}. Is the IOC "
            f"with prefix {session.config.prefix!r} running and reachable via "
            f"EPICS_CA_ADDR_LIST={os.environ.get('EPICS_CA_ADDR_LIST', '(unset)')}?"
        )


def summary_rows(client: Any, campaign_id: str) -> list[dict[str, Any]]:
    """Rows for :func:`~msc_bluesky.campaign.summary.summarize`, read back from tiled.

    Conditions are the requested setpoints recorded in each event; the findings are the
    linked analysis run's fields.
    """
    from msc_bluesky.campaign.runner import CAMPAIGN_KEY
    from msc_bluesky.storage.browse import campaign_table

    table = campaign_table(client, md={CAMPAIGN_KEY: campaign_id})
    rows = []
    for rec in table.to_dict(orient="records"):
        rows.append(
            {
                "plan_name": rec.get("plan_name"),
                "t_nuc": rec.get("reactor_t_nuc_setpoint", rec.get("t_nuc")),
                "t_growth": rec.get("reactor_t_growth_setpoint", rec.get("t_growth")),
                "reaction_time": rec.get(
                    "reactor_reaction_time_setpoint", rec.get("reaction_time")
                ),
                "phase": rec.get("phase"),
                "phase_source": rec.get("phase_source"),
                "msc437_detected": rec.get("msc437_detected"),
                "nc_peak_nm": rec.get("nc_peak_nm"),
                "nc_diameter_nm": rec.get("nc_diameter_nm"),
                "mesophase_lamellar": rec.get("mesophase_lamellar"),
                "saxs_total_volume_fraction": rec.get("saxs_total_volume_fraction"),
                "saxs_fit_ok": rec.get("saxs_fit_ok"),
                **{
                    f"saxs_pop{i}_{field}": rec.get(f"saxs_pop{i}_{field}")
                    for i in (1, 2, 3)
                    for field in ("radius_nm", "volume_fraction")
                },
            }
        )
    return rows
