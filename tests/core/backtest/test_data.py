from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.backtest.data import read_candle_csv
from core.backtest.series import PriceDataError

from .conftest import real_series


@pytest.mark.parametrize(
    ("name", "rows", "timeframe", "first", "first_close"),
    [
        ("ETH_BTC_5m.csv", 5760, "5m", datetime(2018, 1, 10, 4, 55, tzinfo=UTC), 0.0994766),
        ("ADA_BTC_5m.csv", 5720, "5m", datetime(2018, 1, 10, 4, 55, tzinfo=UTC), 5.2900000000000005e-05),
        ("SPY_1d.csv", 5241, "1d", datetime(1999, 11, 1, tzinfo=UTC), 135.5625),
        ("GOOG_1d.csv", 2148, "1d", datetime(2004, 8, 19, tzinfo=UTC), 100.34),
        ("ORCL_1d.csv", 5036, "1d", datetime(1995, 1, 3, tzinfo=UTC), 2.117284),
    ],
)
def test_every_real_csv_variant_loads(
    name: str, rows: int, timeframe: str, first: datetime, first_close: float
) -> None:
    bars = real_series(name)
    assert len(bars) == rows
    assert bars.timeframe == timeframe
    assert bars.index[0].to_pydatetime() == first
    assert bars.close[0] == first_close
    assert bars.index.is_monotonic_increasing


def test_orcl_uses_close_not_adj_close() -> None:
    bars = real_series("ORCL_1d.csv")
    assert bars.close[0] == 2.117284  # Adj Close of that row is 1.883304


def test_unix_milliseconds_and_the_file_name_as_label(tmp_path: Path) -> None:
    path = tmp_path / "raw.csv"
    path.write_text("time,open,high,low,close,volume\n1704067200000,1,2,0.5,1.5,10\n1704070800000,1.5,2,1,1.8,11\n")
    bars = read_candle_csv(path)
    assert len(bars) == 2 and bars.label == "raw.csv"
    assert bars.index[1].to_pydatetime() == datetime(2024, 1, 1, 1, tzinfo=UTC)
    assert bars.timeframe == "1h"
    assert list(bars.close) == [1.5, 1.8]


HEADER = "timestamp,open,high,low,close,volume\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (HEADER + "2024-01-01,1,2,0.5,x,1\n", "line 2, column 'close': 'x' is not a number"),
        ("timestamp,open,high,close\n2024-01-01,1,2,1\n", "missing column"),
        (HEADER + "2024-01-01,1,2,0.5,1,1\n2024-01-01,1,2,0.5,1,1\n", "no duplicates"),
        (HEADER + "not a date,1,2,0.5,1,1\n", "cannot read 'not a date' as a time"),
        (HEADER + "2024-01-01,1,2,-0.5,1,1\n", "finite and positive"),
        (HEADER + "2024-01-01,1,2,nan,1,1\n", "finite and positive"),
        ("foo,bar\n1,2\n", "no time column"),
        ("1704067200,1,2,0.5,1.5,10\n", "no time column"),  # a file without a header
        ("", "empty"),
    ],
)
def test_malformed_csv_is_refused_with_a_clear_message(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(PriceDataError, match=message):
        read_candle_csv(path)


def test_missing_file() -> None:
    with pytest.raises(PriceDataError, match="no such file"):
        read_candle_csv("/nonexistent/x.csv")


def test_range_selection() -> None:
    bars = real_series("SPY_1d.csv").between(datetime(2010, 1, 1, tzinfo=UTC), datetime(2011, 1, 1, tzinfo=UTC))
    assert bars.index[0].year == 2010 and bars.index[-1].year == 2010
    assert len(bars) == 252
    with pytest.raises(PriceDataError, match="no candles in the chosen range"):
        bars.between(datetime(2030, 1, 1, tzinfo=UTC))
