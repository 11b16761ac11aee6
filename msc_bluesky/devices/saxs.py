"""SAXS detector on the X-ray flow cell (``{P}saxs:``).

Event data keys: ``saxs_intensity``, ``saxs_intensity_sigma``, ``saxs_transmission``
(normal); configuration ``saxs_q``, ``saxs_exposure_time``. The 2D ``image`` is
``omitted`` by default; record it with ``saxs.image.kind = "normal"`` before a run
(it is then described with shape ``[image_height, image_width]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ophyd import Component as Cpt
from ophyd import EpicsSignalRO

from msc_bluesky.devices.acquisition import AcquiringDetector
from msc_bluesky.devices.signals import (
    CONNECTION_TIMEOUT_S,
    READ_TIMEOUT_S,
    WaveformDescribeMixin,
    ro,
    rw,
    waveform,
)


class ImageShapeMixin(WaveformDescribeMixin):
    """Read and describe a flattened image as 2D (height, width).

    Height and width come from the parent's ``image_height``/``image_width`` signals.
    """

    def _shape(self) -> tuple[int, int] | None:
        parent = getattr(self, "_parent", None)
        if parent is None or not hasattr(parent, "image_height"):
            return None
        return int(parent.image_height.get()), int(parent.image_width.get())

    def get(self, **kwargs: Any) -> Any:
        """Return the image as a 2D array (height, width) when the size matches."""
        value = super().get(**kwargs)
        shape = self._shape()
        array = np.asarray(value)
        if shape is not None and array.size == shape[0] * shape[1]:
            return array.reshape(shape)
        return value

    def describe(self) -> dict[str, dict[str, Any]]:
        """Describe with the 2D shape so stores keep the image unflattened."""
        description = super().describe()
        shape = self._shape()
        if shape is not None:
            description[self.name]["shape"] = list(shape)
        return description


class ImageSignal(ImageShapeMixin, EpicsSignalRO):
    """A flattened image PV that reads and describes as a 2D array."""


class SAXSDetector(AcquiringDetector):
    """Azimuthally integrated SAXS: I(q) with uncertainty, plus an optional image."""

    intensity = waveform("intensity", kind="normal", auto_monitor=True)
    intensity_sigma = waveform("intensity_sigma", kind="normal", auto_monitor=True)
    transmission = ro("transmission", kind="normal")
    q = waveform("q", kind="config")
    exposure_time = rw("exposure_time", kind="config")
    image = Cpt(ImageSignal, "image", kind="omitted",
                connection_timeout=CONNECTION_TIMEOUT_S, timeout=READ_TIMEOUT_S)
    image_width = ro("image_width", kind="omitted")
    image_height = ro("image_height", kind="omitted")
