"""Long-running work (sweeps, searches, walk-forwards, replays) as jobs a worker runs.

``kinds.py`` holds the contract between a job kind and the runner; the queue, its table and
the worker build on it.
"""
