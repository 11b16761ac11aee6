"""msc_bluesky.iocs (see docs/architecture.md)."""
