"""``tables_version``: the token changes when rows are added, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from core.db.engine import Database
from core.db.version import tables_version
from core.market.models import AssetClass, Instrument


def _add_instrument(database: Database, symbol: str) -> None:
    with database.session() as session:
        session.add(Instrument(symbol=symbol, base=symbol, quote="EUR", asset_class=AssetClass.CRYPTO))
        if database.kind == "postgresql":  # this backend's pending statistics go out when it is idle
            session.flush()
            session.execute(text("SELECT pg_stat_force_next_flush()"))


def _settled_version(database: Database) -> object:
    """The token once the statistics of earlier writes have arrived (PostgreSQL flushes them late)."""
    current = _version(database)
    if database.kind != "postgresql":
        return current
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        time.sleep(0.3)
        previous, current = current, _version(database)
        if current == previous:
            return current
    return current


def _version(database: Database) -> object:
    with database.session() as session:
        return tables_version(session, ["instruments", "candles"])


def test_the_token_is_stable_without_writes_and_changes_when_a_row_is_added(database: Database) -> None:
    _add_instrument(database, "AAA")
    first = _settled_version(database)
    assert _version(database) == first
    _add_instrument(database, "BBB")
    if database.kind == "postgresql":  # the statistics reach pg_stat_user_tables within seconds
        deadline = time.monotonic() + 15
        while _version(database) == first and time.monotonic() < deadline:
            time.sleep(0.2)
    assert _version(database) != first


def test_a_candle_upsert_of_new_rows_changes_the_token(sqlite_database: Database) -> None:
    _add_instrument(sqlite_database, "AAA")
    before = _version(sqlite_database)
    with sqlite_database.session() as session:
        session.execute(
            text(
                "INSERT INTO candles (instrument_id, source, timeframe, ts, open, high, low, close, volume) "
                "VALUES (1, 'x', '1m', :ts, 1, 1, 1, 1, 1)"
            ),
            {"ts": datetime(2026, 1, 1, tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")},
        )
    assert _version(sqlite_database) != before


def test_anything_but_a_plain_table_name_is_refused(sqlite_database: Database) -> None:
    with sqlite_database.session() as session, pytest.raises(ValueError, match="not a table name"):
        tables_version(session, ["candles; DROP TABLE candles"])
