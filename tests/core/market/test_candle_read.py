"""The columnar candle reader (``load_candles``) against the row reader (``load_candles_by_rows``).

Both databases: the frames must be equal — index (aware UTC, named ``ts``, microseconds), float
columns open..volume, values bit for bit, order — on every edge case.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bench.candle_read import synthetic_candles
from core.db.engine import Database
from core.market import query
from core.market.models import Candle
from core.market.query import load_candles, load_candles_by_rows
from core.market.store import store_candles
from tests.core.market.conftest import hourly_frame

START = datetime(2024, 1, 1, tzinfo=UTC)
VALUE_NAMES = ("open", "high", "low", "close", "volume")


def _both(session: Session, instrument_id: int, timeframe: str = "1h", **options: Any) -> pd.DataFrame:
    """Read with both readers, assert the frames are equal, return the columnar one."""
    columnar = load_candles(session, instrument_id, timeframe, **options)
    source = options.pop("source", None) or query._preferred_source(session, instrument_id, timeframe)
    if source is None:
        assert columnar.empty
        return columnar
    rows = load_candles_by_rows(session, instrument_id, timeframe, source=source, **options)
    pd.testing.assert_frame_equal(columnar, rows, check_exact=True)
    assert list(columnar.columns) == ["open", "high", "low", "close", "volume"]
    assert all(dtype == np.float64 for dtype in columnar.dtypes)
    assert columnar.index.name == "ts"
    assert str(columnar.index.tz) == "UTC"
    if not columnar.empty:
        assert columnar.index.is_monotonic_increasing and columnar.index.is_unique
    return columnar


def _noisy_frame(count: int, start: datetime = START, seed: int = 3) -> pd.DataFrame:
    """Valid hourly candles with full 17-digit float values (no neat decimals): the benchmark's builder."""
    return synthetic_candles(
        count, start, freq="1h", seed=seed, base=1_000.0, volatility=0.01, spread=2.0, volume_sigma=2.0
    )


@pytest.fixture
def series(database: Database, make_instrument: Callable[..., int]) -> tuple[Database, int]:
    """300 noisy hourly candles from ``demo``, 40 from ``csv``, 20 daily ones; another instrument's too."""
    instrument_id = make_instrument(database)
    other_id = make_instrument(database, "ETH/EUR")
    with database.session() as session:
        store_candles(session, _noisy_frame(300), instrument_id=instrument_id, source="demo", timeframe="1h")
        store_candles(session, hourly_frame(40), instrument_id=instrument_id, source="csv", timeframe="1h")
        daily = _noisy_frame(20, seed=5)
        daily["ts"] = pd.date_range(START, periods=20, freq="1D", tz="UTC")
        store_candles(session, daily, instrument_id=instrument_id, source="demo", timeframe="1d")
        store_candles(session, _noisy_frame(50, seed=9), instrument_id=other_id, source="demo", timeframe="1h")
    return database, instrument_id


def test_whole_series_and_sources(series: tuple[Database, int]) -> None:
    database, instrument_id = series
    with database.session() as session:
        preferred = _both(session, instrument_id)  # the source with the most candles: demo
        assert len(preferred) == 300
        assert preferred.index[0] == START and preferred.index[-1] == START + timedelta(hours=299)
        csv = _both(session, instrument_id, source="csv")
        assert len(csv) == 40
        assert csv["close"].iloc[3] == hourly_frame(40)["close"].iloc[3]
        assert len(_both(session, instrument_id, "1d")) == 20
        assert len(_both(session, instrument_id, source="nowhere")) == 0
        assert len(_both(session, instrument_id, "4h")) == 0  # no such timeframe stored
        assert _both(session, 999_999).empty  # no such instrument
    stored = _noisy_frame(300)
    for name in ("open", "high", "low", "close", "volume"):
        if database.kind == "sqlite":  # REAL: the float itself
            assert np.array_equal(preferred[name].to_numpy(), stored[name].to_numpy())
        else:  # numeric, 15 significant digits on the way in
            np.testing.assert_allclose(preferred[name].to_numpy(), stored[name].to_numpy(), rtol=1e-14)


