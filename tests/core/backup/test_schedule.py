"""Scheduled backups: made when due, pruned to the newest N, success and failure recorded."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.backup.archive import backups_in
from core.backup.schedule import backup_status, run_due_backup
from core.db.engine import Database
from core.observability.settings import ObservabilitySettings
from core.timeutil import utc_now
from workers.backup import build_worker


def test_a_due_backup_is_made_then_skipped_until_the_interval_has_passed(
    sqlite_database: Database, tmp_path: Path
) -> None:
    settings = ObservabilitySettings(backup_dir=tmp_path / "backups", backup_interval_hours=24, backup_keep=2)
    first = run_due_backup(sqlite_database, tmp_path, settings)
    assert first["backed_up"] is True
    again = run_due_backup(sqlite_database, tmp_path, settings)
    assert again["backed_up"] is False and "next_due_at" in again
    status = sqlite_database.run(backup_status)
    assert status.last_success_at is not None and not status.failing
    assert status.last_archive == str(tmp_path / "backups" / first["archive"])


def test_retention_keeps_the_newest_scheduled_backups(sqlite_database: Database, tmp_path: Path) -> None:
    settings = ObservabilitySettings(backup_dir=tmp_path / "backups", backup_interval_hours=1, backup_keep=2)
    for hours in (0, 2, 4):
        run_due_backup(sqlite_database, tmp_path, settings, now=utc_now() + timedelta(hours=hours))
    assert len(backups_in(tmp_path / "backups")) == 2


def test_a_failed_backup_is_recorded_and_raised(sqlite_database: Database, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the backup folder should be")
    settings = ObservabilitySettings(backup_dir=blocked)
    with pytest.raises(FileExistsError, match="not-a-folder"):
        run_due_backup(sqlite_database, tmp_path, settings)
    status = sqlite_database.run(backup_status)
    assert status.failing and status.last_error is not None and "Error" in status.last_error


def test_the_backup_worker_backs_up_once_and_reports_its_interval(
    sqlite_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KONSENS_BACKUP_DIR", str(tmp_path / "scheduled"))
    loop = build_worker(sqlite_database)
    assert loop.run(once=True) == 0
    assert len(backups_in(tmp_path / "scheduled")) == 1
    from core.system.heartbeats import list_heartbeats

    with sqlite_database.session() as session:
        [beat] = list_heartbeats(session)
    assert beat.worker == "backup" and beat.info is not None, beat.info
    assert beat.info["interval_seconds"] == 900.0, beat.info
