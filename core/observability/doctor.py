"""``konsens doctor``: check what usually goes wrong and say how to fix it.

Each check returns a :class:`Finding` (ok, warning or problem, what was found, the fix). A check
that itself breaks is reported as a problem, never a crash: the doctor is what a user runs when
something is already off.
"""

from __future__ import annotations

import importlib
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from sqlalchemy import text

from core.db.engine import Database
from core.timeutil import utc_now

SETTINGS_MODULES = (
    "core.config",
    "core.observability.settings",
    "core.market.settings",
    "core.news.settings",
    "core.execution.settings",
    "core.risk.settings",
    "core.ai.config",
    "core.tax.settings",
)
KEY_FILES = ("secret.key", "cookie.key")
CLOCK_SKEW_LIMIT = timedelta(seconds=5)
DISK_WARN_FRACTION = 0.10
DISK_FAIL_FRACTION = 0.02
BACKUP_MAX_AGE = timedelta(days=2)


class Verdict(StrEnum):
    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"


@dataclass(frozen=True)
class Finding:
    check: str
    verdict: Verdict
    detail: str
    fix: str | None = None


def _config(_database: Database, _home: Path, _now: datetime) -> list[Finding]:
    from pydantic import ValidationError

    from core.config import KonsensSettingsBase

    findings: list[Finding] = []
    for name in SETTINGS_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue  # an area that is not installed has no settings to check
    classes: list[type[KonsensSettingsBase]] = []
    pending: list[type[KonsensSettingsBase]] = [KonsensSettingsBase]
    while pending:
        for subclass in pending.pop().__subclasses__():
            classes.append(subclass)
            pending.append(subclass)
    for settings_class in sorted(set(classes), key=lambda cls: cls.__name__):
        try:
            settings_class()
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first.get("loc", ())) or "?"
            findings.append(
                Finding(
                    "configuration",
                    Verdict.PROBLEM,
                    f"{settings_class.__name__}: {field}: {first.get('msg')}",
                    f"fix KONSENS_{field.upper()} in the environment, .env or config.toml",
                )
            )
    if not findings:
        findings.append(Finding("configuration", Verdict.OK, f"{len(classes)} settings sections load"))
    return findings


def _database(database: Database, _home: Path, _now: datetime) -> list[Finding]:
    from core.db.migrate import pending_revisions

    health = database.health()
    if not health.ok:
        return [
            Finding(
                "database",
                Verdict.PROBLEM,
                f"{health.kind} {health.url} is not reachable: {health.error}",
                "start the database server or correct KONSENS_DATABASE_URL",
            )
        ]
    findings = [Finding("database", Verdict.OK, f"{health.kind} {health.url} answers in {health.latency_ms:.0f} ms")]
    pending = pending_revisions(database)
    if pending:
        findings.append(
            Finding("migrations", Verdict.PROBLEM, f"not applied: {', '.join(pending)}", "run `konsens db upgrade`")
        )
    else:
        findings.append(Finding("migrations", Verdict.OK, "the schema is up to date"))
    return findings


def _key_files(_database: Database, home: Path, _now: datetime) -> list[Finding]:
    findings = []
    for name in KEY_FILES:
        path = home / name
        if not path.exists():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            findings.append(
                Finding("key files", Verdict.PROBLEM, f"{path} is readable by others ({mode:o})", f"chmod 600 {path}")
            )
    if not findings:
        findings.append(Finding("key files", Verdict.OK, "key files are private (0600) or not created yet"))
    return findings


def _workers(database: Database, _home: Path, now: datetime) -> list[Finding]:
    from core.system.status import Health, worker_states

    states = database.run(lambda session: worker_states(session, now=now))
    if not states:
        return [Finding("workers", Verdict.WARNING, "no worker has ever reported", "start them with `konsens up`")]
    findings = []
    for state in states:
        if state.health is Health.STALE:
            findings.append(
                Finding(
                    "workers",
                    Verdict.PROBLEM,
                    f"{state.worker} has been silent for {state.age.total_seconds() / 60:.0f} min",
                    f"restart it (`konsens worker {state.worker}`) and read its log",
                )
            )
        elif state.health is Health.FAILED:
            findings.append(
                Finding(
                    "workers",
                    Verdict.WARNING,
                    f"{state.worker}'s last pass failed: {(state.last_error or '')[:160]}",
                    "see the System page and the worker's log",
                )
            )
    if not findings:
        running = sum(1 for state in states if state.health is Health.OK)
        findings.append(Finding("workers", Verdict.OK, f"{running} running, {len(states) - running} stopped"))
    return findings