def test_limit_keeps_the_latest_rows(series: tuple[Database, int]) -> None:
    database, instrument_id = series
    with database.session() as session:
        latest = _both(session, instrument_id, limit=25)
        assert len(latest) == 25
        assert latest.index[-1] == START + timedelta(hours=299)
        assert latest.index[0] == START + timedelta(hours=275)
        one = _both(session, instrument_id, limit=1)
        assert list(one.index) == [START + timedelta(hours=299)]
        assert len(_both(session, instrument_id, limit=1_000)) == 300
        assert _both(session, instrument_id, limit=0).empty
        end = START + timedelta(hours=100)
        before_end = _both(session, instrument_id, end=end, limit=10)
        assert before_end.index[-1] == end - timedelta(hours=1) and len(before_end) == 10


def test_start_is_inclusive_and_end_exclusive(series: tuple[Database, int]) -> None:
    database, instrument_id = series
    start, end = START + timedelta(hours=10), START + timedelta(hours=20)
    with database.session() as session:
        window = _both(session, instrument_id, start=start, end=end)
        assert window.index[0] == start and window.index[-1] == end - timedelta(hours=1) and len(window) == 10
        assert len(_both(session, instrument_id, start=start)) == 290
        assert len(_both(session, instrument_id, end=end)) == 20
        # between two candles, and bounds given in another time zone
        vienna = datetime(2024, 1, 1, 11, 30, tzinfo=UTC).astimezone(pd.Timestamp.now(tz="Europe/Vienna").tzinfo)
        assert _both(session, instrument_id, start=vienna).index[0] == START + timedelta(hours=12)
        single = _both(session, instrument_id, start=start, end=start + timedelta(minutes=1))
        assert list(single.index) == [start]
        assert _both(session, instrument_id, start=end, end=start).empty
        assert _both(session, instrument_id, start=START + timedelta(days=400)).empty


def test_one_row(database: Database, make_instrument: Callable[..., int]) -> None:
    instrument_id = make_instrument(database)
    with database.session() as session:
        assert _both(session, instrument_id).empty
        store_candles(session, hourly_frame(1), instrument_id=instrument_id, source="demo", timeframe="1h")
        frame = _both(session, instrument_id)  # uncommitted rows of the same session are read too
    assert len(frame) == 1
    assert frame.iloc[0].to_dict() == {"open": 99.9, "high": 101.0, "low": 98.5, "close": 100.0, "volume": 10.0}


def test_times_off_the_grid_and_before_1970(database: Database, make_instrument: Callable[..., int]) -> None:
    """Microseconds, and times before the epoch (negative seconds), come back exactly."""
    instrument_id = make_instrument(database)
    stamps = [
        datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2024, 2, 29, 12, 0, 0, 1, tzinfo=UTC),
        datetime(2024, 2, 29, 12, 0, 0, 999_999, tzinfo=UTC),
        datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC),
    ]
    with database.session() as session:
        for position, stamp in enumerate(stamps):
            values = (1.5, 2.25, 0.125, 1.75, 1e-9)
            session.add(
                Candle(
                    instrument_id=instrument_id,
                    source="manual",
                    timeframe="1m",
                    ts=stamp,
                    **{name: Decimal(str(value + position)) for name, value in zip(VALUE_NAMES, values, strict=True)},
                )
            )
        session.flush()
        frame = _both(session, instrument_id, "1m")
        assert [stamp.to_pydatetime() for stamp in frame.index] == stamps
        assert _both(session, instrument_id, "1m", start=stamps[2], end=stamps[3]).index.tolist() == [stamps[2]]


def test_sqlite_time_text_without_fraction(sqlite_database: Database, make_instrument: Callable[..., int]) -> None:
    """A time stored without (or with fewer) fraction digits than SQLAlchemy writes reads the same."""
    instrument_id = make_instrument(sqlite_database)
    with sqlite_database.session() as session:
        for stamp in ("2024-01-01 00:00:00", "2024-01-01 01:00:00.5", "2024-01-01 02:00:00.000000"):
            session.execute(
                text("INSERT INTO candles VALUES (:i, 'manual', '1h', :ts, 100, 101.5, 99, 100.25, 3)"),
                {"i": instrument_id, "ts": stamp},
            )
        frame = _both(session, instrument_id)
    assert frame.index.tolist() == [
        pd.Timestamp("2024-01-01 00:00:00", tz="UTC"),
        pd.Timestamp("2024-01-01 01:00:00.5", tz="UTC"),
        pd.Timestamp("2024-01-01 02:00:00", tz="UTC"),
    ]
    assert frame["open"].tolist() == [100.0, 100.0, 100.0]  # stored as INTEGER (NUMERIC affinity), read as float


