"""Loops around the engine: sweeps, sensitivity, discovery, backtests and history matching."""
