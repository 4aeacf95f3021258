"""``konsens worker backup``: scheduled backups with retention (daily, keep 14 by default).

Each pass (every 15 minutes) backs up when the last success is older than
``KONSENS_BACKUP_INTERVAL_HOURS``; see ``core/backup/schedule.py``.
"""

from __future__ import annotations

from typing import Any

from core.backup.schedule import run_due_backup
from core.config import get_settings
from core.db.engine import Database
from core.observability.settings import ObservabilitySettings
from workers.runtime import WorkerLoop

WORKER_NAME = "backup"
CHECK_SECONDS = 900.0


def build_worker(database: Database, *, interval_seconds: float | None = None) -> WorkerLoop:
    """Return the backup loop (``interval_seconds``: how often it checks whether a backup is due)."""
    settings = ObservabilitySettings()
    home = get_settings().home

    interval = CHECK_SECONDS if interval_seconds is None else interval_seconds

    def run_pass(pass_database: Database) -> dict[str, Any]:
        # The interval lets the System page judge the heartbeat of a worker that beats rarely.
        return {**run_due_backup(pass_database, home, settings), "interval_seconds": interval}

    return WorkerLoop(WORKER_NAME, database, run_pass, interval_seconds=interval)
