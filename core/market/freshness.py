"""How fresh the price of an instrument is, judged by the expected interval of its source.

``price_freshness(session, instrument_id)`` takes the newest candle over every stored series of
the instrument; its timeframe is the interval at which the source is expected to deliver a new
price (a 1h series: every hour; a daily series: every trading day). The price counts as stale
once more than two such intervals of *trading* time have passed since the candle closed
(``core.system.status.stale_since``: a stock's Friday close is not stale on Sunday).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from core.market.models import Instrument
from core.market.series import candle_series
from core.system.status import stale_since
from core.timeutil import utc_now

STALE_TOLERANCE = 2.0
"""A price is stale after this many expected intervals of trading time without a newer one."""


@dataclass(frozen=True)
class PriceFreshness:
    """The newest price of an instrument and whether it is stale."""

    instrument_id: int
    price: Decimal
    price_time: datetime
    """When the price was last true: the close of its candle."""
    expected_interval: timedelta
    stale_since: datetime | None

    @property
    def is_stale(self) -> bool:
        return self.stale_since is not None


def price_freshness(session: Session, instrument_id: int, *, now: datetime | None = None) -> PriceFreshness | None:
    """Return the newest price of ``instrument_id`` with its staleness, or None without any candle."""
    instrument = session.get(Instrument, instrument_id)
    series = candle_series(session, instrument_id)
    if instrument is None or not series:
        return None
    newest = max(series, key=lambda item: (item.latest_ts + timedelta(seconds=item.timeframe_seconds),
                                           -item.timeframe_seconds))  # fmt: skip
    interval = timedelta(seconds=newest.timeframe_seconds)
    closed_at = newest.latest_ts + interval
    moment = now or utc_now()
    price_time = min(closed_at, moment)  # a forming candle's close is "now"
    since = stale_since(price_time, str(instrument.asset_class), expected_interval=interval, now=moment,
                        tolerance=STALE_TOLERANCE)  # fmt: skip
    return PriceFreshness(instrument_id, newest.latest_close, price_time, interval, since)
