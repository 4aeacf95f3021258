from __future__ import annotations

from datetime import UTC, datetime

from core.market.models import AssetClass
from core.market.sessions import market_seconds_between


def test_crypto_counts_every_second() -> None:
    start = datetime(2026, 11, 21, 0, tzinfo=UTC)  # a Saturday
    assert market_seconds_between(start, datetime(2026, 11, 21, 2, tzinfo=UTC), AssetClass.CRYPTO) == 7200


def test_stocks_count_only_weekday_session_hours() -> None:
    friday_close = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
    monday_before_open = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    assert market_seconds_between(friday_close, monday_before_open, AssetClass.STOCK) == 0
    monday_noon_session = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)
    assert market_seconds_between(friday_close, monday_noon_session, AssetClass.ETF) == 2 * 3600
    assert market_seconds_between(monday_noon_session, friday_close, AssetClass.STOCK) == 0
