"""The paper's campaign (see docs/architecture.md)."""
