"""Long ranges on Charts: finer candles aggregated to the chart's timeframe in SQL, against pandas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from core.charts import data as chart_module
from core.charts.data import chart_data, load_aggregated_candles, load_chart_candles
from core.db.engine import Database
from core.db.upsert import bulk_upsert
from core.market.instruments import add_instrument
from core.market.models import Candle
from core.market.query import resample_candles

START = datetime(2026, 1, 1, tzinfo=UTC)  # a Thursday: the first week bucket opens on the Monday before
BARS = 12 * 24 * 12  # twelve days of 5-minute candles (the SQL is the same for any divisor, e.g. 1m → 1d)


def _d(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def _minute_candles(database: Database) -> tuple[int, pd.DataFrame]:
    """Seeded 5-minute candles with holes (a missing hour, a missing day) stored for one instrument."""
    generator = np.random.default_rng(21)
    index = pd.date_range(START, periods=BARS, freq="5min", tz="UTC")
    keep = ~((index >= START + timedelta(days=3, hours=5)) & (index < START + timedelta(days=3, hours=6)))
    keep &= ~((index >= START + timedelta(days=7)) & (index < START + timedelta(days=8)))
    index = index[keep]
    close = np.round(100.0 * np.exp(np.cumsum(generator.normal(0.0, 0.001, len(index)))), 6)
    open_ = np.round(np.concatenate([[100.0], close[:-1]]), 6)
    high = np.round(np.maximum(open_, close) * (1 + np.abs(generator.normal(0, 0.0005, len(index)))), 6)
    low = np.round(np.minimum(open_, close) * (1 - np.abs(generator.normal(0, 0.0005, len(index)))), 6)
    volume = np.round(generator.uniform(0.1, 5.0, len(index)), 4)
    frame = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)
    with database.session() as session:
        instrument_id = add_instrument(session, "BTC/EUR").id
    rows = [
        {
            "instrument_id": instrument_id,
            "source": "csv",
            "timeframe": "5m",
            "ts": ts.to_pydatetime(),
            "open": _d(o),
            "high": _d(h),
            "low": _d(lo),
            "close": _d(c),
            "volume": _d(v),
        }
        for ts, o, h, lo, c, v in zip(index, open_, high, low, close, volume, strict=True)
    ]
    with database.session() as session:
        key = ["instrument_id", "source", "timeframe", "ts"]
        bulk_upsert(session, Candle.__table__, rows, conflict_columns=key, update_columns=["close"])  # type: ignore[arg-type]
    return instrument_id, frame


@pytest.fixture
def minutes(database: Database) -> tuple[Database, int, pd.DataFrame]:
    instrument_id, frame = _minute_candles(database)
    return database, instrument_id, frame


def test_sql_buckets_equal_a_pandas_resample_of_the_same_candles(minutes: tuple[Database, int, pd.DataFrame]) -> None:
    database, instrument_id, frame = minutes
    read = database.run(lambda s: load_chart_candles(s, instrument_id, "5m", "csv"))
    for timeframe in ("15m", "1h", "4h", "1d", "1w"):
        with database.session() as session:
            got = load_aggregated_candles(session, instrument_id, "5m", "csv", timeframe)
        expected = resample_candles(frame, timeframe)
        assert len(got) == len(expected), timeframe
        assert got.index.equals(expected.index.rename("ts").as_unit(got.index.unit)), timeframe
        for column in ("open", "high", "low", "close"):
            assert got[column].tolist() == pytest.approx(expected[column].tolist(), rel=1e-12), (timeframe, column)
        assert got["volume"].tolist() == pytest.approx(expected["volume"].tolist(), rel=1e-9), timeframe
        # ... and the same as reading every candle and resampling in pandas, as the page did before.
        assert resample_candles(read, timeframe)["close"].tolist() == pytest.approx(got["close"].tolist(), rel=1e-12)


def test_a_range_is_bounded_and_the_missing_day_has_no_bar(minutes: tuple[Database, int, pd.DataFrame]) -> None:
    database, instrument_id, frame = minutes
    start, end = START + timedelta(days=2, hours=3), START + timedelta(days=9)
    got = database.run(lambda s: load_aggregated_candles(s, instrument_id, "5m", "csv", "1d", start=start, end=end))
    expected = resample_candles(frame.loc[(frame.index >= start) & (frame.index < end)], "1d")
    assert got.index.equals(expected.index.rename("ts").as_unit(got.index.unit))
    assert pd.Timestamp(START + timedelta(days=7)) not in got.index  # no candles that day: no bar
    assert got["open"].iloc[0] == pytest.approx(float(frame.loc[frame.index >= start, "open"].iloc[0]))
    with pytest.raises(ValueError, match="cannot be built"):
        database.run(lambda s: load_aggregated_candles(s, instrument_id, "1h", "csv", "5m"))


def test_the_whole_range_is_drawn_at_the_charts_timeframe_not_cut_to_the_source_limit(
    minutes: tuple[Database, int, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    database, instrument_id, frame = minutes
    # Far fewer than the 3,200 stored candles: before, "All" at 1d showed only the last 500 of them.
    monkeypatch.setattr(chart_module, "MAX_SOURCE_ROWS", 500)
    data = database.run(lambda s: chart_data(s, instrument_id, "1d", "All", with_levels=False))
    assert not data.shortened
    assert data.base_timeframe == "5m"
    assert len(data.candles) == len(resample_candles(frame, "1d")) == 11  # twelve days, one without candles
    assert data.candles.index[0] == pd.Timestamp(START)
    assert data.candles["high"].max() == pytest.approx(frame["high"].max())
    hourly = database.run(lambda s: chart_data(s, instrument_id, "1h", "All", with_levels=False))
    assert len(hourly.candles) == len(resample_candles(frame, "1h"))


def test_scrolling_back_pages_in_older_aggregated_bars(
    minutes: tuple[Database, int, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    database, instrument_id, _frame = minutes
    first = database.run(lambda s: chart_data(s, instrument_id, "1h", "1W", with_levels=False))
    assert first.has_more_before
    more = database.run(lambda s: chart_data(s, instrument_id, "1h", "1W", with_levels=False, extra_pages=1))
    assert more.candles.index[0] < first.candles.index[0]
    assert more.candles.index[-1] == first.candles.index[-1]
    assert not more.has_more_before  # two weeks back reach the first candle
    assert more.candles.index[0] == pd.Timestamp(START)
    # The limit counts drawn bars: 48 hourly bars at most, newest first.
    monkeypatch.setattr(chart_module, "MAX_SOURCE_ROWS", 48)
    capped = database.run(lambda s: chart_data(s, instrument_id, "1h", "All", with_levels=False))
    assert capped.shortened and len(capped.candles) <= 48 and capped.has_more_before
