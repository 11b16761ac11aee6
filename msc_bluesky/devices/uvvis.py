"""UV-Vis spectrometer on the optical flow cell (``{P}uvvis:``).

Event data keys: ``uvvis_absorbance``, ``uvvis_counts`` (normal); configuration
``uvvis_wavelength``, ``uvvis_integration_time``, ``uvvis_averages``,
``uvvis_path_length``, ``uvvis_dark``, ``uvvis_reference``.
"""

from __future__ import annotations

from msc_bluesky.devices.acquisition import AcquiringDetector
from msc_bluesky.devices.signals import ro, rw, waveform

#: Values of the ``mode`` PV.
MODES: tuple[str, ...] = ("sample", "dark", "reference")


class UVVisSpectrometer(AcquiringDetector):
    """Absorbance spectrometer: ``mode`` selects what the next acquisition records.

    In ``sample`` mode an acquisition updates ``absorbance`` and ``counts``; in
    ``dark``/``reference`` mode it stores ``counts`` as the dark/reference spectrum
    (see :func:`msc_bluesky.plans.calibration.take_dark_and_reference`).
    """

    absorbance = waveform("absorbance", kind="normal", auto_monitor=True)
    counts = waveform("counts", kind="normal", auto_monitor=True)
    wavelength = waveform("wavelength", kind="config")
    integration_time = rw("integration_time", kind="config")
    averages = rw("averages", kind="config")
    path_length = ro("path_length", kind="config")
    dark = waveform("dark", kind="config")
    reference = waveform("reference", kind="config")
    mode = rw("mode", kind="omitted", string=True)
