"""Benchmarks: scripts that print their figures (see README, "Benchmarks")."""
