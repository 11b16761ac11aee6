"""Instrument factories: ``reactor``, ``uvvis``, ``saxs`` (see docs/architecture.md).

Each factory builds a device named like the function for the IOC prefix ``prefix``
(default: environment variable ``MSC_PREFIX``, else ``"MSC:"``). Nothing connects at
import time, and building a device does not wait for its PVs: they connect on first use,
with finite timeouts.
"""

from __future__ import annotations

import os

from msc_bluesky.devices import FlowReactor, SAXSDetector, UVVisSpectrometer

#: Prefix used when neither ``prefix=`` nor ``MSC_PREFIX`` is given.
DEFAULT_PREFIX = "MSC:"


def default_prefix() -> str:
    """The IOC prefix from ``MSC_PREFIX``, else ``"MSC:"``."""
    return os.environ.get("MSC_PREFIX", DEFAULT_PREFIX)


def reactor(prefix: str | None = None, *, name: str = "reactor") -> FlowReactor:
    """Build the flow reactor on ``{prefix}reactor:``."""
    return FlowReactor(f"{prefix or default_prefix()}reactor:", name=name)


def uvvis(prefix: str | None = None, *, name: str = "uvvis") -> UVVisSpectrometer:
    """Build the UV-Vis spectrometer on ``{prefix}uvvis:``."""
    return UVVisSpectrometer(f"{prefix or default_prefix()}uvvis:", name=name)


def saxs(prefix: str | None = None, *, name: str = "saxs") -> SAXSDetector:
    """Build the SAXS detector on ``{prefix}saxs:``."""
    return SAXSDetector(f"{prefix or default_prefix()}saxs:", name=name)
