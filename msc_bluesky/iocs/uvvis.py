"""UV-Vis spectrometer PVs (``{P}uvvis:``) looking at the flow cell.

An acquisition takes ``integration_time * averages`` simulated seconds. ``acquire``
supports put-completion: the put returns when the acquisition is done, and ``acquire``
and ``busy`` drop back to 0 at the same moment.
"""

from __future__ import annotations

import asyncio

import numpy as np
from caproto import ChannelType
from caproto.server import PVGroup, pvproperty

from msc_bluesky.iocs.common import clear_put_alarm, run_acquisition, separate_alarms, sim_state
from msc_bluesky.sim import detectors
from msc_bluesky.sim.measurement import default_wavelength_nm

N_WAVELENGTH = len(default_wavelength_nm())
MODES = ("sample", "dark", "reference")


@separate_alarms
class UVVisGroup(PVGroup):
    """Spectrometer on the optical flow cell."""

    wavelength = pvproperty(value=[0.0] * (N_WAVELENGTH), max_length=N_WAVELENGTH,
                            read_only=True, units="nm", doc="Wavelength axis (nm), 300-700")
    absorbance = pvproperty(value=[0.0] * (N_WAVELENGTH), max_length=N_WAVELENGTH,
                            read_only=True,
                            doc="-log10((S-D)/(R-D)) of the last sample acquisition")
    counts = pvproperty(value=[0.0] * (N_WAVELENGTH), max_length=N_WAVELENGTH, read_only=True,
                        doc="Raw counts of the last acquisition (mean per scan)")
    dark = pvproperty(value=[0.0] * (N_WAVELENGTH), max_length=N_WAVELENGTH, read_only=True,
                      doc="Stored dark spectrum (counts per scan)")
    reference = pvproperty(value=[0.0] * (N_WAVELENGTH), max_length=N_WAVELENGTH,
                           read_only=True, doc="Stored reference spectrum (counts per scan)")
    integration_time = pvproperty(value=0.1, units="s", precision=4,
                                  lower_ctrl_limit=1e-4, upper_ctrl_limit=60.0,
                                  doc="Integration time per scan (s), 1e-4-60")
    averages = pvproperty(value=10, lower_ctrl_limit=1, upper_ctrl_limit=10000,
                          doc="Scans averaged per acquisition, 1-10000")
    mode = pvproperty(value="sample", enum_strings=MODES, dtype=ChannelType.ENUM,
                      doc="What the next acquire records: sample, dark or reference")
    acquire = pvproperty(value=0, doc="Put 1 to acquire; back to 0 when done "
                                      "(put-completion waits for it)")
    busy = pvproperty(value=0, read_only=True, doc="1 while acquiring")
    array_counter = pvproperty(value=0, read_only=True,
                               doc="Increments on every finished acquisition")
    path_length = pvproperty(value=0.1, units="cm", precision=3, read_only=True,
                             doc="Optical path length of the flow cell (cm), configuration")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lock = asyncio.Lock()
        self._dark_time = 0.1
        self._reference_time = 0.1

    @property
    def _wavelength(self) -> np.ndarray:
        return np.asarray(self.wavelength.value, dtype=float)

    @integration_time.putter
    async def integration_time(self, instance, value):
        await clear_put_alarm(instance)
        return value

    @averages.putter
    async def averages(self, instance, value):
        await clear_put_alarm(instance)
        return value

    @wavelength.startup
    async def wavelength(self, instance, async_lib):
        st = sim_state(self)
        wl = np.asarray(default_wavelength_nm(), dtype=float)
        await instance.write(wl)
        t = float(self.integration_time.value)
        mix = st.world.cell_conditions()
        blank = await st.compute(lambda: st.world.cell_spectrum(wl, None, mix=mix))
        self._dark_time = self._reference_time = t
        dark = detectors.expected_counts(blank, t, wl, dark_only=True)
        reference = detectors.expected_counts(blank, t, wl)
        await self.dark.write(dark)
        await self.reference.write(reference)
        await self.counts.write(reference)

    @acquire.putter
    async def acquire(self, instance, value):
        return await run_acquisition(self, instance, value)

    async def _acquire_once(self) -> None:
        st = sim_state(self)
        t = float(self.integration_time.value)
        n = int(self.averages.value)
        mode = self.mode.value
        start = st.sync()
        await st.wait_until(start + t * n)
        mix = st.world.cell_conditions()
        wl = self._wavelength
        path = float(self.path_length.value)
        rng = st.rng

        def measure() -> np.ndarray:
            blank_a = st.world.cell_spectrum(wl, None, path_length_cm=path, mix=mix)
            return detectors.measure_counts(blank_a, t, n, wl, rng, dark_only=(mode == "dark"))

        counts = await st.compute(measure)
        await self.counts.write(counts)
        if mode == "dark":
            self._dark_time = t
            await self.dark.write(counts)
        elif mode == "reference":
            self._reference_time = t
            await self.reference.write(counts)
        else:
            absorbance = detectors.absorbance_from_counts(
                counts, t, np.asarray(self.dark.value), self._dark_time,
                np.asarray(self.reference.value), self._reference_time)
            await self.absorbance.write(absorbance)
        await self.array_counter.write(int(self.array_counter.value) + 1)
