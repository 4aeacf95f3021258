"""The portfolio worker: once an hour, store each account's equity (the equity curve's points)."""

from __future__ import annotations

from core.db.engine import Database
from core.portfolio.snapshots import take_snapshots
from workers.runtime import PassResult, WorkerLoop

WORKER_NAME = "portfolio"
DEFAULT_INTERVAL_SECONDS = 3600.0


def run_pass(database: Database) -> PassResult:
    """Take one snapshot per account at the current hour (idempotent)."""
    taken = database.run(take_snapshots)
    return {"accounts": len(taken), "ts": taken[0].ts.isoformat() if taken else None}


def build_worker(database: Database, *, interval_seconds: float | None = None) -> WorkerLoop:
    """Return the portfolio snapshot loop."""
    return WorkerLoop(
        name=WORKER_NAME,
        database=database,
        run_pass=run_pass,
        interval_seconds=interval_seconds or DEFAULT_INTERVAL_SECONDS,
    )
