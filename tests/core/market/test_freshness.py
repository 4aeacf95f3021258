"""A price is stale after two expected intervals of its source (its series' timeframe) of trading time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.db.engine import Database
from core.market.freshness import price_freshness
from core.market.models import AssetClass, Candle, Instrument

D = Decimal


def _candle(instrument_id: int, timeframe: str, ts: datetime, close: str) -> Candle:
    price = D(close)
    return Candle(
        instrument_id=instrument_id,
        source="test",
        timeframe=timeframe,
        ts=ts,
        open=price,
        high=price,
        low=price,
        close=price,
        volume=D(1),
    )


def test_the_newest_series_decides_and_its_timeframe_is_the_expected_interval(database: Database) -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # a Wednesday
    with database.session() as session:
        btc = Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO)
        aapl = Instrument(symbol="AAPL", base="AAPL", quote="EUR", asset_class=AssetClass.STOCK)
        session.add_all([btc, aapl])
        session.flush()
        session.add_all([
            _candle(btc.id, "1d", datetime(2026, 12, 1, tzinfo=UTC), "60000"),
            _candle(btc.id, "1h", now - timedelta(hours=3), "61000"),  # closed 2 h ago: exactly 2 intervals
            _candle(aapl.id, "1d", datetime(2026, 11, 27, tzinfo=UTC), "200"),  # Friday's daily candle
        ])  # fmt: skip
        session.flush()
        fresh = price_freshness(session, btc.id, now=now)
        assert fresh is not None and (fresh.price, fresh.expected_interval) == (D(61000), timedelta(hours=1))
        assert fresh.price_time == now - timedelta(hours=2) and not fresh.is_stale
        later = price_freshness(session, btc.id, now=now + timedelta(minutes=1))
        assert later is not None and later.stale_since == now - timedelta(hours=2)
        # a stock's daily close: two trading days of sessions pass before it is stale
        monday = price_freshness(session, aapl.id, now=datetime(2026, 11, 30, 15, 0, tzinfo=UTC))
        assert monday is not None and monday.expected_interval == timedelta(days=1) and not monday.is_stale
        wednesday = price_freshness(session, aapl.id, now=now + timedelta(hours=10))
        assert wednesday is not None and wednesday.is_stale
        # as of a past decision: the price known then, judged then
        past = price_freshness(session, btc.id, as_of=datetime(2026, 12, 1, 23, 0, tzinfo=UTC))
        assert past is not None and past.price == D(60000) and past.expected_interval == timedelta(days=1)
        assert not past.is_stale
        assert price_freshness(session, btc.id, as_of=datetime(2026, 11, 1, tzinfo=UTC)) is None
