"""Replay and backtests: event logs through the same engine, in-process, deterministically."""
