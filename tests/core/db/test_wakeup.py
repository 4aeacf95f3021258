"""The change waiter: LISTEN/NOTIFY on PostgreSQL, PRAGMA data_version on SQLite."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import text

from core.db.engine import Database
from core.db.wakeup import (
    CHANNEL_NUDGE,
    CHANNEL_ORDERS,
    CHANNEL_PRICES,
    CHANNEL_RISK,
    Nudge,
    PostgresChangeWaiter,
    SqliteChangeWaiter,
    open_change_waiter,
)
from core.execution.enums import OrderSide
from core.execution.orders import OrderRequest
from core.execution.service import place_order
from core.market.models import AssetClass, Instrument, Quote
from core.risk.state import engage_kill_switch
from core.system.settings_store import set_setting
from core.timeutil import utc_now


def _instrument(database: Database) -> int:
    with database.session() as session:
        instrument = Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add(instrument)
        session.flush()
        return instrument.id


def _write_later(delay: float, write: object) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        write()  # type: ignore[operator]

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_waiter_with_no_change_returns_nothing_after_its_timeout(database: Database) -> None:
    waiter = open_change_waiter(database)
    try:
        waiter.wait(0.05)  # the first call may report the start state
        began = time.monotonic()
        assert waiter.wait(0.3) == set()
        assert 0.25 <= time.monotonic() - began < 1.5
    finally:
        waiter.close()


def test_a_new_order_from_another_connection_wakes_the_waiter_at_once(database: Database) -> None:
    _instrument(database)
    waiter = open_change_waiter(database)
    try:
        waiter.wait(0.01)

        def write() -> None:
            with database.session() as session:
                place_order(
                    session, OrderRequest(symbol="BTC/EUR", side=OrderSide.BUY, quantity=Decimal("1")), actor="t"
                )

        thread = _write_later(0.2, write)
        began = time.monotonic()
        changed = waiter.wait(5.0)
        waited = time.monotonic() - began
        thread.join()
        assert CHANNEL_ORDERS in changed
        assert waited < 1.0  # woken by the commit, not by the 5 s timeout
    finally:
        waiter.close()


def test_postgres_channels_tell_orders_prices_and_risk_apart(postgres_database: Database) -> None:
    instrument_id = _instrument(postgres_database)
    waiter = open_change_waiter(postgres_database)
    assert isinstance(waiter, PostgresChangeWaiter)
    try:
        waiter.wait(0.01)
        with postgres_database.session() as session:
            session.add(Quote(instrument_id=instrument_id, source="t", ts=utc_now(), last=Decimal("50000")))
        assert waiter.wait(2.0) == {CHANNEL_PRICES}
        with postgres_database.session() as session:
            engage_kill_switch(session, actor="t", reason="test")
        assert CHANNEL_RISK in waiter.wait(2.0)
    finally:
        waiter.close()


def test_postgres_waiter_reconnects_after_its_connection_is_killed_and_reports_a_change(
    postgres_database: Database,
) -> None:
    waiter = open_change_waiter(postgres_database)
    assert isinstance(waiter, PostgresChangeWaiter)
    try:
        waiter.wait(0.01)
        pid = waiter._connection.info.backend_pid
        with postgres_database.engine.begin() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert waiter.wait(2.0) == {CHANNEL_ORDERS, CHANNEL_PRICES, CHANNEL_RISK}  # may have missed some: look
        assert waiter.reconnects == 1
        _instrument(postgres_database)
        with postgres_database.session() as session:
            place_order(session, OrderRequest(symbol="BTC/EUR", side=OrderSide.BUY, quantity=Decimal("1")), actor="t")
        assert CHANNEL_ORDERS in waiter.wait(2.0)
    finally:
        waiter.close()


def test_sqlite_waiter_backs_off_while_idle(sqlite_database: Database) -> None:
    waiter = open_change_waiter(sqlite_database, max_interval=0.05)
    assert isinstance(waiter, SqliteChangeWaiter)
    try:
        waiter.wait(0.01)
        before = waiter.checks
        waiter.wait(1.0)
        # 5, 10, 20, 40, then 50 ms steps: about 23 checks in a second, not the 200 of a 5 ms loop.
        assert waiter.checks - before <= 30
    finally:
        waiter.close()


def test_in_memory_sqlite_has_no_waiter() -> None:
    with pytest.raises(ValueError, match="in-memory"):
        open_change_waiter(Database("sqlite://"))


def test_sqlite_channels_tell_orders_and_risk_from_other_commits(sqlite_database: Database) -> None:
    """A heartbeat, a setting or a quote is no order: only ``konsens_prices`` (maybe a price) is reported."""
    instrument_id = _instrument(sqlite_database)
    waiter = open_change_waiter(sqlite_database)
    assert isinstance(waiter, SqliteChangeWaiter)
    try:
        waiter.wait(0.01)
        with sqlite_database.session() as session:
            set_setting(session, "test.unrelated", {"a": 1})
        assert waiter.wait(2.0) == {CHANNEL_PRICES}
        with sqlite_database.session() as session:
            session.add(Quote(instrument_id=instrument_id, source="t", ts=utc_now(), last=Decimal("50000")))
        assert waiter.wait(2.0) == {CHANNEL_PRICES}
        with sqlite_database.session() as session:
            place_order(session, OrderRequest(symbol="BTC/EUR", side=OrderSide.BUY, quantity=Decimal("1")), actor="t")
        assert waiter.wait(2.0) == {CHANNEL_ORDERS, CHANNEL_PRICES}
        with sqlite_database.session() as session:
            engage_kill_switch(session, actor="t", reason="test")
        assert CHANNEL_RISK in waiter.wait(2.0)
        assert waiter.counter_reads >= 4  # one read of the tiny counter table per change
    finally:
        waiter.close()


def test_sqlite_waiter_without_the_counter_table_reports_every_channel(sqlite_database: Database) -> None:
    with sqlite_database.engine.begin() as connection:
        connection.execute(text("DROP TABLE change_counters"))
    waiter = open_change_waiter(sqlite_database)
    try:
        waiter.wait(0.01)
        with sqlite_database.session() as session:
            set_setting(session, "test.unrelated", {"a": 1})
        assert waiter.wait(2.0) == {CHANNEL_ORDERS, CHANNEL_PRICES, CHANNEL_RISK}
    finally:
        waiter.close()


def test_a_nudge_from_another_thread_wakes_the_waiter_at_once(database: Database) -> None:
    waiter = open_change_waiter(database)
    nudge = Nudge()
    try:
        waiter.wait(0.01)
        thread = _write_later(0.2, nudge.set)
        began = time.monotonic()
        changed = waiter.wait(5.0, None, nudge)
        waited = time.monotonic() - began
        thread.join()
        assert changed == {CHANNEL_NUDGE}
        assert waited < 1.0
        assert not nudge.consume()  # consumed by the wait
    finally:
        nudge.close()
        waiter.close()


def test_a_sqlite_probe_reports_its_channel_only_when_its_row_moves(sqlite_database: Database) -> None:
    """The jobs worker's channel has no counter: its probe (the queued jobs) keeps other commits from waking it."""
    from core.jobs.models import Job, JobStatus
    from workers.jobs import CHANNEL_JOBS, QUEUED_JOBS_PROBE

    waiter = open_change_waiter(sqlite_database, (CHANNEL_JOBS,), sqlite_probes={CHANNEL_JOBS: QUEUED_JOBS_PROBE})
    assert isinstance(waiter, SqliteChangeWaiter)
    try:
        for step in range(3):  # heartbeats, settings, quotes: commits that queue no job
            with sqlite_database.session() as session:
                set_setting(session, "test.unrelated", {"step": step})
        began = time.monotonic()
        assert waiter.wait(0.5) == set()  # not woken: waited out its timeout
        assert time.monotonic() - began >= 0.45
        thread = _write_later(0.2, lambda: _queue_job(sqlite_database, Job, JobStatus))
        began = time.monotonic()
        assert waiter.wait(5.0) == {CHANNEL_JOBS}
        assert time.monotonic() - began < 2.0
        thread.join()
    finally:
        waiter.close()


def _queue_job(database: Database, job: type, status: object) -> None:
    with database.session() as session:
        session.add(job(kind="backtest", params={}, status=status.QUEUED))  # type: ignore[attr-defined]