def _feeds(database: Database, _home: Path, now: datetime) -> list[Finding]:
    from core.system.status import Health, data_freshness

    series = database.run(lambda session: data_freshness(session, now=now))
    stale = [item for item in series if item.health is Health.STALE]
    if stale:
        names = ", ".join(f"{item.symbol} {item.source} {item.timeframe}" for item in stale[:5])
        return [
            Finding(
                "feed freshness",
                Verdict.WARNING,
                f"{len(stale)} of {len(series)} series are stale: {names}",
                "check the market worker (System page) and the source's reachability",
            )
        ]
    return [Finding("feed freshness", Verdict.OK, f"{len(series)} series fresh or late")]


def _disk(_database: Database, home: Path, _now: datetime) -> list[Finding]:
    path = home if home.exists() else home.parent
    usage = shutil.disk_usage(path)
    free = usage.free / usage.total if usage.total else 1.0
    detail = f"{usage.free / 1e9:.1f} GB free ({free:.0%}) on the disk of {home}"
    if free < DISK_FAIL_FRACTION:
        return [Finding("disk space", Verdict.PROBLEM, detail, "free space: delete old backups, logs or images")]
    if free < DISK_WARN_FRACTION:
        return [Finding("disk space", Verdict.WARNING, detail, "free space before the database and backups fill it")]
    return [Finding("disk space", Verdict.OK, detail)]


def _clock(database: Database, _home: Path, now: datetime) -> list[Finding]:
    from sqlalchemy import func, select

    from core.system.models import WorkerHeartbeat
    from core.timeutil import parse_utc

    if database.kind == "postgresql":
        with database.engine.connect() as connection:
            server_time = connection.execute(text("SELECT now()")).scalar()
        if server_time is None:
            return [Finding("clock", Verdict.PROBLEM, "the database server did not say what time it is")]
        server_now = parse_utc(server_time)
        skew = abs(server_now - utc_now())
        source = "the database server"
    else:
        newest = database.run(lambda session: session.scalar(select(func.max(WorkerHeartbeat.last_beat_at))))
        if newest is None:
            return [Finding("clock", Verdict.OK, "nothing to compare the clock with yet")]
        newest = parse_utc(newest)
        skew = max(timedelta(0), newest - now)  # a heartbeat from the future: another clock is ahead
        source = "the newest worker heartbeat"
    if skew > CLOCK_SKEW_LIMIT:
        return [
            Finding(
                "clock",
                Verdict.PROBLEM,
                f"this clock and {source} differ by {skew.total_seconds():.0f} s",
                "enable time synchronisation (systemd-timesyncd, chrony) on every host",
            )
        ]
    return [Finding("clock", Verdict.OK, f"within {CLOCK_SKEW_LIMIT.total_seconds():.0f} s of {source}")]


def _backups(database: Database, _home: Path, now: datetime) -> list[Finding]:
    from core.backup.schedule import backup_status

    status = database.run(backup_status)
    if status.failing:
        return [
            Finding(
                "backups",
                Verdict.PROBLEM,
                f"the last backup failed: {status.last_error}",
                "run `konsens backup` to see why",
            )
        ]
    if status.last_success_at is None:
        return [
            Finding("backups", Verdict.WARNING, "no backup yet", "run `konsens backup` (or start the backup worker)")
        ]
    age = now - status.last_success_at
    if age > BACKUP_MAX_AGE:
        return [
            Finding(
                "backups",
                Verdict.WARNING,
                f"the last backup is {age.days} days old",
                "start the backup worker (`konsens up` does) or run `konsens backup`",
            )
        ]
    return [Finding("backups", Verdict.OK, f"last backup {age.total_seconds() / 3600:.0f} h ago")]


CHECKS: tuple[tuple[str, Callable[[Database, Path, datetime], list[Finding]], bool], ...] = (
    # (name, check, needs a reachable, migrated database)
    ("configuration", _config, False),
    ("database", _database, False),
    ("key files", _key_files, False),
    ("disk space", _disk, False),
    ("workers", _workers, True),
    ("feed freshness", _feeds, True),
    ("clock", _clock, True),
    ("backups", _backups, True),
)


def run_checks(database: Database, home: Path, *, now: datetime | None = None) -> list[Finding]:
    """Run every check; checks that read tables are skipped while the database is down or behind."""
    now = now or utc_now()
    findings: list[Finding] = []
    for name, check, needs_schema in CHECKS:
        if needs_schema and any(
            item.check in ("database", "migrations") and item.verdict is Verdict.PROBLEM for item in findings
        ):
            findings.append(Finding(name, Verdict.WARNING, "not checked: the database is not ready"))
            continue
        try:
            findings.extend(check(database, home, now))
        except Exception as error:  # the doctor reports, never crashes
            findings.append(Finding(name, Verdict.PROBLEM, f"the check failed: {type(error).__name__}: {error}"[:300]))
    return findings
