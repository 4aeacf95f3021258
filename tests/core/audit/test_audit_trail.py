from __future__ import annotations

import threading
from decimal import Decimal

from sqlalchemy import delete, func, select, text, update

from core.audit import AuditAction, AuditEntry, append_audit, verify_audit_chain
from core.audit.trail import GENESIS_HASH
from core.db.engine import Database


def _append_some(database: Database, count: int, actor: str = "tester") -> None:
    for index in range(count):
        with database.session() as session:
            append_audit(
                session,
                actor=actor,
                action=AuditAction.ORDER_CREATED,
                subject=f"order:{actor}-{index}",
                details={"quantity": Decimal("0.5"), "note": "ünïcode", "index": index},
            )


def test_rows_chain_and_verify(database: Database) -> None:
    _append_some(database, 5)
    with database.session() as session:
        rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        assert [row.id for row in rows] == [1, 2, 3, 4, 5]
        assert rows[0].prev_hash == GENESIS_HASH
        assert all(rows[i].prev_hash == rows[i - 1].row_hash for i in range(1, 5))
        assert rows[0].details["quantity"] == "0.5"  # Decimal stored as exact text
        result = verify_audit_chain(session)
    assert result.ok and result.rows_checked == 5
    assert "5 rows" in result.describe()


def test_an_altered_row_is_named(database: Database) -> None:
    _append_some(database, 6)
    with database.session() as session:
        session.execute(update(AuditEntry).where(AuditEntry.id == 4).values(details={"quantity": "500"}))
    with database.session() as session:
        result = verify_audit_chain(session)
    assert not result.ok
    assert result.first_broken_id == 4
    assert "altered" in (result.problem or "")
    assert "row 4" in result.describe()


def test_a_deleted_row_is_named(database: Database) -> None:
    _append_some(database, 6)
    with database.session() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.id == 3))
    with database.session() as session:
        result = verify_audit_chain(session)
    assert not result.ok and result.first_broken_id == 4
    assert "missing" in (result.problem or "")


def test_a_rewritten_chain_tail_is_detected(database: Database) -> None:
    _append_some(database, 4)
    with database.session() as session:
        session.execute(update(AuditEntry).where(AuditEntry.id == 2).values(prev_hash="f" * 64))
    with database.session() as session:
        result = verify_audit_chain(session)
    assert result.first_broken_id == 2


def test_rolled_back_append_leaves_no_row(database: Database) -> None:
    _append_some(database, 2)
    try:
        with database.session() as session:
            append_audit(session, actor="x", action=AuditAction.FILL, subject="order:y", details={})
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    _append_some(database, 1, actor="after")
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 3
        assert verify_audit_chain(session).ok


def test_concurrent_writers_keep_one_chain(database: Database) -> None:
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for index in range(15):
                database.run(
                    lambda session, index=index: append_audit(  # type: ignore[misc]
                        session, actor=name, action=AuditAction.FILL, subject=f"order:{name}-{index}", details={}
                    )
                )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with database.session() as session:
        result = verify_audit_chain(session)
        assert result.ok, result.describe()
        assert result.rows_checked == 60


def test_a_row_altered_beyond_reading_is_named_not_a_crash(database: Database) -> None:
    """An action that is no AuditAction member cannot be loaded; verify must report it, not raise."""
    _append_some(database, 5)
    with database.session() as session:
        session.execute(text("UPDATE audit_log SET action = 'withdrawal' WHERE id = 3"))
    with database.session() as session:
        result = verify_audit_chain(session)
    assert not result.ok
    assert result.first_broken_id == 3 and result.rows_checked == 2
    assert "altered" in (result.problem or "")


def test_details_that_are_no_json_are_named(sqlite_database: Database) -> None:
    """SQLite keeps JSON as text, so it can be overwritten with anything (PostgreSQL refuses)."""
    _append_some(sqlite_database, 4)
    with sqlite_database.session() as session:
        session.execute(text("UPDATE audit_log SET details = '{not json' WHERE id = 2"))
    with sqlite_database.session() as session:
        result = verify_audit_chain(session)
    assert not result.ok and result.first_broken_id == 2
    assert "altered" in (result.problem or "")
