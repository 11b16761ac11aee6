"""Reactor PVs (``{P}reactor:``): two heater zones, two pumps, geometry, safety.

The groups only wire PVs to :class:`msc_bluesky.sim.reactor.ReactorWorld`; refused
puts raise in the putter, so the Channel Access put fails and the value is unchanged.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

from caproto import ChannelType
from caproto.server import PVGroup, SubGroup, pvproperty

from msc_bluesky.iocs.common import (
    clear_put_alarm,
    separate_alarms,
    sim_state,
    write_alarm_flag,
    write_if_changed,
)
from msc_bluesky.limits import PUMP_MAX_FLOW_ML_MIN, TEMPERATURE_LIMITS_C
from msc_bluesky.sim.reactor import DEFAULT_RESERVOIR_ML, PumpError

T_LOW, T_HIGH = TEMPERATURE_LIMITS_C
#: Wall seconds between updates of the simulated reactor's PVs (clock, heaters, pumps).
#: Every wait a plan makes ends on an update, so this is the granularity of the waits:
#: at time scale 100, 0.05 s is 5 simulated seconds (0.3 residence volumes at 14 s).
SCAN_PERIOD_S = 0.02


@separate_alarms
class HeaterGroup(PVGroup):
    """One heater zone; ``zone`` names the ReactorWorld heater."""

    zone: ClassVar[str] = "nucleation"

    setpoint = pvproperty(value=25.0, units="degC", precision=2,
                          lower_ctrl_limit=T_LOW, upper_ctrl_limit=T_HIGH,
                          doc=f"Heater setpoint (°C), {T_LOW:g}-{T_HIGH:g}; NaN/inf refused; "
                              "every put drops at_temperature to 0")
    readback = pvproperty(value=25.0, units="degC", precision=2, read_only=True,
                          doc="Measured temperature (°C)")
    ramp_rate = pvproperty(value=2.0, units="degC/s", precision=3,
                           doc="Ramp rate (°C/s), > 0 and <= 1000")
    tolerance = pvproperty(value=0.5, units="degC", precision=3,
                           doc="At-temperature tolerance (°C), 0-100")
    settle_time = pvproperty(value=5.0, units="s", precision=2,
                             doc="Seconds (simulated) within tolerance before at_temperature")
    at_temperature = pvproperty(value=0, read_only=True,
                                doc="1 when enabled, within tolerance and settled; drops to 0 "
                                    "on every setpoint put")
    enable = pvproperty(value=0, doc="Heater on (1) or off (0, cools toward ambient); "
                                     "off at start-up")

    @property
    def heater(self):
        """The simulated heater behind this group."""
        return sim_state(self).world.heaters[self.zone]

    @setpoint.putter
    async def setpoint(self, instance, value):
        sim_state(self).sync()
        try:
            self.heater.set_setpoint(value)
        except ValueError as err:
            raise ValueError(f"{instance.pvname}: {err}") from None
        await self.at_temperature.write(0)
        await clear_put_alarm(instance)
        return self.heater.setpoint

    @ramp_rate.putter
    async def ramp_rate(self, instance, value):
        sim_state(self).sync()
        self.heater.ramp_rate = value
        await clear_put_alarm(instance)
        return self.heater.ramp_rate

    @tolerance.putter
    async def tolerance(self, instance, value):
        sim_state(self).sync()
        self.heater.tolerance = value
        await clear_put_alarm(instance)
        return self.heater.tolerance

    @settle_time.putter
    async def settle_time(self, instance, value):
        sim_state(self).sync()
        self.heater.settle_time = value
        await clear_put_alarm(instance)
        return self.heater.settle_time

    @enable.putter
    async def enable(self, instance, value):
        if value not in (0, 1):
            raise ValueError(f"{instance.pvname} = {value!r}: allowed values are 0 and 1")
        sim_state(self).sync()
        sim_state(self).world.enable_heater(self.zone, bool(value))
        if value:
            sim_state(self).switched_on()
        await clear_put_alarm(instance)
        return int(value)

    async def refresh(self) -> None:
        """Copy the simulated heater's state to the PVs."""
        h = self.heater
        await write_if_changed(self.readback, round(h.readback, 6))
        await write_if_changed(self.at_temperature, int(h.at_temperature))
        await write_if_changed(self.enable, int(h.enabled))
        await write_if_changed(self.setpoint, h.setpoint)


