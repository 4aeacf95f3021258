from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.db.engine import Database
from core.demo.seed import SETTING_DEMO_SEEDED_AT, database_is_empty, demo_anchor, has_demo_data, seed_demo
from core.execution.models import Order
from core.market.demo_source import demo_hourly_candles
from core.market.models import Candle, Instrument
from core.portfolio.models import LedgerEntry, PortfolioSnapshot, Position
from core.risk.models import RiskAlert, RiskExitEvent
from core.system.models import UserAccount
from core.system.settings_store import set_setting

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _counts(database: Database) -> tuple[int, ...]:
    with database.session() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Instrument, Candle, LedgerEntry, Position, PortfolioSnapshot, UserAccount)
        )


def test_demo_seed_is_complete_and_idempotent(database: Database) -> None:
    with database.session() as session:
        assert database_is_empty(session)
    seed_demo(database, now=NOW)
    first = _counts(database)
    instruments, candles, ledger, positions, snapshots, users = first
    assert instruments == 4
    assert candles > 3 * 365 * 24  # a year of hourly candles for each crypto, plus the stock
    assert ledger == 14
    assert positions >= 3
    assert snapshots >= 365
    assert users == 1
    seed_demo(database, now=NOW)
    assert _counts(database) == first
    with database.session() as session:
        assert has_demo_data(session)
        assert not database_is_empty(session)


def test_demo_ledger_balances_match_positions(sqlite_database: Database) -> None:
    seed_demo(sqlite_database, now=NOW)
    with sqlite_database.session() as session:
        balances: dict[str, Decimal] = {}
        for entry in session.scalars(select(LedgerEntry)):
            for asset, quantity, sign in (
                (entry.received_asset, entry.received_quantity, 1),
                (entry.sent_asset, entry.sent_quantity, -1),
                (entry.fee_asset, entry.fee_quantity, -1),
            ):
                if asset and quantity:
                    balances[asset] = balances.get(asset, Decimal(0)) + sign * quantity
        for position in session.scalars(select(Position)):
            instrument = session.get(Instrument, position.instrument_id)
            assert instrument is not None
            assert balances.get(instrument.base, Decimal(0)) == position.quantity
        assert balances["EUR"] > 0


def test_demo_market_is_deterministic_by_time() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    end = datetime(2025, 1, 3, tzinfo=UTC)
    first = demo_hourly_candles("BTC/EUR", start, end)
    longer = demo_hourly_candles("BTC/EUR", start, datetime(2025, 2, 1, tzinfo=UTC))
    assert len(first) == 48
    assert first["close"].tolist() == longer["close"].iloc[:48].tolist()
    assert (first["high"] >= first[["open", "close"]].max(axis=1)).all()
    assert (first["low"] <= first[["open", "close"]].min(axis=1)).all()


def test_demo_price_between_candles_lies_on_the_same_walk() -> None:
    from core.market.demo_source import demo_price_at

    start = datetime(2026, 3, 1, tzinfo=UTC)
    candles = demo_hourly_candles("ETH/EUR", start, datetime(2026, 3, 1, 3, tzinfo=UTC))
    for hour, row in enumerate(candles.itertuples()):
        assert round(demo_price_at("ETH/EUR", datetime(2026, 3, 1, hour, tzinfo=UTC)), 2) == row.open
        inside = demo_price_at("ETH/EUR", datetime(2026, 3, 1, hour, 35, tzinfo=UTC))
        assert row.low - 0.01 <= inside <= row.high + 0.01


_KEYED_MODELS = (
    Instrument,
    Candle,
    LedgerEntry,
    Position,
    PortfolioSnapshot,
    UserAccount,
    Order,
    RiskExitEvent,
    RiskAlert,
)


def _keyed_counts(database: Database) -> tuple[int, ...]:
    with database.session() as session:
        return tuple(session.scalar(select(func.count()).select_from(model)) or 0 for model in _KEYED_MODELS)


def test_a_reseed_in_a_later_hour_reuses_the_first_anchor(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter([NOW + timedelta(minutes=59, seconds=58), NOW + timedelta(hours=1, seconds=3)])
    monkeypatch.setattr("core.demo.seed.utc_now", lambda: next(clock))
    first_context = seed_demo(sqlite_database)
    first = _keyed_counts(sqlite_database)
    second_context = seed_demo(sqlite_database)  # the next hour on the wall clock
    assert first_context.now == second_context.now == NOW
    assert _keyed_counts(sqlite_database) == first


def test_an_explicit_later_anchor_writes_no_keyed_demo_row_twice(sqlite_database: Database) -> None:
    seed_demo(sqlite_database, now=NOW)
    first = dict(zip(_KEYED_MODELS, _keyed_counts(sqlite_database), strict=True))
    context = seed_demo(sqlite_database, now=NOW + timedelta(hours=1))
    assert context.now == NOW + timedelta(hours=1)
    second = dict(zip(_KEYED_MODELS, _keyed_counts(sqlite_database), strict=True))
    assert second.pop(Candle) > first.pop(
        Candle
    )  # the candles reach the later hour (the stock's only in trading hours)
    assert second == first


def test_the_anchor_falls_back_to_the_clock_when_the_stored_one_is_unreadable(sqlite_database: Database) -> None:
    with sqlite_database.session() as session:
        assert demo_anchor(session, NOW + timedelta(minutes=17)) == NOW
        set_setting(session, SETTING_DEMO_SEEDED_AT, "not a time")
        assert demo_anchor(session) > NOW
        set_setting(session, SETTING_DEMO_SEEDED_AT, (NOW - timedelta(days=3)).isoformat())
        assert demo_anchor(session) == NOW - timedelta(days=3)
        assert demo_anchor(session, NOW) == NOW
