"""The two-zone continuous-flow reactor: heaters, pumps and the reaction time.

PV names follow docs/architecture.md (``{P}reactor:...``). Event data keys:
``reactor_t_nuc``, ``reactor_t_nuc_setpoint``, ``reactor_t_growth``,
``reactor_t_growth_setpoint``, ``reactor_reaction_time``,
``reactor_reaction_time_setpoint``, ``reactor_pump_cd_flow``, ``reactor_pump_se_flow``;
configuration ``reactor_volume_nuc``, ``reactor_volume_growth``,
``reactor_volume_transfer`` (plus heater tuning, pump maximum flows, flow ratio).
"""

from __future__ import annotations

import math
import threading
from typing import Any

from ophyd import Component as Cpt
from ophyd import Device, PVPositioner, PVPositionerIsClose, Signal
from ophyd.signal import InternalSignal
from ophyd.status import DeviceStatus, Status

from msc_bluesky.devices.signals import ro, rw
from msc_bluesky.limits import TEMPERATURE_LIMITS_C, ConditionError

#: Default time (s, wall clock) a heater may take to reach and settle at a setpoint.
HEATER_TIMEOUT_S: float = 1800.0
#: Default time (s) a pump may take to reach its flow.
PUMP_TIMEOUT_S: float = 60.0
#: Default time (s) to wait for temperatures to settle and the reactor to be flushed.
FLUSH_TIMEOUT_S: float = 1800.0


def flows_for_reaction_time(
    reaction_time_s: float, reaction_volume_ml: float, cd_se_ratio: float = 1.0
) -> tuple[float, float]:
    """Pump flows (mL/min) that give a residence time at a fixed Cd:Se flow ratio.

    ``t = V / (Q_cd + Q_se)`` with ``Q_cd / Q_se = cd_se_ratio``.

    Parameters
    ----------
    reaction_time_s : float
        Requested residence time in the reactor (s), finite and > 0.
    reaction_volume_ml : float
        Nucleation chamber plus growth oven volume (mL), > 0.
    cd_se_ratio : float
        Cd:Se flow ratio, > 0.

    Returns
    -------
    (q_cd, q_se) : tuple of float
        Flows in mL/min.
    """
    if not (math.isfinite(reaction_time_s) and reaction_time_s > 0):
        raise ConditionError(
            f"reaction_time = {reaction_time_s!r} s is not allowed; it must be a finite time > 0 s"
        )
    if not (math.isfinite(reaction_volume_ml) and reaction_volume_ml > 0):
        raise ConditionError(f"reactor volume {reaction_volume_ml!r} mL must be finite and > 0")
    if not (math.isfinite(cd_se_ratio) and cd_se_ratio > 0):
        raise ConditionError(f"Cd:Se flow ratio {cd_se_ratio!r} must be finite and > 0")
    total = reaction_volume_ml / reaction_time_s * 60.0
    q_cd = total * cd_se_ratio / (1.0 + cd_se_ratio)
    return q_cd, total - q_cd


def reaction_time_range(
    reaction_volume_ml: float, max_flow_cd: float, max_flow_se: float, cd_se_ratio: float = 1.0
) -> float:
    """Shortest reachable reaction time (s) for the given geometry and pump limits.

    The longest is unbounded (flows tend to zero).
    """
    # The pump that hits its maximum first limits the total flow.
    total = min(
        max_flow_cd * (1.0 + cd_se_ratio) / cd_se_ratio, max_flow_se * (1.0 + cd_se_ratio)
    )
    return reaction_volume_ml / total * 60.0


class Heater(PVPositioner):
    """One heater zone: set the temperature, done when at temperature and settled.

    The IOC's ``at_temperature`` PV is the done signal; it drops to 0 on every setpoint
    put (even to the same value), so a move always finishes on a 0 -> 1 edge. Setting
    a temperature also enables the heater. The readback takes the device's name
    (``reactor_t_nuc``), like ``EpicsMotor``.
    """

    setpoint = rw("setpoint", kind="normal")
    readback = ro("readback", kind="hinted")
    done = ro("at_temperature", kind="omitted")
    done_value = 1
    enable = rw("enable", kind="omitted")
    ramp_rate = rw("ramp_rate", kind="config")
    tolerance = rw("tolerance", kind="config")
    settle_duration = rw("settle_time", kind="config")

    def __init__(self, prefix: str = "", *, name: str, timeout: float = HEATER_TIMEOUT_S,
                 **kwargs: Any) -> None:
        kwargs.setdefault("limits", TEMPERATURE_LIMITS_C)
        kwargs.setdefault("egu", "degC")
        super().__init__(prefix, name=name, timeout=timeout, **kwargs)
        self.readback.name = self.name

    def _setup_move(self, position: float) -> None:
        self.setpoint.put(position, wait=True)
        self.enable.put(1, wait=False)


