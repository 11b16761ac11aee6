"""Instrument factories (see docs/architecture.md)."""
