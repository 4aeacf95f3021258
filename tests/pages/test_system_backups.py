"""The System page's Backups section: the last success, and a failed backup as an error."""

from __future__ import annotations

from pathlib import Path

from core.backup.schedule import record_backup_outcome
from core.db.engine import Database


def test_system_shows_the_last_backup_and_a_failure(demo_database: Database, run_page, tmp_path: Path) -> None:
    record_backup_outcome(demo_database, archive=tmp_path / "konsens-backup-x.tar.gz", size_bytes=2048)
    app = run_page("system")
    text = " ".join(block.value for block in app.markdown)
    assert "Last success:" in text and "konsens-backup-x.tar.gz" in text
    assert not app.error

    record_backup_outcome(demo_database, error="OSError: disk full")
    app = run_page("system")
    assert any("The last backup failed" in error.value and "disk full" in error.value for error in app.error)


def test_system_says_how_to_make_the_first_backup(demo_database: Database, run_page) -> None:
    app = run_page("system")
    assert any("No backup yet" in caption.value for caption in app.caption)
