"""msc_bluesky.sim (see docs/architecture.md)."""