class Pump(PVPositionerIsClose):
    """A syringe/HPLC pump as a flow positioner (mL/min); done when the flow is close.

    Setting a flow > 0 also starts the pump (``run`` = 1); setting 0 stops it. The
    readback is named ``<pump>_flow`` (``reactor_pump_cd_flow``).
    """

    setpoint = rw("flow_setpoint", kind="omitted")
    readback = ro("flow", kind="normal")
    run = rw("run", kind="omitted")
    dispensed = ro("dispensed", kind="omitted")
    volume_left = ro("volume_left", kind="omitted")
    max_flow = ro("max_flow", kind="config")
    refill = rw("refill", kind="omitted")
    alarm = ro("alarm", kind="omitted")
    done = Cpt(InternalSignal, value=0, kind="omitted")
    atol = 1e-3
    rtol = 1e-3

    def __init__(self, prefix: str = "", *, name: str, timeout: float = PUMP_TIMEOUT_S,
                 **kwargs: Any) -> None:
        kwargs.setdefault("egu", "mL/min")
        super().__init__(prefix, name=name, timeout=timeout, **kwargs)
        self.readback.name = f"{self.name}_flow"
        self.readback.kind = "normal"

    def check_value(self, pos: float) -> None:
        """Refuse flows outside 0 … ``max_flow`` (read from the IOC)."""
        max_flow = float(self.max_flow.get())
        if not (math.isfinite(pos) and 0.0 <= pos <= max_flow * (1 + 1e-9)):
            raise ConditionError(
                f"{self.name} flow {pos!r} mL/min is outside the allowed range "
                f"0–{max_flow:g} mL/min"
            )

    def _setup_move(self, position: float) -> None:
        self.setpoint.put(position, wait=True)
        self.run.put(1 if position > 0 else 0, wait=False)


class ReactionTime(Device):
    """Residence time positioner: sets both pump flows at a fixed Cd:Se ratio.

    Reads ``reactor_reaction_time`` (the IOC's value from the flow readbacks) and
    ``reactor_reaction_time_setpoint`` (the last requested time). Geometry and pump
    limits come from the parent :class:`FlowReactor`'s configuration PVs.
    """

    readback = ro("reaction_time", kind="hinted")
    setpoint = Cpt(Signal, value=math.nan, kind="normal")

    def __init__(self, prefix: str = "", *, name: str, **kwargs: Any) -> None:
        super().__init__(prefix, name=name, **kwargs)
        self.readback.name = self.name

    @property
    def position(self) -> float:
        """The measured reaction time (s)."""
        return self.readback.get()

    def flows_for(self, reaction_time_s: float) -> tuple[float, float]:
        """Pump flows (mL/min) for a reaction time, checked against the pumps' maxima."""
        reactor = self.parent
        volume = reactor.volume_nuc.get() + reactor.volume_growth.get()
        ratio = reactor.flow_ratio.get()
        q_cd, q_se = flows_for_reaction_time(reaction_time_s, volume, ratio)
        max_cd, max_se = reactor.pump_cd.max_flow.get(), reactor.pump_se.max_flow.get()
        if q_cd > max_cd or q_se > max_se:
            shortest = reaction_time_range(volume, max_cd, max_se, ratio)
            raise ConditionError(
                f"reaction_time = {reaction_time_s!r} s needs flows Cd {q_cd:.3g} / Se "
                f"{q_se:.3g} mL/min, above the pump maxima ({max_cd:g} / {max_se:g} mL/min); "
                f"reachable reaction times are >= {shortest:.3g} s"
            )
        return q_cd, q_se

    def set(self, value: float, *, timeout: float | None = None) -> Status:
        """Set both pump flows so that the residence time is ``value`` seconds."""
        q_cd, q_se = self.flows_for(float(value))
        self.setpoint.put(float(value))
        reactor = self.parent
        return reactor.pump_cd.set(q_cd, timeout=timeout) & reactor.pump_se.set(
            q_se, timeout=timeout
        )

    def stop(self, *, success: bool = False) -> None:
        """Flows are left as they are; :func:`msc_bluesky.plans.safety.safe_state` stops pumps."""


