"""Dark and reference spectra for the UV-Vis spectrometer."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import bluesky.plan_stubs as bps
from bluesky.preprocessors import finalize_wrapper
from bluesky.utils import Msg

from msc_bluesky.devices.uvvis import UVVisSpectrometer


def take_dark_and_reference(
    uvvis: UVVisSpectrometer, *, dark_stream: str = "dark",
    reference_stream: str = "reference",
) -> Generator[Msg, Any, None]:
    """Record a dark and a reference spectrum inside an open run (plan stub).

    Switches the ``mode`` PV to ``dark`` and ``reference`` in turn, acquires, and reads
    the spectrometer into the streams ``dark`` and ``reference`` (their
    ``uvvis_counts`` is the stored spectrum), then returns to ``sample`` mode, also on
    error. The primary stream's configuration then carries ``uvvis_dark`` and
    ``uvvis_reference``.
    """

    def acquire_all() -> Generator[Msg, Any, None]:
        for mode, stream in (("dark", dark_stream), ("reference", reference_stream)):
            yield from bps.mv(uvvis.mode, mode)
            yield from bps.trigger_and_read([uvvis], name=stream)

    def back_to_sample() -> Generator[Msg, Any, None]:
        yield from bps.mv(uvvis.mode, "sample")

    yield from finalize_wrapper(acquire_all(), back_to_sample)
