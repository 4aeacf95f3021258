"""Execution: order types, the one fill model shared by paper trading, backtests and replay."""
