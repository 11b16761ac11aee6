"""msc_bluesky.callbacks (see docs/architecture.md)."""
