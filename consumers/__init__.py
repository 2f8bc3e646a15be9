"""Consumers that turn band changes into alerts and staff-facing records."""
