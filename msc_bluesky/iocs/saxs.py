"""SAXS detector PVs (``{P}saxs:``) on the X-ray flow cell.

An acquisition takes ``exposure_time`` simulated seconds; ``acquire`` supports
put-completion like the spectrometer's. The 2D image is the azimuthally constant
``I(q)`` of the same acquisition (see :mod:`msc_bluesky.sim.detectors`).
"""

from __future__ import annotations

import asyncio

import numpy as np
from caproto.server import PVGroup, pvproperty

from msc_bluesky.iocs.common import clear_put_alarm, run_acquisition, separate_alarms, sim_state
from msc_bluesky.sim import detectors
from msc_bluesky.sim.measurement import default_q_per_nm

N_Q = len(default_q_per_nm())
HEIGHT, WIDTH = detectors.IMAGE_SHAPE


@separate_alarms
class SaxsGroup(PVGroup):
    """SAXS detector with azimuthal integration."""

    q = pvproperty(value=[0.0] * (N_Q), max_length=N_Q, read_only=True, units="1/nm",
                   doc="q axis (nm^-1), 0.05-8, log-spaced")
    intensity = pvproperty(value=[0.0] * (N_Q), max_length=N_Q, read_only=True, units="1/cm",
                           doc="Azimuthally integrated I(q) (cm^-1) of the last acquisition")
    intensity_sigma = pvproperty(value=[0.0] * (N_Q), max_length=N_Q, read_only=True,
                                 units="1/cm", doc="Uncertainty of I(q) (cm^-1)")
    exposure_time = pvproperty(value=1.0, units="s", precision=3,
                               lower_ctrl_limit=1e-3, upper_ctrl_limit=3600.0,
                               doc="Exposure time (s), 1e-3-3600")
    transmission = pvproperty(value=detectors.SOLVENT_TRANSMISSION, precision=4,
                              read_only=True, doc="Sample transmission of the last acquisition")
    acquire = pvproperty(value=0, doc="Put 1 to acquire; back to 0 when done "
                                      "(put-completion waits for it)")
    busy = pvproperty(value=0, read_only=True, doc="1 while acquiring")
    array_counter = pvproperty(value=0, read_only=True,
                               doc="Increments on every finished acquisition")
    image = pvproperty(value=[0.0] * (HEIGHT * WIDTH), max_length=HEIGHT * WIDTH,
                       read_only=True, units="1/cm",
                       doc=f"2D detector image ({HEIGHT}x{WIDTH}, row-major) consistent with I(q)")
    image_width = pvproperty(value=WIDTH, read_only=True, doc="Image width (pixels)")
    image_height = pvproperty(value=HEIGHT, read_only=True, doc="Image height (pixels)")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lock = asyncio.Lock()

    @exposure_time.putter
    async def exposure_time(self, instance, value):
        await clear_put_alarm(instance)
        return value

    @q.startup
    async def q(self, instance, async_lib):
        st = sim_state(self)
        q = np.asarray(default_q_per_nm(), dtype=float)
        await instance.write(q)
        exposure = float(self.exposure_time.value)
        mix = st.world.cell_conditions()
        intensity, sigma = await st.compute(lambda: st.world.cell_saxs(q, exposure, mix=mix))
        await self.intensity.write(intensity)
        await self.intensity_sigma.write(sigma)
        await self.image.write(detectors.detector_image(q, intensity))

    @acquire.putter
    async def acquire(self, instance, value):
        return await run_acquisition(self, instance, value)

    async def _acquire_once(self) -> None:
        st = sim_state(self)
        exposure = float(self.exposure_time.value)
        start = st.sync()
        await st.wait_until(start + exposure)
        mix = st.world.cell_conditions()
        q = np.asarray(self.q.value, dtype=float)
        rng = st.rng

        def measure() -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
            intensity, sigma = st.world.cell_saxs(q, exposure, rng, mix=mix)
            weights, conditions = mix
            phi = sum(w * sum(p.volume_fraction
                              for p in st.world.composition_for(c).populations())
                      for w, c in zip(weights, conditions, strict=True))
            transmission = detectors.sample_transmission(phi, rng)
            return intensity, sigma, detectors.detector_image(q, intensity), transmission

        intensity, sigma, image, transmission = await st.compute(measure)
        await self.intensity.write(intensity)
        await self.intensity_sigma.write(sigma)
        await self.image.write(image)
        await self.transmission.write(transmission)
        await self.array_counter.write(int(self.array_counter.value) + 1)
