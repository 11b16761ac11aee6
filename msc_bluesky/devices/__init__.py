"""ophyd devices of the flow-reactor beamline (see docs/architecture.md).

No physics here: PV maps, kinds, positioners and trigger logic only.
"""

from msc_bluesky.devices.reactor import (
    FlowReactor,
    Flush,
    Heater,
    Pump,
    ReactionTime,
    flows_for_reaction_time,
    reaction_time_range,
)
from msc_bluesky.devices.saxs import SAXSDetector
from msc_bluesky.devices.uvvis import UVVisSpectrometer

__all__ = [
    "FlowReactor",
    "Flush",
    "Heater",
    "Pump",
    "ReactionTime",
    "SAXSDetector",
    "UVVisSpectrometer",
    "flows_for_reaction_time",
    "reaction_time_range",
]
