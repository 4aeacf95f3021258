"""Backups taken while the executor fills orders restore identically; damaged archives change nothing."""

from __future__ import annotations

import gzip
import io
import tarfile
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from core.audit import AuditEntry, verify_audit_chain
from core.backup.archive import (
    MANIFEST,
    BackupError,
    create_backup,
    prune_backups,
    read_manifest,
    restore_backup,
    target_contents,
)
from core.db.engine import Database
from core.db.migrate import upgrade_database
from core.execution.enums import OrderSide
from core.execution.executor import Executor
from core.execution.models import Fill, Order
from core.execution.orders import OrderRequest
from core.execution.service import place_order
from core.portfolio.models import LedgerEntry
from core.system.models import SettingValue
from core.system.settings_store import set_setting
from tests.core.execution.conftest import add_quote


def _rows(database: Database, model: Any, columns: list[str]) -> dict[Any, tuple[Any, ...]]:
    with database.session() as session:
        return {
            row.id if hasattr(row, "id") else row.key: tuple(getattr(row, name) for name in columns)
            for row in session.scalars(select(model))
        }


def _trading_while(database: Database, market: dict[str, int], executor: Executor, stop: threading.Event) -> None:
    price = 50000
    while not stop.is_set():
        price += 1
        with database.session() as session:
            place_order(
                session, OrderRequest(symbol="BTC/EUR", side=OrderSide.BUY, quantity=Decimal("0.001")), actor="t"
            )
            add_quote(session, market["BTC/EUR"], str(price))
        executor.run_pass(until_idle=True)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "secret.key").write_bytes(b"k" * 44)
    (home / "secret.key").chmod(0o600)
    return home


def test_a_backup_taken_while_the_executor_fills_orders_restores_identically(
    database: Database,
    market: dict[str, int],
    make_executor: Callable[..., Executor],
    home: Path,
    target_database: Database,
    tmp_path: Path,
) -> None:
    with database.session() as session:
        set_setting(session, "risk.limits", {"daily_loss_limit_pct": "0.03"})
    executor = make_executor()
    stop = threading.Event()
    trader = threading.Thread(target=_trading_while, args=(database, market, executor, stop))
    trader.start()
    try:
        while len(_rows(database, Fill, ["fill_id"])) < 3:
            stop.wait(0.05)
        result = create_backup(database, home, tmp_path / "backups")
    finally:
        stop.set()
        trader.join(timeout=60)
    assert result.archive.name.startswith("konsens-backup-") and result.archive.stat().st_mode & 0o777 == 0o600
    manifest = result.manifest
    assert manifest["row_counts"]["fills"] >= 3
    assert manifest["audit_head_hash"] and manifest["schema_revisions"]

    restored_home = tmp_path / "restored-home"
    restored = restore_backup(result.archive, target_database, restored_home)

    assert restored.ok, restored.problems
    assert (restored_home / "secret.key").read_bytes() == b"k" * 44
    assert (restored_home / "secret.key").stat().st_mode & 0o777 == 0o600
    counts = manifest["row_counts"]
    for model, table, columns in [
        (LedgerEntry, "ledger_entries", ["external_id", "account", "sent_quantity", "received_quantity", "ts"]),
        (Fill, "fills", ["fill_id", "quantity", "price", "fee_eur", "ts"]),
        (AuditEntry, "audit_log", ["row_hash", "prev_hash", "action", "subject"]),
        (Order, "orders", ["client_order_id", "symbol", "quantity", "created_at"]),
    ]:
        source = _rows(database, model, columns)
        copy = _rows(target_database, model, columns)
        assert len(copy) == counts[table]
        assert all(source[key] == values for key, values in copy.items()), table  # the snapshot is a prefix
    assert _rows(target_database, SettingValue, ["value"]) == _rows(database, SettingValue, ["value"])
    with target_database.session() as session:
        assert verify_audit_chain(session).ok
        head = session.scalar(select(AuditEntry.row_hash).order_by(AuditEntry.id.desc()).limit(1))
    assert head == manifest["audit_head_hash"]


