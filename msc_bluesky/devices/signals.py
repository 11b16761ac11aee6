"""Component helpers with finite Channel Access timeouts.

Every EPICS signal of the msc_bluesky devices is declared through :func:`ro`,
:func:`rw` or :func:`waveform`, so that connection, read and write timeouts are finite
everywhere: a device whose IOC has died raises after a few seconds instead of hanging a
plan. Scalars are monitored (``auto_monitor``: a read returns the latest monitor value
without a round trip); waveforms are read on demand, after their acquisition finished,
except the detectors' data (``uvvis`` absorbance and counts, ``saxs`` intensity and its
sigma), which are monitored too: the IOC writes them before it increments
``array_counter``, and Channel Access delivers one circuit's monitors in order, so a
finished trigger finds them in the cache (each read in a busy campaign process would
otherwise be a round trip of tens of ms).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ophyd import Component as Cpt
from ophyd import EpicsSignal, EpicsSignalRO

#: Seconds to wait for a PV to connect.
CONNECTION_TIMEOUT_S: float = 5.0
#: Seconds to wait for a read (CA get).
READ_TIMEOUT_S: float = 5.0
#: Seconds to wait for a plain write to be acknowledged.
WRITE_TIMEOUT_S: float = 10.0


def ro(suffix: str, kind: str = "normal", **kwargs: Any) -> Cpt:
    """Declare a read-only EPICS signal with finite timeouts.

    Parameters
    ----------
    suffix : str
        PV name relative to the parent device's prefix.
    kind : str
        ophyd kind: ``"hinted"``, ``"normal"``, ``"config"`` or ``"omitted"``.
    **kwargs
        Passed to :class:`ophyd.EpicsSignalRO` (e.g. ``string=True``).
    """
    kwargs.setdefault("connection_timeout", CONNECTION_TIMEOUT_S)
    kwargs.setdefault("timeout", READ_TIMEOUT_S)
    kwargs.setdefault("auto_monitor", True)
    return Cpt(EpicsSignalRO, suffix, kind=kind, **kwargs)


def rw(suffix: str, kind: str = "normal", **kwargs: Any) -> Cpt:
    """Declare a writable EPICS signal with finite timeouts.

    Parameters
    ----------
    suffix : str
        PV name relative to the parent device's prefix.
    kind : str
        ophyd kind.
    **kwargs
        Passed to :class:`ophyd.EpicsSignal` (e.g. ``put_complete=True``,
        ``write_timeout=60``).
    """
    kwargs.setdefault("connection_timeout", CONNECTION_TIMEOUT_S)
    kwargs.setdefault("timeout", READ_TIMEOUT_S)
    kwargs.setdefault("write_timeout", WRITE_TIMEOUT_S)
    kwargs.setdefault("auto_monitor", True)
    return Cpt(EpicsSignal, suffix, kind=kind, **kwargs)


class WaveformDescribeMixin:
    """Describe a float waveform with ``dtype="array"``, its shape and ``dtype_numpy``."""

    dtype_numpy: str = np.dtype("<f8").str

    def describe(self) -> dict[str, dict[str, Any]]:
        description = super().describe()  # type: ignore[misc]
        key = description[self.name]  # type: ignore[attr-defined]
        key["dtype"] = "array"
        key.setdefault("dtype_numpy", self.dtype_numpy)
        return description


class WaveformSignalRO(WaveformDescribeMixin, EpicsSignalRO):
    """Read-only float waveform PV (spectra, I(q), axes)."""


def waveform(suffix: str, kind: str = "normal", **kwargs: Any) -> Cpt:
    """Declare a read-only float waveform with finite timeouts (see :func:`ro`)."""
    kwargs.setdefault("connection_timeout", CONNECTION_TIMEOUT_S)
    kwargs.setdefault("timeout", READ_TIMEOUT_S)
    return Cpt(WaveformSignalRO, suffix, kind=kind, **kwargs)
