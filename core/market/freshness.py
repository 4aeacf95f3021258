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

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.market.models import AssetClass, Candle, Instrument
from core.market.series import CandleSeries, candle_series, series_keys
from core.market.sessions import SESSION_CLOSE_UTC, SESSION_OPEN_UTC, trades_round_the_clock
from core.system.status import stale_since
from core.timeutil import utc_now

STALE_TOLERANCE = 2.0
"""A price is stale after this many expected intervals of trading time without a newer one."""
SESSION_LENGTH = timedelta(
    hours=SESSION_CLOSE_UTC.hour - SESSION_OPEN_UTC.hour, minutes=SESSION_CLOSE_UTC.minute - SESSION_OPEN_UTC.minute
)


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


def trading_interval(interval: timedelta, asset_class: AssetClass | str) -> timedelta:
    """The trading time a source needs for one new price: a daily bar of a stock is one session, not 24 h."""
    if trades_round_the_clock(asset_class) or interval < timedelta(days=1):
        return interval
    return SESSION_LENGTH * (interval / timedelta(days=1))


def _series_as_of(session: Session, instrument_id: int, moment: datetime) -> list[CandleSeries]:
    """The newest candle at or before ``moment`` of each stored series of the instrument (index seeks)."""
    found = []
    for key_instrument, source, timeframe in series_keys(session, instrument_id):
        row = session.execute(
            select(Candle.ts, Candle.close)
            .where(
                Candle.instrument_id == key_instrument,
                Candle.source == source,
                Candle.timeframe == timeframe,
                Candle.ts <= moment,
            )
            .order_by(Candle.ts.desc())
            .limit(1)
        ).first()
        if row is not None:
            found.append(CandleSeries(key_instrument, source, timeframe, row[0], row[1]))
    return found


def price_freshness(
    session: Session, instrument_id: int, *, now: datetime | None = None, as_of: datetime | None = None
) -> PriceFreshness | None:
    """Return the newest price of ``instrument_id`` with its staleness, or None without any candle.

    With ``as_of`` (a past decision time): the newest price known then, judged at that time.
    """
    instrument = session.get(Instrument, instrument_id)
    series = candle_series(session, instrument_id) if as_of is None else _series_as_of(session, instrument_id, as_of)
    if instrument is None or not series:
        return None
    newest = max(
        series, key=lambda item: (item.latest_ts + timedelta(seconds=item.timeframe_seconds), -item.timeframe_seconds)
    )
    interval = timedelta(seconds=newest.timeframe_seconds)
    closed_at = newest.latest_ts + interval
    moment = as_of or now or utc_now()
    price_time = min(closed_at, moment)  # a forming candle's close is "now"
    since = stale_since(
        price_time,
        str(instrument.asset_class),
        expected_interval=trading_interval(interval, instrument.asset_class),
        now=moment,
        tolerance=STALE_TOLERANCE,
    )
    return PriceFreshness(instrument_id, newest.latest_close, price_time, interval, since)
