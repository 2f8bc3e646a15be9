"""Faust stream agents: per-student seven-day engagement state and band changes."""
