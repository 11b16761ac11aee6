"""Session builder (see docs/architecture.md)."""
