"""The strategy lab: walk-forward, parameter search, overfitting measures and the robustness report.

Everything here runs on the backtest engines of ``core.backtest``; long analyses take a progress
callback and a stop check so they can run as jobs (``core.lab.job_kinds``).
"""