class Flush(Device):
    """Wait for both heaters to settle, then for a volume of liquid to pass.

    ``flush.set(volume_ml)`` returns a status that finishes once both heaters report
    ``at_temperature`` and, from then on, the pumps' ``dispensed`` totals have grown by
    ``volume_ml``. Measuring volume instead of time keeps waits independent of the
    flow and of the simulator's time scale.

    ``settled_total_ml`` holds the pumps' summed ``dispensed`` (mL) at the moment the
    last flush found both heaters settled (nan before any): the volume flushed since
    then is the current total minus it, whatever the PVs' update period.
    """

    def __init__(self, prefix: str = "", *, name: str, timeout: float = FLUSH_TIMEOUT_S,
                 **kwargs: Any) -> None:
        super().__init__(prefix, name=name, **kwargs)
        self.timeout = timeout
        self._pending: list[DeviceStatus] = []
        self.settled_total_ml: float = math.nan

    def set(self, volume_ml: float, *, timeout: float | None = None) -> DeviceStatus:
        """Return a status that finishes when settled and ``volume_ml`` has been pumped."""
        volume_ml = float(volume_ml)
        if not (math.isfinite(volume_ml) and volume_ml >= 0):
            raise ValueError(f"flush volume {volume_ml!r} mL must be finite and >= 0")
        reactor = self.parent
        status = DeviceStatus(self, timeout=self.timeout if timeout is None else timeout)
        lock = threading.Lock()
        state: dict[str, Any] = {"nuc": None, "growth": None, "cd": None, "se": None,
                                 "baseline": None, "finished": False}
        watched = {
            "nuc": reactor.t_nuc.done,
            "growth": reactor.t_growth.done,
            "cd": reactor.pump_cd.dispensed,
            "se": reactor.pump_se.dispensed,
        }
        cids: dict[str, int] = {}

        def update(key: str, value: Any) -> None:
            with lock:
                if state["finished"] or status.done:
                    return
                state[key] = value
                if None in (state["nuc"], state["growth"], state["cd"], state["se"]):
                    return
                total = float(state["cd"]) + float(state["se"])
                if state["baseline"] is None:
                    if int(state["nuc"]) == 1 and int(state["growth"]) == 1:
                        state["baseline"] = total
                        self.settled_total_ml = total
                    else:
                        return
                if total - state["baseline"] >= volume_ml - 1e-12:
                    state["finished"] = True
                    status.set_finished()

        def unsubscribe(_status: Any = None) -> None:
            for key, cid in list(cids.items()):
                watched[key].unsubscribe(cid)
                cids.pop(key, None)

        status.add_callback(unsubscribe)
        for key, signal in watched.items():
            cids[key] = signal.subscribe(
                lambda value, _key=key, **kw: update(_key, value), run=True
            )
        if status.done:
            unsubscribe()
        return status

    def stop(self, *, success: bool = False) -> None:
        """Nothing moves; pending flush waits simply time out or finish."""


class FlowReactor(Device):
    """Continuous-flow reactor: nucleation and growth heaters, Cd and Se pumps.

    Components
    ----------
    t_nuc, t_growth : Heater
        Temperature positioners (°C).
    reaction_time : ReactionTime
        Residence time positioner (s); sets both pump flows at ``flow_ratio``.
    pump_cd, pump_se : Pump
        Flow positioners (mL/min).
    flush : Flush
        ``set(volume_ml)``: wait until settled and ``volume_ml`` has been pumped.
    volume_nuc, volume_growth, volume_transfer : EpicsSignal
        Geometry (mL), configuration read from the IOC.
    flow_ratio : Signal
        Cd:Se flow ratio kept by ``reaction_time`` (default 1).
    """

    t_nuc = Cpt(Heater, "nuc:")
    t_growth = Cpt(Heater, "growth:")
    reaction_time = Cpt(ReactionTime, "")
    pump_cd = Cpt(Pump, "pump_cd:")
    pump_se = Cpt(Pump, "pump_se:")
    flush = Cpt(Flush, "", kind="omitted")
    volume_nuc = ro("volume_nuc", kind="config")
    volume_growth = ro("volume_growth", kind="config")
    volume_transfer = rw("volume_transfer", kind="config")
    flow_ratio = Cpt(Signal, value=1.0, kind="config")
    standby = rw("standby", kind="omitted")
    alarm = ro("alarm", kind="omitted")
    status_message = ro("status", kind="omitted", string=True)
    heartbeat = rw("heartbeat", kind="omitted")
    watchdog_timeout = rw("watchdog_timeout", kind="omitted")
    sim_time = ro("sim_time", kind="omitted")
    time_scale = ro("time_scale", kind="omitted")

    @property
    def heaters(self) -> tuple[Heater, Heater]:
        """Both heater zones."""
        return (self.t_nuc, self.t_growth)

    @property
    def pumps(self) -> tuple[Pump, Pump]:
        """Both pumps."""
        return (self.pump_cd, self.pump_se)
