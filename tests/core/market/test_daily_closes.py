from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd

from core.db.engine import Database
from core.db.upsert import bulk_upsert
from core.market.models import AssetClass, Candle, Instrument
from core.market.query import daily_closes, load_candles, resample_candles


def test_daily_closes_in_sql_equal_resampled_candles(database: Database) -> None:
    with database.session() as session:
        instrument = Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add(instrument)
        session.flush()
        start = datetime(2026, 1, 1, 5, tzinfo=UTC)
        rows = [
            {
                "instrument_id": instrument.id,
                "source": "s",
                "timeframe": "1h",
                "ts": start + timedelta(hours=hour),
                "open": Decimal(100 + hour),
                "high": Decimal(101 + hour),
                "low": Decimal(99 + hour),
                "close": Decimal(hour) + Decimal("100.5"),
                "volume": Decimal(1),
            }
            for hour in range(80)
        ]
        bulk_upsert(session, Candle.__table__, rows, conflict_columns=["instrument_id", "source", "timeframe", "ts"])  # type: ignore[arg-type]
        instrument_id = instrument.id
    with database.session() as session:
        in_sql = daily_closes(session, instrument_id, "1h")
        expected = resample_candles(load_candles(session, instrument_id, "1h"), "1d")["close"]
    assert list(in_sql.index) == list(expected.index)
    pd.testing.assert_series_equal(in_sql, expected, check_names=False, check_freq=False)


def test_daily_closes_from_a_start_keep_whole_days_after_it(database: Database) -> None:
    with database.session() as session:
        instrument = Instrument(symbol="ETH/EUR", base="ETH", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add(instrument)
        session.flush()
        start = datetime(2026, 1, 1, 0, tzinfo=UTC)
        rows = [
            {
                "instrument_id": instrument.id,
                "source": "s",
                "timeframe": "1h",
                "ts": start + timedelta(hours=hour),
                "open": Decimal(10),
                "high": Decimal(11),
                "low": Decimal(9),
                "close": Decimal(hour) + Decimal("0.25"),
                "volume": Decimal(1),
            }
            for hour in range(24 * 4)
        ]
        bulk_upsert(session, Candle.__table__, rows, conflict_columns=["instrument_id", "source", "timeframe", "ts"])  # type: ignore[arg-type]
        instrument_id = instrument.id
    with database.session() as session:
        closes = daily_closes(session, instrument_id, "1h", start=start + timedelta(hours=30))
    assert [ts.day for ts in closes.index] == [2, 3, 4]
    assert list(closes) == [47.25, 71.25, 95.25]
