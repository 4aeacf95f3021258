"""The skip scan over the candles key: every series found, in key order, with several sources and timeframes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.db.engine import Database
from core.db.upsert import bulk_upsert
from core.market.models import AssetClass, Candle, Instrument
from core.market.query import _preferred_source, candle_sources, load_candles
from core.market.series import candle_series, series_keys

START = datetime(2026, 1, 1, tzinfo=UTC)


def _candles(instrument_id: int, source: str, timeframe: str, count: int) -> list[dict[str, object]]:
    step = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1), "1d": timedelta(days=1)}[timeframe]
    return [
        {
            "instrument_id": instrument_id,
            "source": source,
            "timeframe": timeframe,
            "ts": START + step * index,
            "open": Decimal(100),
            "high": Decimal(101),
            "low": Decimal(99),
            "close": Decimal(100 + index),
            "volume": Decimal(1),
        }
        for index in range(count)
    ]


def _seed(database: Database) -> tuple[int, int, int]:
    with database.session() as session:
        instruments = [
            Instrument(symbol=symbol, base=symbol.split("/")[0], quote="EUR", asset_class=AssetClass.CRYPTO)
            for symbol in ("AAA/EUR", "BBB/EUR", "CCC/EUR")
        ]
        session.add_all(instruments)
        session.flush()
        first, second, third = (instrument.id for instrument in instruments)
        rows = (
            _candles(first, "alpha", "1h", 30)
            + _candles(first, "alpha", "1d", 3)
            + _candles(first, "beta", "1h", 50)
            + _candles(first, "beta", "1m", 10)
            + _candles(third, "gamma", "1d", 5)
        )
        bulk_upsert(session, Candle.__table__, rows, conflict_columns=["instrument_id", "source", "timeframe", "ts"])  # type: ignore[arg-type]
    return first, second, third


def test_series_keys_find_every_series_in_key_order(database: Database) -> None:
    first, second, third = _seed(database)
    expected_first = [(first, "alpha", "1d"), (first, "alpha", "1h"), (first, "beta", "1h"), (first, "beta", "1m")]
    with database.session() as session:
        assert series_keys(session) == [*expected_first, (third, "gamma", "1d")]
        assert series_keys(session, first) == expected_first
        assert series_keys(session, second) == []
        assert series_keys(session, third) == [(third, "gamma", "1d")]
        newest = {(item.instrument_id, item.source, item.timeframe): item for item in candle_series(session)}
        assert newest[(first, "beta", "1h")].latest_ts == START + timedelta(hours=49)
        assert newest[(first, "beta", "1h")].latest_close == Decimal(149)
        assert candle_sources(session, first) == [("alpha", "1d"), ("alpha", "1h"), ("beta", "1h"), ("beta", "1m")]
        assert candle_sources(session, second) == []


def test_preferred_source_is_the_one_with_most_candles(database: Database) -> None:
    first, second, third = _seed(database)
    with database.session() as session:
        assert _preferred_source(session, first, "1h") == "beta"  # 50 candles against alpha's 30
        assert _preferred_source(session, first, "1d") == "alpha"  # the only one
        assert _preferred_source(session, first, "4h") is None
        assert _preferred_source(session, second, "1h") is None
        assert _preferred_source(session, third, "1d") == "gamma"
        assert len(load_candles(session, first, "1h")) == 50
