"""Trading sessions: when an exchange-traded instrument is expected to produce new candles.

Crypto trades around the clock. Stocks, ETFs and indices here are taken to trade on US hours,
13:30–21:00 UTC on weekdays — a window that covers the NYSE session in both winter (14:30–21:00)
and summer time (13:30–20:00). Exchange holidays are not known, so on a holiday an exchange-traded
series looks one session late.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from core.market.models import AssetClass
from core.timeutil import ensure_utc

SESSION_OPEN_UTC = time(13, 30)
SESSION_CLOSE_UTC = time(21, 0)
MAX_DAYS_SCANNED = 400

ROUND_THE_CLOCK = frozenset({AssetClass.CRYPTO, AssetClass.FIAT})


def trades_round_the_clock(asset_class: AssetClass | str) -> bool:
    """Return True for asset classes that trade 24/7."""
    return AssetClass(asset_class) in ROUND_THE_CLOCK


def market_seconds_between(start: datetime, end: datetime, asset_class: AssetClass | str) -> float:
    """Return how many seconds of trading time lie between ``start`` and ``end``."""
    start, end = ensure_utc(start), ensure_utc(end)
    if end <= start:
        return 0.0
    if trades_round_the_clock(asset_class):
        return (end - start).total_seconds()
    total = 0.0
    day = start.date()
    last_day = min(end.date(), day + timedelta(days=MAX_DAYS_SCANNED))
    while day <= last_day:
        if day.weekday() < 5:
            session_open = datetime.combine(day, SESSION_OPEN_UTC, tzinfo=start.tzinfo)
            session_close = datetime.combine(day, SESSION_CLOSE_UTC, tzinfo=start.tzinfo)
            overlap = (min(end, session_close) - max(start, session_open)).total_seconds()
            total += max(0.0, overlap)
        day += timedelta(days=1)
    return total
