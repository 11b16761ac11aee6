"""Bluesky plans for the flow reactor (see docs/plans.md).

Every plan validates its request before anything moves, records ``reactor_geometry``,
``conditions`` and ``num_points`` in the start document, returns the run uid, and
leaves heaters in standby and pumps stopped on every exit.
"""

from msc_bluesky.plans.calibration import take_dark_and_reference
from msc_bluesky.plans.equilibrate import equilibrate
from msc_bluesky.plans.safety import reactor_safety_wrapper, safe_state
from msc_bluesky.plans.scans import (
    condition_scan,
    nucleation_series,
    precursor_blank,
    reaction_time_series,
    temperature_grid,
)
from msc_bluesky.plans.suspenders import ReactorNotRecovered, reactor_suspenders
from msc_bluesky.plans.validation import (
    ReactorConfiguration,
    normalise_conditions,
    read_reactor_configuration,
)

__all__ = [
    "ReactorConfiguration",
    "ReactorNotRecovered",
    "condition_scan",
    "equilibrate",
    "normalise_conditions",
    "nucleation_series",
    "precursor_blank",
    "reaction_time_series",
    "reactor_safety_wrapper",
    "reactor_suspenders",
    "read_reactor_configuration",
    "safe_state",
    "take_dark_and_reference",
    "temperature_grid",
]
