"""Adaptive exploration with a person at the gate: explore(session), approve(), reject(why)."""

from msc_bluesky.explore.interactive import (  # noqa: F401
    approve,
    explore,
    reject,
    stop_exploration,
)
