"""The Charts page's candle reader is the columnar one of ``load_candles``: the same frame as one row per candle."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from core.charts import data as chart_module
from core.charts.data import CANDLE_COLUMNS, CHART_INDEX_UNIT, chart_data, load_chart_candles
from core.db.engine import Database
from core.db.upsert import bulk_upsert
from core.market.instruments import add_instrument
from core.market.models import Candle
from core.market.query import load_candles_by_rows

START = datetime(2025, 12, 1, tzinfo=UTC)
HOURS = 24 * 20


def rows_reader(
    session: Session,
    instrument_id: int,
    timeframe: str,
    source: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pd.DataFrame:
    """The reader the Charts page used before: one driver row per candle, the time as epoch seconds in SQL."""
    raw = [type_coerce(getattr(Candle, name), NullType()) for name in CANDLE_COLUMNS]
    query = select(chart_module._epoch_seconds(session), *raw).where(
        Candle.instrument_id == instrument_id, Candle.source == source, Candle.timeframe == timeframe
    )
    if start is not None:
        query = query.where(Candle.ts >= start)
    if end is not None:
        query = query.where(Candle.ts < end)
    rows = session.connection().execute(query.order_by(Candle.ts)).all()
    if not rows:
        return chart_module._frame([], [])
    columns: Sequence[Sequence[Any]] = list(zip(*rows, strict=True))
    return chart_module._frame(columns[0], columns[1:])


def _store(database: Database) -> int:
    """Hourly candles of one instrument from two sources and two timeframes, with awkward decimals."""
    generator = np.random.default_rng(7)
    with database.session() as session:
        instrument_id = add_instrument(session, "BTC/EUR").id
    rows = []
    for source, timeframe, step, count in (
        ("exchange", "1h", timedelta(hours=1), HOURS),
        ("other", "1h", timedelta(hours=1), HOURS // 2),  # a second source: never mixed in
        ("exchange", "1d", timedelta(days=1), 20),  # another timeframe: never mixed in
    ):
        closes = 60_000 * np.exp(np.cumsum(generator.normal(0, 0.01, count)))
        for position in range(count):
            close = Decimal(f"{closes[position]:.8f}")
            rows.append(
                {
                    "instrument_id": instrument_id,
                    "source": source,
                    "timeframe": timeframe,
                    "ts": START + step * position,
                    "open": close - Decimal("0.00000001"),
                    "high": close + Decimal("12.3456789"),
                    "low": close - Decimal("0.1"),
                    "close": close,
                    "volume": Decimal("0.000012345") * (position + 1),
                }
            )
    with database.session() as session:
        key = ["instrument_id", "source", "timeframe", "ts"]
        bulk_upsert(session, Candle.__table__, rows, conflict_columns=key, update_columns=["close"])  # type: ignore[arg-type]
    return instrument_id


BOUNDS = [
    (None, None),
    (START + timedelta(hours=30), None),
    (None, START + timedelta(days=3, minutes=30)),  # an end between two candles
    (START + timedelta(days=2), START + timedelta(days=9)),
    (START + timedelta(days=40), None),  # after the last candle: empty
]


@pytest.mark.parametrize(("start", "end"), BOUNDS)
def test_the_columnar_chart_frame_equals_the_row_reader(
    database: Database, start: datetime | None, end: datetime | None
) -> None:
    instrument_id = _store(database)
    with database.session() as session:
        got = load_chart_candles(session, instrument_id, "1h", "exchange", start=start, end=end)
        before = rows_reader(session, instrument_id, "1h", "exchange", start=start, end=end)
        by_rows = load_candles_by_rows(session, instrument_id, "1h", source="exchange", start=start, end=end)
    pd.testing.assert_frame_equal(got, before, check_exact=True)
    assert got.index.name == "ts" and str(got.index.tz) == "UTC" and got.index.unit == CHART_INDEX_UNIT
    assert list(got.columns) == list(CANDLE_COLUMNS) and all(got.dtypes == np.float64)
    if start == START + timedelta(days=40):
        assert got.empty
    else:
        assert len(got) > 0
        # the same values as the market reader's own reference, whatever its index unit
        np.testing.assert_array_equal(got.to_numpy(), by_rows.to_numpy())
        assert (got.index == by_rows.index).all()


def test_other_sources_and_timeframes_are_not_mixed_in(database: Database) -> None:
    instrument_id = _store(database)
    with database.session() as session:
        hourly = load_chart_candles(session, instrument_id, "1h", "exchange")
        other = load_chart_candles(session, instrument_id, "1h", "other")
        daily = load_chart_candles(session, instrument_id, "1d", "exchange")
    assert (len(hourly), len(other), len(daily)) == (HOURS, HOURS // 2, 20)
    assert hourly.index.is_monotonic_increasing and hourly.index[0] == pd.Timestamp(START)
    assert not hourly["close"].iloc[: HOURS // 2].equals(other["close"])


def test_the_chart_draws_the_columnar_frame(database: Database) -> None:
    instrument_id = _store(database)
    with database.session() as session:
        data = chart_data(session, instrument_id, "1h", "1W", with_levels=False)
        end = START + timedelta(hours=HOURS)
        expected = rows_reader(session, instrument_id, "1h", "exchange", start=end - timedelta(days=7), end=end)
    assert data.source == "exchange" and data.base_timeframe == "1h"
    pd.testing.assert_frame_equal(data.candles, expected, check_exact=True)
