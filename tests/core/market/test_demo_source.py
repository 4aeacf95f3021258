"""The demo market is deterministic per hour: a candle never depends on the window it was asked in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from core.db.engine import Database
from core.market.collection import backfill
from core.market.demo_source import DEMO_INSTRUMENTS, demo_hourly_candles
from core.market.models import Instrument
from core.market.sources.demo import DemoMarketData

FIELDS = ["ts", "open", "high", "low", "close", "volume"]
HOUR = timedelta(hours=1)


@pytest.mark.parametrize("symbol", [spec.symbol for spec in DEMO_INSTRUMENTS])
def test_every_field_of_an_hour_is_the_same_whatever_the_query_window(symbol: str) -> None:
    start = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday, so the stock has session hours in the window
    end = start + timedelta(days=3)
    reference = demo_hourly_candles(symbol, start, end)[FIELDS].set_index("ts")
    assert not reference.empty
    windows = [
        (start, end + timedelta(days=40)),  # a longer window: more values drawn after these hours
        (start - timedelta(days=200), end),  # an earlier start
        (start + 7 * HOUR, end - 5 * HOUR),  # a window inside
        (start - timedelta(days=1), end + timedelta(days=1)),
    ]
    for window_start, window_end in windows:
        other = demo_hourly_candles(symbol, window_start, window_end)[FIELDS].set_index("ts")
        common = reference.index.intersection(other.index)
        assert len(common) > 0
        pd.testing.assert_frame_equal(reference.loc[common], other.loc[common], check_exact=True)


def test_hour_by_hour_queries_equal_one_long_query_on_every_field() -> None:
    start = datetime(2025, 11, 20, 5, tzinfo=UTC)
    whole = demo_hourly_candles("ETH/EUR", start, start + 12 * HOUR)[FIELDS]
    pieces = pd.concat(
        [demo_hourly_candles("ETH/EUR", start + hour * HOUR, start + (hour + 1) * HOUR)[FIELDS] for hour in range(12)],
        ignore_index=True,
    )
    assert len(whole) == 12
    pd.testing.assert_frame_equal(whole, pieces, check_exact=True)
    assert whole["volume"].nunique() == 12 and (whole["volume"] > 0).all()


def test_a_demo_backfill_over_a_different_window_rewrites_nothing(
    database: Database, make_instrument: Callable[..., int]
) -> None:
    make_instrument(database, "BTC/EUR")
    now = datetime(2025, 6, 2, 12, 30, tzinfo=UTC)
    source = DemoMarketData(now=now)
    with database.session() as session:
        btc = session.query(Instrument).filter_by(symbol="BTC/EUR").one()
    first = backfill(database, btc, source, "1h", now - timedelta(days=10), now=now)
    assert first.result.inserted == 10 * 24
    # starts earlier and ends earlier: each window draws a different number of random values
    again = backfill(database, btc, source, "1h", now - timedelta(days=20), now - timedelta(days=3), now=now)
    assert again.result.inserted == 10 * 24
    assert again.result.updated == 0
    assert again.result.unchanged == 7 * 24
