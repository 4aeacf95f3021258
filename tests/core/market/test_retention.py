"""Retention of quotes: old ones pruned in small batches, the newest of each instrument kept, candles untouched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.db.engine import Database
from core.market.models import AssetClass, Candle, Instrument, Quote
from core.market.retention import prune_quotes
from core.market.settings import MarketSettings
from workers.market import MarketPass

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _instruments(database: Database) -> tuple[int, int]:
    with database.session() as session:
        btc = Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO)
        eth = Instrument(symbol="ETH/EUR", base="ETH", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add_all([btc, eth])
        session.flush()
        return btc.id, eth.id


def _quotes(database: Database, instrument_id: int, start: datetime, count: int, step: timedelta) -> None:
    with database.session() as session:
        session.add_all(
            Quote(instrument_id=instrument_id, source="stream", ts=start + i * step, last=Decimal(100 + i))
            for i in range(count)
        )


def _times(database: Database, instrument_id: int) -> list[datetime]:
    return list(
        database.run(
            lambda session: session.scalars(
                select(Quote.ts).where(Quote.instrument_id == instrument_id).order_by(Quote.ts)
            ).all()
        )
    )


def test_old_quotes_are_pruned_in_batches_and_recent_ones_stay(database: Database) -> None:
    btc, eth = _instruments(database)
    # BTC: 250 quotes a minute apart ending 1 h ago; the first 190 are older than the 5 h kept.
    _quotes(database, btc, NOW - timedelta(minutes=250), 250, timedelta(minutes=1))
    _quotes(database, eth, NOW - timedelta(minutes=30), 30, timedelta(minutes=1))
    result = prune_quotes(database, keep_hours=1, batch_rows=50, max_batches=2, now=NOW)
    assert (result.deleted, result.batches, result.complete) == (100, 2, False)  # the batch limit: more next time
    result = prune_quotes(database, keep_hours=1, batch_rows=50, max_batches=20, now=NOW)
    assert result.complete and result.deleted == 90
    kept = _times(database, btc)
    assert kept[0] == NOW - timedelta(minutes=60) and len(kept) == 60
    assert len(_times(database, eth)) == 30  # nothing old: untouched
    assert prune_quotes(database, keep_hours=1, batch_rows=50, now=NOW).deleted == 0  # idempotent


def test_the_newest_quote_of_an_instrument_is_kept_however_old(database: Database) -> None:
    btc, _eth = _instruments(database)
    _quotes(database, btc, NOW - timedelta(days=10), 5, timedelta(hours=1))  # a source that stopped
    prune_quotes(database, keep_hours=24, batch_rows=2, now=NOW)
    assert _times(database, btc) == [NOW - timedelta(days=10) + timedelta(hours=4)]


def test_zero_keeps_everything_and_bad_batches_are_refused(database: Database) -> None:
    btc, _eth = _instruments(database)
    _quotes(database, btc, NOW - timedelta(days=10), 5, timedelta(hours=1))
    assert prune_quotes(database, keep_hours=0, now=NOW).deleted == 0
    assert len(_times(database, btc)) == 5
    with pytest.raises(ValueError, match="positive"):
        prune_quotes(database, keep_hours=1, batch_rows=0, now=NOW)


def test_the_market_worker_prunes_old_quotes_with_its_settings_and_keeps_candles(sqlite_database: Database) -> None:
    btc, _eth = _instruments(sqlite_database)
    _quotes(sqlite_database, btc, NOW - timedelta(hours=100), 100, timedelta(hours=1))
    with sqlite_database.session() as session:
        session.add(
            Candle(
                instrument_id=btc,
                source="stream",
                timeframe="1h",
                ts=NOW - timedelta(days=300),
                open=Decimal(1),
                high=Decimal(1),
                low=Decimal(1),
                close=Decimal(1),
                volume=Decimal(1),
            )
        )
    settings = MarketSettings(market_quote_retention_hours=24, market_prune_batch_rows=10, market_streaming=False)
    market_pass = MarketPass(settings, source_factory=lambda database, name: None, clock=lambda: NOW)  # type: ignore[arg-type, return-value]
    assert market_pass.prune(sqlite_database) == 76  # 100 hourly quotes, the last 24 kept (the 24 h boundary too)
    assert len(_times(sqlite_database, btc)) == 24
    assert sqlite_database.run(lambda s: s.scalar(select(func.count()).select_from(Candle))) == 1