class NucleationHeater(HeaterGroup):
    """Nucleation chamber heater."""

    zone = "nucleation"


class GrowthHeater(HeaterGroup):
    """Growth oven heater."""

    zone = "growth"


@separate_alarms
class PumpGroup(PVGroup):
    """One precursor pump; ``pump`` names the ReactorWorld pump."""

    pump_name: ClassVar[str] = "cd"

    flow_setpoint = pvproperty(value=0.0, units="mL/min", precision=4,
                               lower_ctrl_limit=0.0, upper_ctrl_limit=PUMP_MAX_FLOW_ML_MIN,
                               doc="Flow setpoint (mL/min), 0-max_flow; NaN/inf refused")
    flow = pvproperty(value=0.0, units="mL/min", precision=4, read_only=True,
                      doc="Flow readback (mL/min): the setpoint while running, else 0")
    run = pvproperty(value=0, doc="Pump running (1) or stopped (0); run=1 refused when dry")
    volume_left = pvproperty(value=0.0, units="mL", precision=4, read_only=True,
                             doc="Volume left in the reservoir (mL)")
    dispensed = pvproperty(value=0.0, units="mL", precision=4, read_only=True,
                           doc="Cumulative volume pumped (mL)")
    max_flow = pvproperty(value=PUMP_MAX_FLOW_ML_MIN, units="mL/min", precision=3,
                          read_only=True, doc="Maximum flow (mL/min), configuration")
    capacity = pvproperty(value=DEFAULT_RESERVOIR_ML, units="mL", precision=3,
                          doc="Reservoir volume a refill fills to (mL), > 0")
    refill = pvproperty(value=0, doc="Put 1 to refill the reservoir to capacity (clears dry)")
    alarm = pvproperty(value=0, read_only=True,
                       doc="1 when the pump ran dry (stopped; refill, then run=1)")

    @property
    def pump(self):
        """The simulated pump behind this group."""
        return sim_state(self).world.pumps[self.pump_name]

    @flow_setpoint.putter
    async def flow_setpoint(self, instance, value):
        sim_state(self).sync()
        try:
            self.pump.set_setpoint(value)
        except ValueError as err:
            raise ValueError(f"{instance.pvname}: {err}") from None
        await clear_put_alarm(instance)
        return self.pump.setpoint

    @run.putter
    async def run(self, instance, value):
        if value not in (0, 1):
            raise ValueError(f"{instance.pvname} = {value!r}: allowed values are 0 and 1")
        sim_state(self).sync()
        try:
            sim_state(self).world.start_pump(self.pump_name, bool(value))
        except PumpError as err:
            raise ValueError(f"{instance.pvname}: {err}") from None
        if value:
            sim_state(self).switched_on()
        await clear_put_alarm(instance)
        return int(value)

    @capacity.putter
    async def capacity(self, instance, value):
        self.pump.capacity_ml = value
        await clear_put_alarm(instance)
        return self.pump.capacity_ml

    @refill.putter
    async def refill(self, instance, value):
        if value:
            sim_state(self).sync()
            self.pump.refill()
            await self.refresh()
        return 0

    async def refresh(self) -> None:
        """Copy the simulated pump's state to the PVs."""
        p = self.pump
        await write_if_changed(self.flow, p.flow)
        await write_if_changed(self.run, int(p.running))
        await write_if_changed(self.volume_left, round(p.volume_left, 9))
        await write_if_changed(self.dispensed, round(p.dispensed, 9))
        await write_if_changed(self.max_flow, p.max_flow)
        await write_if_changed(self.capacity, p.capacity_ml)
        await write_alarm_flag(self.alarm, p.dry)


class CdPump(PumpGroup):
    """Cd precursor pump."""

    pump_name = "cd"


class SePump(PumpGroup):
    """Se precursor pump."""

    pump_name = "se"


