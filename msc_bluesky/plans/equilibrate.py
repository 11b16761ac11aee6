"""Wait until the flow cell shows the current condition."""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

import bluesky.plan_stubs as bps
import numpy as np
from bluesky.utils import Msg

from msc_bluesky.devices.reactor import FlowReactor
from msc_bluesky.devices.uvvis import UVVisSpectrometer
from msc_bluesky.plans.validation import (
    ReactorConfiguration,
    check_positive,
    read_reactor_configuration,
)

logger = logging.getLogger(__name__)


def equilibrate(
    reactor: FlowReactor,
    *,
    residence_volumes: float = 3,
    spectrometer: UVVisSpectrometer | None = None,
    drift_tolerance: float | None = None,
    max_drift_checks: int = 10,
    configuration: ReactorConfiguration | None = None,
) -> Generator[Msg, Any, bool]:
    """Wait for settled temperatures, N flushed residence volumes and (optionally) no drift.

    1. Both heaters report ``at_temperature`` (in tolerance and settled).
    2. From then on, ``residence_volumes`` × (reactor + transfer line volume) of liquid
       has been pumped, measured by the pumps' ``dispensed`` PVs (``reactor.flush``).
       No time is slept, so the wait is independent of flow and simulator time scale.
    3. With ``spectrometer`` and ``drift_tolerance``: acquire spectra one residence
       volume apart until the RMS change of the absorbance is <= ``drift_tolerance``
       (at most ``max_drift_checks`` spectra). These acquisitions emit no events.

    Parameters
    ----------
    reactor : FlowReactor
    residence_volumes : float
        Number of reactor + transfer volumes to flush after the temperatures settle.
    spectrometer : UVVisSpectrometer, optional
        Spectrometer for the drift check.
    drift_tolerance : float, optional
        Largest accepted RMS absorbance change between successive spectra.
    max_drift_checks : int
        Most spectra taken for the drift check.
    configuration : ReactorConfiguration, optional
        Geometry already read by the caller; read with ``bps.rd`` when omitted.

    Yields
    ------
    Msg

    Returns
    -------
    bool
        False only if a drift check was requested and did not converge (logged).
    """
    residence_volumes = check_positive("residence_volumes", residence_volumes, allow_zero=True)
    if drift_tolerance is not None:
        drift_tolerance = check_positive("drift_tolerance", drift_tolerance)
    if configuration is None:
        configuration = yield from read_reactor_configuration(reactor)
    one_volume = configuration.residence_volume_ml
    yield from bps.mv(reactor.flush, residence_volumes * one_volume)
    if spectrometer is None or drift_tolerance is None:
        return True
    previous = None
    for _ in range(max(1, int(max_drift_checks))):
        yield from bps.trigger(spectrometer, wait=True)
        spectrum = np.asarray((yield from bps.rd(spectrometer.absorbance)), dtype=float)
        if previous is not None and previous.shape == spectrum.shape:
            change = float(np.sqrt(np.nanmean((spectrum - previous) ** 2)))
            if change <= drift_tolerance:
                return True
        previous = spectrum
        yield from bps.mv(reactor.flush, one_volume)
    logger.warning(
        "spectrum still drifting after %d checks (tolerance %g); measuring anyway",
        max_drift_checks, drift_tolerance,
    )
    return False
