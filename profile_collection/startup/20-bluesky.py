"""Bluesky's plan modules for interactive use (bp.count, bps.mv, ...)."""

import bluesky.plan_stubs as bps  # noqa: F401
import bluesky.plans as bp  # noqa: F401