@separate_alarms
class ReactorGroup(PVGroup):
    """Flow reactor: heaters, pumps, geometry, derived reaction time, safety."""

    nuc = SubGroup(NucleationHeater, prefix="nuc:", doc="Nucleation chamber heater")
    growth = SubGroup(GrowthHeater, prefix="growth:", doc="Growth oven heater")
    pump_cd = SubGroup(CdPump, prefix="pump_cd:", doc="Cd precursor pump")
    pump_se = SubGroup(SePump, prefix="pump_se:", doc="Se precursor pump")

    volume_nuc = pvproperty(value=0.020, units="mL", precision=4,
                            doc="Nucleation chamber volume (mL), configuration, > 0")
    volume_growth = pvproperty(value=0.280, units="mL", precision=4,
                               doc="Growth oven volume (mL), configuration, > 0")
    volume_transfer = pvproperty(value=0.050, units="mL", precision=4,
                                 doc="Transfer line to the flow cells (mL), configuration, > 0")
    reaction_time = pvproperty(value=math.inf, units="s", precision=4, read_only=True,
                               doc="(V_nuc+V_growth)/total flow readback (s); inf without flow")
    heartbeat = pvproperty(value=0, doc="Clients put any value; restarts the watchdog timer")
    watchdog_timeout = pvproperty(value=0.0, units="s", precision=2,
                                  doc="Simulated s without heartbeat before heaters go to "
                                      "standby; > 0 and <= 10 s of wall time; 0 (off) only "
                                      "with --no-watchdog")
    standby = pvproperty(value=0, doc="Put 1: heaters off, pumps stopped")
    alarm = pvproperty(value=0, read_only=True,
                       doc="0 OK, 1 watchdog tripped, 2 pump ran dry, 3 other, "
                           "4 no-flow interlock tripped")
    status = pvproperty(value="starting", dtype=ChannelType.STRING, read_only=True,
                        doc="Human-readable state or last alarm reason")
    sim_time = pvproperty(value=0.0, units="s", precision=3, read_only=True,
                          doc="Simulated clock (s)")
    time_scale = pvproperty(value=1.0, precision=3, read_only=True,
                            doc="Simulated seconds per wall second")

    async def _put_volume(self, instance, value, field: str):
        st = sim_state(self)
        st.sync()
        try:
            st.world.geometry = dataclasses.replace(st.world.geometry, **{field: float(value)})
        except (TypeError, ValueError) as err:
            raise ValueError(f"{instance.pvname}: {err}") from None
        await clear_put_alarm(instance)
        await self.refresh()
        return float(value)

    @volume_nuc.putter
    async def volume_nuc(self, instance, value):
        return await self._put_volume(instance, value, "nucleation_volume_ml")

    @volume_growth.putter
    async def volume_growth(self, instance, value):
        return await self._put_volume(instance, value, "growth_volume_ml")

    @volume_transfer.putter
    async def volume_transfer(self, instance, value):
        return await self._put_volume(instance, value, "transfer_volume_ml")

    @heartbeat.putter
    async def heartbeat(self, instance, value):
        sim_state(self).sync()
        sim_state(self).world.heartbeat()
        return value

    @watchdog_timeout.putter
    async def watchdog_timeout(self, instance, value):
        st = sim_state(self)
        st.sync()
        try:
            st.set_watchdog_timeout(value)
        except ValueError as err:
            raise ValueError(f"{instance.pvname}: {err}") from None
        await clear_put_alarm(instance)
        return st.world.watchdog_timeout

    @standby.putter
    async def standby(self, instance, value):
        if value:
            sim_state(self).sync()
            sim_state(self).world.standby("requested")
            await self.refresh()
        return 0

    @time_scale.startup
    async def time_scale(self, instance, async_lib):
        st = sim_state(self)
        await instance.write(st.time_scale)
        g = st.world.geometry
        await self.volume_nuc.write(g.nucleation_volume_ml, verify_value=False)
        await self.volume_growth.write(g.growth_volume_ml, verify_value=False)
        await self.volume_transfer.write(g.transfer_volume_ml, verify_value=False)
        await self.watchdog_timeout.write(st.world.watchdog_timeout, verify_value=False)
        await self.refresh()

    async def refresh(self) -> None:
        """Copy the simulated reactor's state to the PVs."""
        st = sim_state(self)
        world = st.world
        for sub in (self.nuc, self.growth, self.pump_cd, self.pump_se):
            await sub.refresh()
        await write_if_changed(self.reaction_time, world.reaction_time)
        await write_if_changed(self.status, st.status)
        await write_alarm_flag(self.alarm, st.alarm)
        await write_if_changed(self.sim_time, round(world.time, 6))

    @sim_time.scan(period=SCAN_PERIOD_S)
    async def sim_time(self, instance, async_lib):
        st = sim_state(self)
        st.sync()
        await self.refresh()
        st.warm_signals()