def _backup(database: Database, home: Path, tmp_path: Path) -> Path:
    with database.session() as session:
        set_setting(session, "some.setting", {"value": 1})
    return create_backup(database, home, tmp_path / "backups").archive


def test_a_corrupted_archive_is_refused_and_changes_nothing(
    database: Database, home: Path, target_database: Database, tmp_path: Path
) -> None:
    archive = _backup(database, home, tmp_path)
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    restored_home = tmp_path / "restored-home"

    with pytest.raises(BackupError, match="corrupted"):
        restore_backup(archive, target_database, restored_home)

    assert not restored_home.exists()
    with target_database.engine.connect() as connection:
        assert (
            target_database.kind != "sqlite"
            or not connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).all()
        )


def test_a_member_altered_inside_a_well_formed_archive_fails_its_checksum(
    database: Database, home: Path, target_database: Database, tmp_path: Path
) -> None:
    archive = _backup(database, home, tmp_path)
    rebuilt = io.BytesIO()
    with tarfile.open(archive, "r:gz") as source, tarfile.open(fileobj=rebuilt, mode="w:gz") as copy:
        for member in source.getmembers():
            content = source.extractfile(member)
            assert content is not None
            payload = content.read()
            if member.name == "secret.key":
                payload = b"x" * len(payload)
            member.size = len(payload)
            copy.addfile(member, io.BytesIO(payload))
    archive.write_bytes(rebuilt.getvalue())

    with pytest.raises(BackupError, match=r"secret\.key does not match its checksum"):
        restore_backup(archive, target_database, tmp_path / "restored-home")
    assert not (tmp_path / "restored-home").exists()


def test_a_file_that_is_not_an_archive_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    bogus = tmp_path / "konsens-backup-x.tar.gz"
    bogus.write_bytes(gzip.compress(b"just some text"))
    with pytest.raises(BackupError, match="not a Konsens backup"):
        read_manifest(bogus)
    with pytest.raises(BackupError, match="no archive at"):
        read_manifest(tmp_path / "missing.tar.gz")


def test_a_target_with_data_is_refused_unless_forced_and_then_backed_up_first(
    database: Database, home: Path, tmp_path: Path
) -> None:
    archive = _backup(database, home, tmp_path)
    with database.session() as session:
        set_setting(session, "some.setting", {"value": 2})  # the live data moved on after the backup

    with pytest.raises(BackupError, match="not empty"):
        restore_backup(archive, database, home)
    with database.session() as session:
        assert session.get(SettingValue, "some.setting").value == {"value": 2}  # type: ignore[union-attr]

    result = restore_backup(archive, database, home, force=True, pre_restore_dir=tmp_path / "pre")

    assert result.ok, result.problems
    assert result.pre_restore_backup is not None and result.pre_restore_backup.name.startswith("konsens-pre-restore-")
    with database.session() as session:
        assert session.get(SettingValue, "some.setting").value == {"value": 1}  # type: ignore[union-attr]
    with tarfile.open(result.pre_restore_backup, "r:gz") as tar:
        assert MANIFEST in tar.getnames()


def test_an_empty_migrated_target_counts_as_empty(tmp_path: Path) -> None:
    target = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    upgrade_database(target)
    assert target_contents(target, tmp_path / "no-home") == []
    target.dispose()


def test_retention_keeps_the_newest_archives(tmp_path: Path) -> None:
    import os

    for index in range(5):
        path = tmp_path / f"konsens-backup-2026120{index}T000000Z.tar.gz"
        path.write_bytes(b"x")
        os.utime(path, (1_700_000_000 + index, 1_700_000_000 + index))
    (tmp_path / "konsens-pre-restore-20260101T000000Z.tar.gz").write_bytes(b"x")

    deleted = prune_backups(tmp_path, keep=2)

    assert [path.name for path in deleted] == [f"konsens-backup-2026120{index}T000000Z.tar.gz" for index in range(3)]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "konsens-backup-20261203T000000Z.tar.gz",
        "konsens-backup-20261204T000000Z.tar.gz",
        "konsens-pre-restore-20260101T000000Z.tar.gz",
    ]
