"""msc_bluesky.storage (see docs/architecture.md)."""