def test_postgresql_special_values_and_session_time_zone(
    postgres_database: Database, make_instrument: Callable[..., int]
) -> None:
    """numeric NaN (numeric(38, 18) refuses infinities) becomes float NaN; a session TimeZone changes nothing."""
    instrument_id = make_instrument(postgres_database)
    with postgres_database.session() as session:
        session.execute(
            text(
                "INSERT INTO candles VALUES "
                "(:i, 'manual', '1h', '2024-01-01 00:00+00', 'NaN', 'NaN', 0.1, 0.000000000000000001, 0), "
                "(:i, 'manual', '1h', '2024-01-01 01:00+00', 123456789012345678.123456789012345678, 2, 1, 1.5, 7)"
            ),
            {"i": instrument_id},
        )
        session.execute(text("SET LOCAL TIME ZONE 'America/St_Johns'"))
        frame = _both(session, instrument_id)
        assert frame.index.tolist() == [
            pd.Timestamp("2024-01-01 00:00", tz="UTC"),
            pd.Timestamp("2024-01-01 01:00", tz="UTC"),
        ]
        assert np.isnan(frame["open"].iloc[0])
        assert np.isnan(frame["high"].iloc[0]) and frame["low"].iloc[0] == 0.1
        assert frame["close"].iloc[0] == 1e-18
        assert frame["open"].iloc[1] == 123456789012345678.123456789012345678
        window = _both(session, instrument_id, start=datetime(2024, 1, 1, 0, 30, tzinfo=UTC))
        assert len(window) == 1


def test_no_null_values_in_the_schema(database: Database, make_instrument: Callable[..., int]) -> None:
    """Every candle column is NOT NULL, so the readers never meet a NULL (a NULL volume is refused)."""
    instrument_id = make_instrument(database)
    with pytest.raises(IntegrityError), database.session() as session:
        session.execute(
            text("INSERT INTO candles VALUES (:i, 'manual', '1h', :ts, 1, 1, 1, 1, NULL)"),
            {"i": instrument_id, "ts": "2024-01-01 00:00:00.000000"},
        )


def test_the_columnar_path_is_the_one_used(series: tuple[Database, int], monkeypatch: pytest.MonkeyPatch) -> None:
    database, instrument_id = series

    def refuse(*_args: object, **_kwargs: object) -> pd.DataFrame:
        raise AssertionError("the row reader was used")

    monkeypatch.setattr(query, "load_candles_by_rows", refuse)
    with database.session() as session:
        assert len(load_candles(session, instrument_id, "1h", limit=5)) == 5
        assert len(load_candles(session, instrument_id, "1h")) == 300


def test_bad_arguments_are_refused(series: tuple[Database, int]) -> None:
    database, instrument_id = series
    with database.session() as session:
        with pytest.raises(ValueError, match="naive datetime refused"):
            load_candles(session, instrument_id, "1h", start=datetime(2024, 1, 1))  # noqa: DTZ001 - the naive time is the point
        for limit in (-1, 2.5, True):
            with pytest.raises(ValueError, match="limit must be a whole number"):
                load_candles(session, instrument_id, "1h", limit=limit)  # type: ignore[arg-type]


def test_sqlite_one_statement_path_when_the_time_text_is_too_long(
    sqlite_database: Database, make_instrument: Callable[..., int]
) -> None:
    """Beyond SQLite's string limit the times cannot be one text: the one-statement reader gives the same frame."""
    instrument_id = make_instrument(sqlite_database)
    with sqlite_database.session() as session:
        store_candles(session, _noisy_frame(300), instrument_id=instrument_id, source="demo", timeframe="1h")
        driver: Any = session.connection().connection.driver_connection
        cursor = driver.cursor()
        parameters = (instrument_id, "demo", "1h", "", "A")
        assert query._sqlite_split_columns(cursor, parameters, newest_first=False) is not None
        limit = driver.getlimit(sqlite3.SQLITE_LIMIT_LENGTH)
        driver.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1_000)  # 300 times take 8,099 bytes
        try:
            assert query._sqlite_split_columns(cursor, parameters, newest_first=False) is None
            assert query._sqlite_split_columns(cursor, (*parameters, 20), newest_first=True) is not None
            frame = _both(session, instrument_id)
            latest = _both(session, instrument_id, limit=200)
        finally:
            driver.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limit)
            cursor.close()
    assert len(frame) == 300 and len(latest) == 200
