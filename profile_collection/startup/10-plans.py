"""The msc plans, annotated so that the queue server validates their parameters."""

from msc_bluesky.qserver.annotations import (  # noqa: F401
    condition_scan,
    equilibrate,
    nucleation_series,
    precursor_blank,
    reaction_time_series,
    temperature_grid,
)
