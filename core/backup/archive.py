"""Consistent online backups and verified restores of the database and the key files.

A backup is one ``konsens-backup-<UTC time>.tar.gz`` holding

- ``database.sqlite`` (SQLite's online backup API: a consistent copy while workers write) or
  ``database.pgdump`` (``pg_dump`` custom format, taken in an exported snapshot);
- ``secret.key`` and ``cookie.key`` of ``KONSENS_HOME`` when they exist (without the secret key
  the stored API keys cannot be decrypted), and ``config.toml``;
- ``manifest.json``: app and schema version, database kind, row counts per table and the
  audit-chain head hash — all read from the same snapshot as the dump — and the SHA-256 of every
  file; ``manifest.sha256`` is the SHA-256 of the manifest itself.

A restore verifies every checksum before it touches anything, refuses a target that holds data
unless forced (and then backs the target up first), restores, migrates, and checks the row
counts and the audit chain against the manifest.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import make_url

from core.db.engine import Database
from core.errors import PermanentError
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
ARCHIVE_PREFIX = "konsens-backup-"
PRE_RESTORE_PREFIX = "konsens-pre-restore-"
ARCHIVE_SUFFIX = ".tar.gz"
MANIFEST = "manifest.json"
MANIFEST_CHECKSUM = "manifest.sha256"
SQLITE_MEMBER = "database.sqlite"
PGDUMP_MEMBER = "database.pgdump"
HOME_FILES = ("secret.key", "cookie.key", "config.toml")
SECRET_FILES = frozenset({"secret.key", "cookie.key"})
# Tables that say nothing about whether a target holds data (the migrations fill them).
_BOOKKEEPING_TABLES = frozenset({"alembic_version", "change_counters"})  # change_counters: the SQLite wake-up


class BackupError(PermanentError):
    """A backup or restore that cannot be done; the message says why in one line."""


@dataclass(frozen=True)
class BackupResult:
    archive: Path
    manifest: dict[str, Any]

    @property
    def size_bytes(self) -> int:
        return self.archive.stat().st_size


@dataclass(frozen=True)
class RestoreResult:
    manifest: dict[str, Any]
    pre_restore_backup: Path | None
    row_counts: dict[str, int]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def app_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("konsens")
    except PackageNotFoundError:
        return "unknown"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _user_tables(connection: Connection) -> list[str]:
    return sorted(inspect(connection).get_table_names())


def _snapshot_facts(connection: Connection) -> dict[str, Any]:
    """Row counts per table, the audit head hash and the schema revisions, read in one snapshot."""
    tables = _user_tables(connection)
    counts = {name: int(connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar() or 0) for name in tables}  # nosec B608: table names come from the database's own inspector, quoted
    head = None
    if "audit_log" in tables:
        head = connection.execute(text("SELECT row_hash FROM audit_log ORDER BY id DESC LIMIT 1")).scalar()
    revisions: list[str] = []
    if "alembic_version" in tables:
        revisions = sorted(str(row[0]) for row in connection.execute(text("SELECT version_num FROM alembic_version")))
    return {"row_counts": counts, "audit_head_hash": head, "schema_revisions": revisions}


def _libpq_url_and_env(url: str) -> tuple[str, dict[str, str]]:
    """Return a libpq URL without the password, and the environment that carries it (never argv)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _archive_name(directory: Path, prefix: str, now: datetime) -> Path:
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    candidate = directory / f"{prefix}{stamp}{ARCHIVE_SUFFIX}"
    number = 1
    while candidate.exists():
        candidate = directory / f"{prefix}{stamp}-{number}{ARCHIVE_SUFFIX}"
        number += 1
    return candidate


def _dump_sqlite(database: Database, target: Path) -> dict[str, Any]:
    source_path = make_url(database.url).database
    if not source_path or source_path == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    source = sqlite3.connect(source_path, timeout=30)
    try:
        destination = sqlite3.connect(target)
        try:
            source.backup(destination)  # the online backup API: consistent while others write
        finally:
            destination.close()
    finally:
        source.close()
    copy = Database(f"sqlite:///{target}")
    try:
        with copy.engine.connect() as connection:
            facts = _snapshot_facts(connection)
    finally:
        copy.dispose()
    return facts


def _dump_postgres(database: Database, target: Path, pg_dump: str) -> dict[str, Any]:
    url, env = _libpq_url_and_env(database.url)
    with database.engine.connect() as connection:
        connection.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            snapshot = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
            facts = _snapshot_facts(connection)
            command = [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={target}", "--no-password", url]
            try:
                completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600, check=False)
            except FileNotFoundError as error:
                raise BackupError(f"{pg_dump} not found: install the PostgreSQL client tools") from error
            if completed.returncode != 0:
                raise BackupError(f"pg_dump failed: {completed.stderr.strip().splitlines()[-1:]}")
        finally:
            connection.exec_driver_sql("ROLLBACK")
    return facts


