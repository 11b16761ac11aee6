"""In-process fake of the reactor, spectrometer and SAXS detector (no EPICS).

The real device classes from msc_bluesky.devices are turned into fakes with
``ophyd.sim.make_fake_device``; this module wires their signals like the IOC would:
heaters reach their setpoint and report ``at_temperature``, pump flows follow their
setpoints while running, a clock thread pumps liquid (``dispensed``), detectors
produce arrays and count acquisitions. Tests can inject faults through hooks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from ophyd.sim import FakeEpicsSignalRO, fake_device_cache, make_fake_device

from msc_bluesky.devices import FlowReactor, SAXSDetector, UVVisSpectrometer
from msc_bluesky.devices.saxs import ImageShapeMixin, ImageSignal
from msc_bluesky.devices.signals import WaveformDescribeMixin, WaveformSignalRO


class FakeImageSignal(ImageShapeMixin, FakeEpicsSignalRO):
    """Fake of :class:`~msc_bluesky.devices.saxs.ImageSignal`."""


class FakeWaveformSignalRO(WaveformDescribeMixin, FakeEpicsSignalRO):
    """Fake of :class:`~msc_bluesky.devices.signals.WaveformSignalRO`."""


fake_device_cache[ImageSignal] = FakeImageSignal
fake_device_cache[WaveformSignalRO] = FakeWaveformSignalRO

VOLUMES_ML = {"volume_nuc": 0.02, "volume_growth": 0.28, "volume_transfer": 0.05}
MAX_FLOW = 10.0


class FakeLab:
    """Fake devices plus their dynamics.

    Parameters
    ----------
    time_scale : float
        Simulated seconds per wall second for pumping.
    tick_s : float
        Wall-clock period of the pumping thread.
    """

    def __init__(self, *, time_scale: float = 1000.0, tick_s: float = 0.002) -> None:
        self.reactor = make_fake_device(FlowReactor)("FAKE:reactor:", name="reactor")
        self.uvvis = make_fake_device(UVVisSpectrometer)("FAKE:uvvis:", name="uvvis")
        self.saxs = make_fake_device(SAXSDetector)("FAKE:saxs:", name="saxs")
        self.time_scale = time_scale
        self.tick_s = tick_s
        self.on_acquire: list[Callable[[str, int], None]] = []
        self.acquisitions = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._initialise()
        self._thread = threading.Thread(target=self._pump_clock, daemon=True)
        self._thread.start()

    # -- set-up -------------------------------------------------------------------------
    def _initialise(self) -> None:
        r = self.reactor
        for name, value in VOLUMES_ML.items():
            getattr(r, name).sim_put(value)
        for heater in r.heaters:
            heater.readback.sim_put(25.0)
            heater.setpoint.sim_put(25.0)
            heater.done.sim_put(0)
            heater.enable.sim_put(0)
            heater.ramp_rate.sim_put(2.0)
            heater.tolerance.sim_put(0.5)
            heater.settle_duration.sim_put(5.0)
            heater.setpoint.subscribe(self._heater_hook(heater), run=False)
        for pump in r.pumps:
            pump.max_flow.sim_put(MAX_FLOW)
            pump.setpoint.sim_put(0.0)
            pump.readback.sim_put(0.0)
            pump.run.sim_put(0)
            pump.dispensed.sim_put(0.0)
            pump.volume_left.sim_put(250.0)
            pump.alarm.sim_put(0)
            pump.setpoint.subscribe(self._pump_hook(pump), run=False)
            pump.run.subscribe(self._pump_hook(pump), run=False)
        r.reaction_time.readback.sim_put(float("inf"))
        wavelength = np.linspace(300, 700, 1000)
        u = self.uvvis
        u.wavelength.sim_put(wavelength)
        for sig in (u.absorbance, u.counts, u.dark, u.reference):
            sig.sim_put(np.zeros_like(wavelength))
        u.integration_time.sim_put(0.1)
        u.averages.sim_put(1)
        u.path_length.sim_put(0.1)
        u.mode.sim_put("sample")
        q = np.geomspace(0.05, 8, 300)
        s = self.saxs
        s.q.sim_put(q)
        for sig in (s.intensity, s.intensity_sigma):
            sig.sim_put(np.zeros_like(q))
        s.transmission.sim_put(0.9)
        s.exposure_time.sim_put(1.0)
        s.image_width.sim_put(4)
        s.image_height.sim_put(3)
        s.image.sim_put(np.arange(12.0))
        for det in (u, s):
            det.array_counter.sim_put(0)
            det.acquire.subscribe(self._acquire_hook(det), run=False)

    # -- dynamics -------------------------------------------------------------------------
    def _heater_hook(self, heater: Any) -> Callable[..., None]:
        def on_setpoint(value: float, **kwargs: Any) -> None:
            heater.done.sim_put(0)
            heater.readback.sim_put(float(value))
            heater.done.sim_put(1)

        return on_setpoint

    def _pump_hook(self, pump: Any) -> Callable[..., None]:
        def on_change(**kwargs: Any) -> None:
            flow = float(pump.setpoint.get()) if int(pump.run.get()) else 0.0
            pump.readback.sim_put(flow)
            total = sum(float(p.readback.get()) for p in self.reactor.pumps)
            volume = VOLUMES_ML["volume_nuc"] + VOLUMES_ML["volume_growth"]
            self.reactor.reaction_time.readback.sim_put(
                volume / total * 60.0 if total > 0 else float("inf")
            )

        return on_change

    def _acquire_hook(self, det: Any) -> Callable[..., None]:
        def on_acquire(value: int, **kwargs: Any) -> None:
            if int(value) != 1:
                return
            with self._lock:
                self.acquisitions += 1
                count = self.acquisitions
            r = self.reactor
            level = r.t_nuc.readback.get() / 100 + r.reaction_time.readback.get() / 100
            if det is self.uvvis:
                det.absorbance.sim_put(np.full(1000, level))
                det.counts.sim_put(np.full(1000, 1000.0 * level))
            else:
                det.intensity.sim_put(np.full(300, level))
                det.intensity_sigma.sim_put(np.full(300, 0.01))
            for hook in list(self.on_acquire):
                hook(det.name, count)
            det.array_counter.sim_put(int(det.array_counter.get()) + 1)

        return on_acquire

    def _pump_clock(self) -> None:
        sim_time = 0.0
        while not self._stop.wait(self.tick_s):
            sim_time += self.tick_s * self.time_scale
            self.reactor.sim_time.sim_put(sim_time)  # the IOC's clock moves, as on the IOC
            for pump in self.reactor.pumps:
                flow = float(pump.readback.get())
                if flow > 0:
                    added = flow / 60.0 * self.tick_s * self.time_scale
                    pump.dispensed.sim_put(float(pump.dispensed.get()) + added)

    def close(self) -> None:
        """Stop the pumping thread."""
        self._stop.set()
        self._thread.join(timeout=5)
