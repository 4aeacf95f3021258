"""Long-running worker processes: each one a ``WorkerLoop`` around core services."""
