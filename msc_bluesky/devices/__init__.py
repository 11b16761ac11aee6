"""msc_bluesky.devices (see docs/architecture.md)."""
