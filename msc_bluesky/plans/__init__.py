"""msc_bluesky.plans (see docs/architecture.md)."""
