"""Which candle series exist and how recent they are, read by index seeks, never a table scan.

A *series* is one (instrument, source, timeframe). ``candle_series`` walks the candles primary
key (instrument_id, source, timeframe, ts) with a skip scan: one to three index seeks to the next
(i, s, t) per series, then one ``max(ts)`` seek per series. So it costs a few dozen index lookups whether the
table holds a thousand candles or a hundred million.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from core.market.models import Candle
from core.market.timeframes import TIMEFRAME_SECONDS


@dataclass(frozen=True)
class CandleSeries:
    """One stored candle series and its newest candle."""

    instrument_id: int
    source: str
    timeframe: str
    latest_ts: datetime
    latest_close: Decimal

    @property
    def timeframe_seconds(self) -> int:
        return TIMEFRAME_SECONDS.get(self.timeframe, 3600)


_KEY_COLUMNS = (Candle.instrument_id, Candle.source, Candle.timeframe)
# Statements built once (their compiled form is cached by SQLAlchemy); each is one index seek.
# The next key after (i, s, t) is found in up to three steps — another timeframe of (i, s), another
# source of i, the next instrument — because each step is an equality prefix plus one range, which
# every database seeks to directly. (A row-value ``(i, s, t) > (...)`` is not: SQLite seeks to
# (i, s, t) and then steps over every candle of that series.)
_FIRST_KEY = select(*_KEY_COLUMNS).order_by(*_KEY_COLUMNS).limit(1)
_FIRST_KEY_OF = (
    select(*_KEY_COLUMNS).where(Candle.instrument_id == bindparam("instrument")).order_by(*_KEY_COLUMNS).limit(1)
)
_NEXT_TIMEFRAME = (
    select(*_KEY_COLUMNS)
    .where(
        Candle.instrument_id == bindparam("instrument"),
        Candle.source == bindparam("source"),
        Candle.timeframe > bindparam("timeframe"),
    )
    .order_by(*_KEY_COLUMNS)
    .limit(1)
)
_NEXT_SOURCE = (
    select(*_KEY_COLUMNS)
    .where(Candle.instrument_id == bindparam("instrument"), Candle.source > bindparam("source"))
    .order_by(*_KEY_COLUMNS)
    .limit(1)
)
_NEXT_INSTRUMENT = (
    select(*_KEY_COLUMNS).where(Candle.instrument_id > bindparam("instrument")).order_by(*_KEY_COLUMNS).limit(1)
)
_NEWEST = (
    select(Candle.ts, Candle.close)
    .where(
        Candle.instrument_id == bindparam("instrument"),
        Candle.source == bindparam("source"),
        Candle.timeframe == bindparam("timeframe"),
    )
    .order_by(Candle.ts.desc())
    .limit(1)
)


def series_keys(session: Session, instrument_id: int | None = None) -> list[tuple[int, str, str]]:
    """Return the distinct (instrument_id, source, timeframe) of stored candles, in key order."""
    connection = session.connection()
    keys: list[tuple[int, str, str]] = []
    if instrument_id is None:
        row = connection.execute(_FIRST_KEY).first()
    else:
        row = connection.execute(_FIRST_KEY_OF, {"instrument": instrument_id}).first()
    while row is not None:
        key = (int(row[0]), str(row[1]), str(row[2]))
        keys.append(key)
        parameters = {"instrument": key[0], "source": key[1], "timeframe": key[2]}
        row = connection.execute(_NEXT_TIMEFRAME, parameters).first()
        if row is None:
            row = connection.execute(_NEXT_SOURCE, parameters).first()
        if row is None and instrument_id is None:
            row = connection.execute(_NEXT_INSTRUMENT, parameters).first()
    return keys


def candle_series(session: Session, instrument_id: int | None = None) -> list[CandleSeries]:
    """Return every stored series (of one instrument, or all) with its newest candle's time and close."""
    connection = session.connection()
    found = []
    for key_instrument, source, timeframe in series_keys(session, instrument_id):
        row = connection.execute(
            _NEWEST, {"instrument": key_instrument, "source": source, "timeframe": timeframe}
        ).first()
        if row is not None:
            found.append(CandleSeries(key_instrument, source, timeframe, row[0], row[1]))
    return found


def latest_prices(session: Session, instrument_ids: list[int] | None = None) -> dict[int, tuple[datetime, Decimal]]:
    """Return ``{instrument_id: (time, close)}`` of the newest candle of any series per instrument."""
    prices: dict[int, tuple[datetime, Decimal]] = {}
    wanted = None if instrument_ids is None else set(instrument_ids)
    if wanted is not None and len(wanted) <= 20:
        series = [item for instrument in sorted(wanted) for item in candle_series(session, instrument)]
    else:
        series = candle_series(session)
    for item in series:
        if wanted is not None and item.instrument_id not in wanted:
            continue
        current = prices.get(item.instrument_id)
        if current is None or item.latest_ts > current[0]:
            prices[item.instrument_id] = (item.latest_ts, item.latest_close)
    return prices


def series_candle_count(session: Session, instrument_id: int, source: str, timeframe: str) -> int:
    """Return the number of candles of one series (an index range count)."""
    return int(
        session.scalar(
            select(func.count()).where(
                Candle.instrument_id == instrument_id, Candle.source == source, Candle.timeframe == timeframe
            )
        )
        or 0
    )


def series_span(
    session: Session, instrument_id: int, source: str, timeframe: str
) -> tuple[datetime, datetime, int] | None:
    """Return (first open time, last open time, candle count) of one series, None if it has no candles.

    Two index seeks and an index range count.
    """
    in_series = (Candle.instrument_id == instrument_id, Candle.source == source, Candle.timeframe == timeframe)
    first = session.scalar(select(Candle.ts).where(*in_series).order_by(Candle.ts).limit(1))
    last = session.scalar(select(Candle.ts).where(*in_series).order_by(Candle.ts.desc()).limit(1))
    if first is None or last is None:
        return None
    return first, last, series_candle_count(session, instrument_id, source, timeframe)
