"""Request planning and gap detection (24/7 crypto versus stock sessions)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import delete

from core.db.engine import Database
from core.market.collection import Gap, backfill, detect_gaps, find_gaps, plan_windows
from core.market.models import Candle, Instrument
from core.market.sources.demo import DemoMarketData
from core.market.timeframes import floor_to_grid, is_on_grid

T0 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def test_windows_follow_the_page_size_on_the_grid() -> None:
    windows = plan_windows(T0 + timedelta(minutes=30), T0 + timedelta(hours=5), "1h", 2)
    assert windows == [
        (T0, T0 + timedelta(hours=2)),
        (T0 + timedelta(hours=2), T0 + timedelta(hours=4)),
        (T0 + timedelta(hours=4), T0 + timedelta(hours=5)),
    ]


def test_grid_helpers() -> None:
    assert floor_to_grid(datetime(2024, 1, 4, 13, tzinfo=UTC), "1w") == T0
    assert is_on_grid(T0 + timedelta(hours=4), "4h")
    assert not is_on_grid(T0 + timedelta(hours=5), "4h")


def test_crypto_gaps_count_every_missing_step() -> None:
    stamps = [T0 + timedelta(minutes=5 * index) for index in (0, 1, 2, 6, 7, 9)]
    assert find_gaps(pd.Series(stamps), "5m", round_the_clock=True) == [
        Gap(T0 + timedelta(minutes=15), T0 + timedelta(minutes=25), 3),
        Gap(T0 + timedelta(minutes=40), T0 + timedelta(minutes=40), 1),
    ]


def test_stock_daily_gaps_ignore_weekends_and_single_holidays() -> None:
    days = pd.bdate_range("2024-01-01", "2024-02-29", tz="UTC")
    missing_holiday = days.drop(pd.Timestamp("2024-01-15", tz="UTC"))  # one weekday missing: a holiday
    assert find_gaps(missing_holiday, "1d", round_the_clock=False) == []
    missing_week = missing_holiday.drop(pd.bdate_range("2024-02-05", "2024-02-07", tz="UTC"))
    gaps = find_gaps(missing_week, "1d", round_the_clock=False)
    assert gaps == [Gap(datetime(2024, 2, 3, tzinfo=UTC), datetime(2024, 2, 7, tzinfo=UTC), 3)]
    assert find_gaps(days, "1d", round_the_clock=True)[0].missing == 2  # as crypto, every weekend would be a gap


def test_stock_intraday_gaps_only_within_a_session_day() -> None:
    session_hours = [T0 + timedelta(days=day, hours=hour) for day in range(3) for hour in range(14, 21)]
    session_hours.remove(T0 + timedelta(days=1, hours=17))
    assert find_gaps(pd.Series(session_hours), "1h", round_the_clock=False) == [
        Gap(T0 + timedelta(days=1, hours=17), T0 + timedelta(days=1, hours=17), 1)
    ]


def test_backfill_and_gap_detection_over_the_demo_source(
    database: Database, make_instrument: Callable[..., int]
) -> None:
    make_instrument(database, "SOL/EUR")
    make_instrument(database, "AAPL", asset_class="stock", quote="EUR")
    now = datetime(2025, 6, 2, 12, 30, tzinfo=UTC)
    source = DemoMarketData(now=now)
    with database.session() as session:
        sol = session.query(Instrument).filter_by(symbol="SOL/EUR").one()
        aapl = session.query(Instrument).filter_by(symbol="AAPL").one()
    progress: list[datetime] = []
    report = backfill(
        database, sol, source, "1h", now - timedelta(days=100), progress=lambda at, _e, _p: progress.append(at), now=now
    )
    assert report.requests == 2  # 2400 hours in pages of 2160
    assert report.result.inserted == 100 * 24
    assert progress[-1] == floor_to_grid(now, "1h") + timedelta(hours=1)
    backfill(database, aapl, source, "1h", now - timedelta(days=30), now=now)
    with database.session() as session:
        hole_start = floor_to_grid(now - timedelta(days=3), "1h")
        session.execute(
            delete(Candle).where(
                Candle.instrument_id == sol.id, Candle.ts >= hole_start, Candle.ts < hole_start + timedelta(hours=5)
            )
        )
        sol_report = detect_gaps(session, sol, "demo", "1h")
        aapl_report = detect_gaps(session, aapl, "demo", "1h")
    assert sol_report.missing == 5
    assert aapl_report.missing == 0  # nights and weekends are closed sessions
