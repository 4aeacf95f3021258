"""Two writers moving the same trading state at once (risk worker and executor)."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from core.audit import AuditAction, AuditEntry, verify_audit_chain
from core.db.engine import Database
from core.risk.models import TradingState
from core.risk.state import escalate, scope_state


def test_two_concurrent_escalations_of_a_fresh_account_do_not_collide(postgres_database: Database) -> None:
    """The first writer has inserted the state row but not committed when the second escalates.

    The second must wait and then see the state already moved (no change, no error), not insert a
    second row for the same scope and fail with a unique violation.
    """
    inserted = threading.Event()
    errors: list[BaseException] = []
    results: dict[str, bool] = {}

    def first() -> None:
        try:
            with postgres_database.session() as session:
                results["first"] = escalate(
                    session, "acct", TradingState.HALTED, rule="max_drawdown", reason="drawdown 31 %"
                )
                inserted.set()
                time.sleep(0.5)  # still uncommitted while the second writer runs
        except BaseException as error:
            errors.append(error)
            inserted.set()

    def second() -> None:
        inserted.wait(5)
        try:
            with postgres_database.session() as session:
                results["second"] = escalate(
                    session, "acct", TradingState.HALTED, rule="max_drawdown", reason="drawdown 32 %"
                )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert results == {"first": True, "second": False}
    with postgres_database.session() as session:
        assert scope_state(session, "acct").state is TradingState.HALTED
        breaker_rows = session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.CIRCUIT_BREAKER)).all()
        assert len(breaker_rows) == 1
        assert verify_audit_chain(session).ok
