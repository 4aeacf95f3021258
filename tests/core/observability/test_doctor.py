"""`konsens doctor` checks: each finds what is wrong and names the fix."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from core.backup.schedule import record_backup_outcome
from core.db.engine import Database
from core.observability.doctor import Verdict, run_checks
from core.system.heartbeats import record_heartbeat
from core.system.models import WorkerHeartbeat, WorkerStatus
from core.timeutil import utc_now


def _by_check(findings: list) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for finding in findings:
        grouped.setdefault(finding.check, []).append(finding)
    return grouped


def test_a_healthy_fresh_database_has_no_problem(database: Database, tmp_path: Path) -> None:
    record_backup_outcome(database, archive=tmp_path / "b.tar.gz", size_bytes=1)
    findings = _by_check(run_checks(database, tmp_path))
    assert not [f for items in findings.values() for f in items if f.verdict is Verdict.PROBLEM]
    assert findings["migrations"][0].verdict is Verdict.OK
    assert findings["workers"][0].verdict is Verdict.WARNING  # none has reported yet
    assert "konsens up" in (findings["workers"][0].fix or "")


def test_an_unreachable_database_is_a_problem_and_the_table_checks_wait(tmp_path: Path) -> None:
    database = Database("postgresql+psycopg2://nobody:secret@127.0.0.1:1/nothing")
    findings = _by_check(run_checks(database, tmp_path))
    assert findings["database"][0].verdict is Verdict.PROBLEM
    assert "secret" not in findings["database"][0].detail
    assert findings["workers"][0].detail == "not checked: the database is not ready"
    database.dispose()


def test_pending_migrations_say_to_upgrade(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'new.db'}")
    findings = _by_check(run_checks(database, tmp_path))
    assert findings["migrations"][0].verdict is Verdict.PROBLEM
    assert findings["migrations"][0].fix == "run `konsens db upgrade`"
    database.dispose()


def test_a_key_file_readable_by_others_names_the_chmod(sqlite_database: Database, tmp_path: Path) -> None:
    key = tmp_path / "secret.key"
    key.write_text("k")
    key.chmod(0o644)
    [finding] = _by_check(run_checks(sqlite_database, tmp_path))["key files"]
    assert finding.verdict is Verdict.PROBLEM and finding.fix == f"chmod 600 {key}"


def test_a_silent_worker_and_a_failing_one_are_reported(sqlite_database: Database, tmp_path: Path) -> None:
    with sqlite_database.session() as session:
        record_heartbeat(session, "market", WorkerStatus.IDLE)
        record_heartbeat(session, "news", WorkerStatus.FAILED, error="feed unreachable")
    with sqlite_database.session() as session:
        session.execute(
            update(WorkerHeartbeat)
            .where(WorkerHeartbeat.worker == "market")
            .values(last_beat_at=utc_now() - timedelta(hours=2))
        )
    workers = _by_check(run_checks(sqlite_database, tmp_path))["workers"]
    assert {(f.verdict, f.detail.split()[0]) for f in workers} == {
        (Verdict.PROBLEM, "market"),
        (Verdict.WARNING, "news's"),
    }


def test_a_heartbeat_from_the_future_means_a_clock_is_off(sqlite_database: Database, tmp_path: Path) -> None:
    with sqlite_database.session() as session:
        record_heartbeat(session, "market", WorkerStatus.IDLE)
    findings = run_checks(sqlite_database, tmp_path, now=utc_now() - timedelta(minutes=3))
    [clock] = _by_check(findings)["clock"]
    assert clock.verdict is Verdict.PROBLEM and "time synchronisation" in (clock.fix or "")


@pytest.mark.postgres
def test_the_clock_is_compared_with_the_postgresql_server(postgres_database: Database, tmp_path: Path) -> None:
    [clock] = _by_check(run_checks(postgres_database, tmp_path))["clock"]
    assert clock.verdict is Verdict.OK and "database server" in clock.detail


def test_a_failed_backup_and_a_broken_setting_are_problems(
    sqlite_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_backup_outcome(sqlite_database, error="OSError: disk full")
    monkeypatch.setenv("KONSENS_BACKUP_KEEP", "0")
    findings = _by_check(run_checks(sqlite_database, tmp_path))
    assert findings["backups"][0].verdict is Verdict.PROBLEM and "disk full" in findings["backups"][0].detail
    [config] = findings["configuration"]
    assert config.verdict is Verdict.PROBLEM and "backup_keep" in config.detail
    assert "KONSENS_BACKUP_KEEP" in (config.fix or "")
