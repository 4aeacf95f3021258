"""Price observations for the paper broker and the exit watcher: newer quotes and candles.

An observation is a bar (``BarPrices``) at a time. A quote is a bar whose open, high, low and
close are its last price. Candles come from the finest timeframe collected for the instrument.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from core.execution.fill_model import BarPrices
from core.market.models import Candle, Quote
from core.market.query import TIMEFRAME_SECONDS
from core.timeutil import utc_now


@dataclass(frozen=True)
class PriceObservation:
    ts: datetime  # quote time, or candle open time
    bar: BarPrices[Decimal]
    source: str

    @property
    def last(self) -> Decimal:
        return self.bar.close


SERIES_TTL_SECONDS = 60.0
_series_cache: dict[tuple[str, int], tuple[float, list[tuple[str, str]]]] = {}

Reader = Session | Connection  # the executor's per-quote check reads on a plain connection (no ORM session)


def _database_url(reader: Reader) -> str:
    bind = reader.get_bind() if isinstance(reader, Session) else reader
    return str(bind.engine.url)


def _candle_series(session: Reader, instrument_id: int) -> list[tuple[str, str]]:
    """The (source, timeframe) series of an instrument's candles, re-read at most once a minute.

    Listing them scans the instrument's candles; they change only when a source or timeframe is
    added, so the executor's once-a-second watch asks the index per series instead (below).
    """
    key = (_database_url(session), instrument_id)
    now = time.monotonic()
    cached = _series_cache.get(key)
    if cached is not None and now - cached[0] < SERIES_TTL_SECONDS:
        return cached[1]
    series = [
        (str(source), str(timeframe))
        for source, timeframe in session.execute(
            select(Candle.source, Candle.timeframe).where(Candle.instrument_id == instrument_id).distinct()
        ).all()
    ]
    _series_cache[key] = (now, series)
    return series


def _finest_candle_series(session: Reader, instrument_id: int, after: datetime) -> tuple[str, str] | None:
    """The (source, timeframe) with the finest timeframe among candles newer than ``after``."""
    rows = []
    for source, timeframe in _candle_series(session, instrument_id):
        if timeframe not in TIMEFRAME_SECONDS:
            continue
        newest = session.scalar(
            select(func.max(Candle.ts)).where(
                Candle.instrument_id == instrument_id,
                Candle.source == source,
                Candle.timeframe == timeframe,
                Candle.ts > after,
            )
        )
        if newest is not None:
            rows.append((source, timeframe, newest))
    if not rows:
        return None
    source, timeframe, _ = min(rows, key=lambda row: (TIMEFRAME_SECONDS[row[1]], -row[2].timestamp()))
    return source, timeframe


def observations_after(
    session: Reader, instrument_id: int, after: datetime, *, limit: int = 500
) -> list[PriceObservation]:
    """Return price observations strictly after ``after``, oldest first (quotes and finest candles).

    ``session`` may be an ORM session or a plain connection (the same column queries).
    """
    observations: list[PriceObservation] = []
    quotes = session.execute(
        select(Quote.ts, Quote.last, Quote.source)
        .where(Quote.instrument_id == instrument_id, Quote.ts > after)
        .order_by(Quote.ts)
        .limit(limit)
    ).all()
    for ts, last, source in quotes:
        observations.append(PriceObservation(ts, BarPrices(last, last, last, last), f"quote:{source}"))
    series = _finest_candle_series(session, instrument_id, after)
    if series is not None:
        source, timeframe = series
        candles = session.execute(
            select(Candle.ts, Candle.open, Candle.high, Candle.low, Candle.close)
            .where(
                Candle.instrument_id == instrument_id,
                Candle.source == source,
                Candle.timeframe == timeframe,
                Candle.ts > after,
            )
            .order_by(Candle.ts)
            .limit(limit)
        ).all()
        for ts, open_, high, low, close in candles:
            observations.append(
                PriceObservation(ts, BarPrices(open_, high, low, close), f"candle:{source}:{timeframe}")
            )
    observations.sort(key=lambda observation: observation.ts)
    return observations[:limit]


@dataclass(frozen=True)
class LatestPrice:
    price: Decimal
    observed_at: datetime  # when the price was true (quote time; candle close time, at most now)
    ts: datetime  # the observation's own time (for cursors)

    def age_seconds(self, now: datetime | None = None) -> float:
        return ((now or utc_now()) - self.observed_at).total_seconds()


def latest_price(session: Session, instrument_id: int) -> LatestPrice | None:
    """Return the newest known price of an instrument (quote or candle close), or None."""
    now = utc_now()
    best: LatestPrice | None = None
    quote = session.execute(
        select(Quote.ts, Quote.last).where(Quote.instrument_id == instrument_id).order_by(Quote.ts.desc()).limit(1)
    ).first()
    if quote is not None:
        best = LatestPrice(quote[1], quote[0], quote[0])
    candle = session.execute(
        select(Candle.ts, Candle.close, Candle.timeframe)
        .where(Candle.instrument_id == instrument_id)
        .order_by(Candle.ts.desc())
        .limit(1)
    ).first()
    if candle is not None:
        closes_at = min(candle[0] + timedelta(seconds=TIMEFRAME_SECONDS.get(candle[2], 0)), now)
        if best is None or closes_at > best.observed_at:
            best = LatestPrice(candle[1], closes_at, candle[0])
    return best
