"""Scheduled backups with retention, and the status the System page and the metrics show.

The ``backup`` worker calls :func:`run_due_backup` on every pass; a backup is made when the last
success is older than ``backup_interval_hours`` (so restarts do not pile up archives), then all
but the newest ``backup_keep`` scheduled archives are deleted. Success and failure are recorded
under the ``ops.backup.status`` setting; a failure is raised, so the worker's heartbeat shows it
and the ``KonsensBackupFailing`` alert fires.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from core.backup.archive import create_backup, prune_backups
from core.db.engine import Database
from core.observability.metrics import BACKUP_DURATION, BACKUPS
from core.observability.settings import ObservabilitySettings
from core.observability.state import BACKUP_STATUS_KEY
from core.system.settings_store import get_setting, set_setting
from core.timeutil import parse_utc, utc_now

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackupStatus:
    """The last scheduled or manual backup, as recorded."""

    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
    last_archive: str | None
    last_size_bytes: int | None

    @property
    def failing(self) -> bool:
        """True when the last attempt failed."""
        return self.last_failure_at is not None and (
            self.last_success_at is None or self.last_failure_at > self.last_success_at
        )


def _time(value: Any) -> datetime | None:
    return parse_utc(value) if value else None


def backup_status(session: Session) -> BackupStatus:
    """Return the recorded status of the backups."""
    raw = get_setting(session, BACKUP_STATUS_KEY) or {}
    return BackupStatus(
        last_success_at=_time(raw.get("last_success_at")),
        last_failure_at=_time(raw.get("last_failure_at")),
        last_error=raw.get("last_error"),
        last_archive=raw.get("last_archive"),
        last_size_bytes=raw.get("last_size_bytes"),
    )


def record_backup_outcome(
    database: Database,
    *,
    archive: Path | None = None,
    size_bytes: int | None = None,
    error: str | None = None,
    now: datetime | None = None,
) -> None:
    """Store the outcome of one backup attempt (success with its archive, or the error)."""
    when = (now or utc_now()).isoformat()

    def write(session: Session) -> None:
        status = dict(get_setting(session, BACKUP_STATUS_KEY) or {})
        if error is None:
            status.update(last_success_at=when, last_archive=str(archive), last_size_bytes=size_bytes)
        else:
            status.update(last_failure_at=when, last_error=error[:500])
        set_setting(session, BACKUP_STATUS_KEY, status)

    database.run(write)


def backup_now(database: Database, home: Path, output_dir: Path, settings: ObservabilitySettings) -> Path:
    """Make one backup, record its outcome and count it in the metrics; return the archive."""
    began = time.perf_counter()
    try:
        result = create_backup(database, home, output_dir, pg_dump=settings.backup_pg_dump)
    except Exception as error:
        BACKUPS.labels("failure").inc()
        record_backup_outcome(database, error=f"{type(error).__name__}: {error}")
        raise
    BACKUPS.labels("success").inc()
    BACKUP_DURATION.observe(time.perf_counter() - began)
    record_backup_outcome(database, archive=result.archive, size_bytes=result.size_bytes)
    return result.archive


def run_due_backup(
    database: Database, home: Path, settings: ObservabilitySettings, *, now: datetime | None = None
) -> dict[str, Any]:
    """Back up if the last success is older than the interval; prune old archives; return what was done."""
    now = now or utc_now()
    status = database.run(backup_status)
    interval = timedelta(hours=settings.backup_interval_hours)
    if status.last_success_at is not None and now - status.last_success_at < interval:
        return {"backed_up": False, "next_due_at": (status.last_success_at + interval).isoformat()}
    directory = settings.effective_backup_dir(home)
    archive = backup_now(database, home, directory, settings)
    deleted = prune_backups(directory, settings.backup_keep)
    for path in deleted:
        logger.info("backup retention: deleted %s", path.name)
    return {"backed_up": True, "archive": archive.name, "deleted": len(deleted)}
