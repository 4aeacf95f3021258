from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pandas as pd
import pytest

from core.analysis.indicators import IndicatorKind, IndicatorSpec
from core.charts import data as chart_module
from core.charts.data import chart_data, choose_series
from core.db.engine import Database
from core.db.upsert import bulk_upsert
from core.execution.enums import OrderSide
from core.market.models import Candle
from core.market.series import CandleSeries, candle_series, latest_prices
from tests.core.portfolio.handmade import NOW, seed_handmade


def _hourly(database: Database, instrument_id: int, hours: int) -> None:
    rows = []
    for index in range(hours):
        price = Decimal(1000 + index)
        rows.append(
            {
                "instrument_id": instrument_id,
                "source": "demo",
                "timeframe": "1h",
                "ts": NOW - timedelta(hours=hours - index),
                "open": price,
                "high": price + 2,
                "low": price - 2,
                "close": price + 1,
                "volume": Decimal(1),
            }
        )
    with database.session() as session:
        bulk_upsert(
            session,
            Candle.__table__,  # type: ignore[arg-type]
            rows,
            conflict_columns=["instrument_id", "source", "timeframe", "ts"],
            update_columns=["close"],
        )


@pytest.fixture
def charted(database: Database) -> tuple[Database, dict[str, int]]:
    ids = seed_handmade(database)
    _hourly(database, ids["BTC/EUR"], 24 * 40)
    return database, ids


def test_series_are_found_by_skip_scan_with_their_newest_candle(charted: tuple[Database, dict[str, int]]) -> None:
    database, ids = charted
    series = database.run(candle_series)
    assert [(s.instrument_id, s.source, s.timeframe) for s in series] == [
        (ids["BTC/EUR"], "demo", "1h"),
        (ids["ETH/EUR"], "demo", "1h"),
        (ids["ETH/EUR"], "other", "1d"),
    ]
    assert series[0].latest_ts == NOW - timedelta(hours=1)
    prices = database.run(lambda s: latest_prices(s, [ids["ETH/EUR"]]))
    assert prices == {ids["ETH/EUR"]: (NOW - timedelta(hours=1), Decimal("2000"))}


def test_four_hour_chart_is_resampled_from_hourly_candles_with_warm_up(charted) -> None:
    database, ids = charted
    specs = [
        IndicatorSpec(IndicatorKind.SMA, 20),
        IndicatorSpec(IndicatorKind.RSI, 14),
        IndicatorSpec(IndicatorKind.MACD),
    ]
    data = database.run(lambda s: chart_data(s, ids["BTC/EUR"], "4h", "1W", indicators=specs))
    assert data.base_timeframe == "1h"
    assert data.source == "demo"
    assert data.end == NOW
    assert len(data.candles) == 42  # 7 days of 4h bars
    assert data.candles.index[0] == pd.Timestamp(NOW - timedelta(days=7))
    first = data.candles.iloc[0]  # hours 0..3 of the bar: open of the first, close of the last
    assert (first["open"], first["close"], first["volume"]) == (1000 + 24 * 33, 1000 + 24 * 33 + 4, 4.0)
    assert list(data.indicators.columns) == ["sma_20", "rsi_14", "macd", "macd_histogram", "macd_signal"]
    assert not data.indicators["sma_20"].isna().any()  # the warm-up before the range fills it
    assert data.notes and "built from stored 1h" in data.notes[0]


def test_own_trades_become_markers_with_price_and_side(charted) -> None:
    database, ids = charted
    data = database.run(lambda s: chart_data(s, ids["BTC/EUR"], "1d", "All", with_levels=False))
    assert [(t.side, t.price_eur, t.quantity.quantize(Decimal("0.01"))) for t in data.trades] == [
        (OrderSide.BUY, Decimal("20000"), Decimal("0.25")),
        (OrderSide.BUY, Decimal("24000"), Decimal("0.25")),
        (OrderSide.SELL, Decimal("28000"), Decimal("0.25")),
    ]
    assert len(data.candles) == 41


def test_a_range_longer_than_the_read_limit_is_shortened(charted, monkeypatch: pytest.MonkeyPatch) -> None:
    database, ids = charted
    monkeypatch.setattr(chart_module, "MAX_SOURCE_ROWS", 24 * 10)
    data = database.run(lambda s: chart_data(s, ids["BTC/EUR"], "1h", "All", with_levels=False))
    assert data.shortened
    assert len(data.candles) == 24 * 10
    assert "shortened" in data.notes[0]


def test_unknown_timeframe_and_range_are_refused(charted) -> None:
    database, ids = charted
    with pytest.raises(ValueError, match="unknown timeframe"):
        database.run(lambda s: chart_data(s, ids["BTC/EUR"], "7h"))
    with pytest.raises(ValueError, match="unknown range"):
        database.run(lambda s: chart_data(s, ids["BTC/EUR"], "1h", "2Y"))


def test_choose_series_prefers_the_coarsest_divisor_and_the_default_source() -> None:
    def series(source: str, timeframe: str) -> CandleSeries:
        return CandleSeries(1, source, timeframe, NOW, Decimal(1))

    available = [series("a", "1m"), series("a", "1h"), series("b", "1h"), series("a", "1d")]
    assert choose_series(available, "4h", "b") == series("b", "1h")
    assert choose_series(available, "1d", "b") == series("a", "1d")
    assert choose_series([series("a", "1d")], "1h", None) is None
