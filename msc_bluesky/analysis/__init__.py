"""msc_bluesky.analysis (see docs/architecture.md)."""