def create_backup(
    database: Database,
    home: Path,
    output_dir: Path,
    *,
    prefix: str = ARCHIVE_PREFIX,
    pg_dump: str = "pg_dump",
    now: datetime | None = None,
) -> BackupResult:
    """Write a consistent backup of ``database`` and the key files of ``home`` into ``output_dir``."""
    now = now or utc_now()
    output_dir.mkdir(parents=True, exist_ok=True)
    archive = _archive_name(output_dir, prefix, now)
    with tempfile.TemporaryDirectory(prefix="konsens-backup-", dir=output_dir) as scratch:
        work = Path(scratch)
        if database.kind == "sqlite":
            member = SQLITE_MEMBER
            facts = _dump_sqlite(database, work / member)
        elif database.kind == "postgresql":
            member = PGDUMP_MEMBER
            facts = _dump_postgres(database, work / member, pg_dump)
        else:
            raise BackupError(f"no backup method for a {database.kind} database")
        files = {member: work / member}
        for name in HOME_FILES:
            if (home / name).is_file():
                shutil.copyfile(home / name, work / name)
                files[name] = work / name
        manifest: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "created_at": now.isoformat(),
            "app_version": app_version(),
            "database_kind": database.kind,
            "database_member": member,
            **facts,
            "files": {
                name: {"sha256": _file_sha256(path), "size": path.stat().st_size} for name, path in files.items()
            },
        }
        manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
        partial = archive.with_name(archive.name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            _add_bytes(tar, MANIFEST, manifest_bytes)
            _add_bytes(tar, MANIFEST_CHECKSUM, (_sha256(manifest_bytes) + "\n").encode())
            for name, path in files.items():
                info = tar.gettarinfo(str(path), arcname=name)
                info.mode = 0o600 if name in SECRET_FILES else 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
        os.chmod(partial, 0o600)  # it holds the secret key
        partial.replace(archive)  # a half-written archive never carries the final name
    logger.info("backup written: %s (%d tables)", archive, len(manifest["row_counts"]))
    return BackupResult(archive=archive, manifest=manifest)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = int(utc_now().timestamp())
    tar.addfile(info, io.BytesIO(data))


# --- reading and verifying an archive ---------------------------------------------------------


@contextmanager
def verified_archive(archive: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    """Unpack ``archive`` into a temporary folder after checking every checksum; yield the manifest and folder.

    Raises :class:`BackupError` naming what is wrong: nothing is restored from a damaged archive.
    """
    if not archive.is_file():
        raise BackupError(f"no archive at {archive}")
    with tempfile.TemporaryDirectory(prefix="konsens-restore-") as scratch:
        work = Path(scratch)
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = {member.name: member for member in tar.getmembers()}
                for name, member in members.items():
                    if not member.isfile() or "/" in name or name.startswith("."):
                        raise BackupError(f"archive is corrupted or not a Konsens backup: unexpected member {name!r}")
                tar.extractall(work, filter="data")
        except (tarfile.TarError, EOFError, OSError, ValueError) as error:
            raise BackupError(f"archive is corrupted or not a Konsens backup: {error}") from error
        if not (work / MANIFEST).is_file() or not (work / MANIFEST_CHECKSUM).is_file():
            raise BackupError("archive is corrupted or not a Konsens backup: no manifest")
        manifest_bytes = (work / MANIFEST).read_bytes()
        if _sha256(manifest_bytes) != (work / MANIFEST_CHECKSUM).read_text().strip():
            raise BackupError("archive is corrupted: the manifest does not match its checksum")
        try:
            manifest = json.loads(manifest_bytes)
        except ValueError as error:
            raise BackupError(f"archive is corrupted: the manifest is not JSON ({error})") from error
        if manifest.get("format") != FORMAT_VERSION:
            raise BackupError(
                f"unsupported backup format {manifest.get('format')!r} (this Konsens reads {FORMAT_VERSION})"
            )
        for name, expected in manifest.get("files", {}).items():
            path = work / name
            if not path.is_file():
                raise BackupError(f"archive is corrupted: {name} is missing")
            if _file_sha256(path) != expected.get("sha256"):
                raise BackupError(f"archive is corrupted: {name} does not match its checksum")
        yield manifest, work


def read_manifest(archive: Path) -> dict[str, Any]:
    """Return the verified manifest of ``archive``."""
    with verified_archive(archive) as (manifest, _work):
        return manifest


# --- restoring ----------------------------------------------------------------------------------


def target_contents(database: Database, home: Path) -> list[str]:
    """Return what the restore target already holds (empty list: safe to restore into)."""
    found: list[str] = []
    with database.engine.connect() as connection:
        for name in _user_tables(connection):
            if name in _BOOKKEEPING_TABLES:
                continue
            if connection.execute(text(f'SELECT 1 FROM "{name}" LIMIT 1')).first() is not None:  # nosec B608: table names from the inspector, quoted
                found.append(f"table {name} has rows")
    for name in HOME_FILES:
        if name != "config.toml" and (home / name).exists():
            found.append(f"{home / name} exists")
    return found


def restore_backup(
    archive: Path,
    database: Database,
    home: Path,
    *,
    force: bool = False,
    pre_restore_dir: Path | None = None,
    pg_dump: str = "pg_dump",
    pg_restore: str = "pg_restore",
) -> RestoreResult:
    """Restore ``archive`` into ``database`` and ``home`` (see the module docstring for the checks)."""
    from core.db.migrate import upgrade_database

    with verified_archive(archive) as (manifest, work):
        if manifest["database_kind"] != database.kind:
            raise BackupError(
                f"the archive holds a {manifest['database_kind']} database; the target is {database.kind}"
            )
        contents = target_contents(database, home)
        pre_restore: Path | None = None
        if contents:
            if not force:
                raise BackupError(
                    f"the target is not empty ({'; '.join(contents[:3])}); use --force to replace it "
                    "(it is backed up first)"
                )
            pre_restore = create_backup(
                database, home, pre_restore_dir or home / "backups", prefix=PRE_RESTORE_PREFIX, pg_dump=pg_dump
            ).archive
            logger.info("target backed up before the restore: %s", pre_restore)
        member = work / manifest["database_member"]
        if database.kind == "sqlite":
            _restore_sqlite(database, member)
        else:
            _restore_postgres(database, member, pg_restore)
        home.mkdir(parents=True, exist_ok=True)
        for name in HOME_FILES:
            if (work / name).is_file():
                shutil.copyfile(work / name, home / name)
                os.chmod(home / name, 0o600 if name in SECRET_FILES else 0o644)
    result = _check_restored(database, manifest, pre_restore)  # as restored, before any newer migration
    upgrade_database(database)
    return result


def _restore_sqlite(database: Database, member: Path) -> None:
    target = make_url(database.url).database
    if not target or target == ":memory:":
        raise BackupError("cannot restore into an in-memory SQLite database")
    database.dispose()
    target_path = Path(target)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    staged = target_path.with_name(target_path.name + ".restoring")
    shutil.copyfile(member, staged)
    check = sqlite3.connect(staged)
    try:
        if check.execute("PRAGMA integrity_check").fetchone() != ("ok",):
            raise BackupError("archive is corrupted: the SQLite database fails its integrity check")
    finally:
        check.close()
    for suffix in ("-wal", "-shm"):
        Path(str(target_path) + suffix).unlink(missing_ok=True)
    staged.replace(target_path)


def _restore_postgres(database: Database, member: Path, pg_restore: str) -> None:
    url, env = _libpq_url_and_env(database.url)
    # The target holds no data (or was just backed up, with --force); an empty schema left by
    # migrations would make every CREATE of the dump collide, so the schema starts afresh.
    with database.engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    database.dispose()
    command = [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", "--no-password", f"--dbname={url}"]
    try:
        completed = subprocess.run(
            [*command, str(member)], env=env, capture_output=True, text=True, timeout=3600, check=False
        )
    except FileNotFoundError as error:
        raise BackupError(f"{pg_restore} not found: install the PostgreSQL client tools") from error
    if completed.returncode != 0:
        raise BackupError(f"pg_restore failed: {' '.join(completed.stderr.strip().splitlines()[-2:])}")


def _check_restored(database: Database, manifest: dict[str, Any], pre_restore: Path | None) -> RestoreResult:
    from sqlalchemy.orm import Session

    from core.audit.trail import verify_audit_chain

    problems: list[str] = []
    with database.engine.connect() as connection:
        facts = _snapshot_facts(connection)
    counts: dict[str, int] = facts["row_counts"]
    for table, expected in manifest["row_counts"].items():
        if table in _BOOKKEEPING_TABLES:
            continue
        actual = counts.get(table)
        if actual != expected:
            problems.append(f"table {table}: {actual} rows restored, the manifest says {expected}")
    if manifest.get("audit_head_hash") != facts["audit_head_hash"]:
        problems.append("the audit chain's head hash differs from the manifest")
    with Session(database.engine) as session:
        verification = verify_audit_chain(session)
    if not verification.ok:
        problems.append(f"audit chain: {verification.describe()}")
    return RestoreResult(manifest=manifest, pre_restore_backup=pre_restore, row_counts=counts, problems=problems)


# --- retention -----------------------------------------------------------------------------------


def backups_in(directory: Path, prefix: str = ARCHIVE_PREFIX) -> list[Path]:
    """Return the finished archives in ``directory`` with ``prefix``, oldest first."""
    if not directory.is_dir():
        return []
    found = [path for path in directory.glob(f"{prefix}*{ARCHIVE_SUFFIX}") if path.is_file()]
    return sorted(found, key=lambda path: (path.stat().st_mtime, path.name))


def prune_backups(directory: Path, keep: int, prefix: str = ARCHIVE_PREFIX) -> list[Path]:
    """Delete all but the newest ``keep`` archives; return the deleted paths."""
    archives = backups_in(directory, prefix)
    doomed = archives[: max(0, len(archives) - keep)]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed
