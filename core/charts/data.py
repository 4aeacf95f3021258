"""Everything the Charts page draws, read for one instrument, timeframe and range only.

Only the selected range (plus a warm-up so indicators are valid at its left edge) is read, by an
index range on the candles primary key, so the page stays fast with millions of candles stored.
A timeframe that is not stored is built from the coarsest stored timeframe that divides it
(e.g. 1m → 1h, 4h and 1d) by aggregating in SQL (``load_aggregated_candles``: first open, max
high, min low, last close, sum volume per bucket, on SQLite and PostgreSQL), so a year of 1-minute
candles is one query returning 365 daily bars. The read limit counts the bars drawn
(``MAX_SOURCE_ROWS`` of the chart's timeframe), not the source candles they are built from.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, ColumnElement, Integer, and_, cast, func, or_, select, type_coerce
from sqlalchemy.orm import Session, aliased
from sqlalchemy.types import NullType

from core.analysis.indicators import IndicatorSpec, compute_indicators
from core.analysis.levels import PriceLevel, support_resistance
from core.analysis.patterns import Pattern, detect_patterns
from core.execution.enums import OrderSide
from core.market.models import AssetClass, Candle, Instrument
from core.market.query import TIMEFRAME_SECONDS, load_candles
from core.market.series import CandleSeries, candle_series
from core.market.timeframes import EPOCH, WEEK_ANCHOR
from core.news.calendar import CalendarEventView, events_between
from core.news.models import CalendarImportance
from core.portfolio.models import LedgerEntry, LedgerKind

logger = logging.getLogger(__name__)

CHART_TIMEFRAMES = ("1h", "4h", "1d")
RANGES: dict[str, timedelta | None] = {
    "1W": timedelta(days=7),
    "1M": timedelta(days=30),
    "3M": timedelta(days=91),
    "6M": timedelta(days=182),
    "1Y": timedelta(days=365),
    "All": None,
}
WARMUP_BARS = 200
# At most this many bars of the chart's timeframe are drawn (read, or aggregated in SQL) for one
# chart; a longer range is shortened (the chart pages further back as the user scrolls).
MAX_SOURCE_ROWS = 50_000


@dataclass(frozen=True)
class TradeMarker:
    """One of the user's own trades in the instrument, for a buy/sell marker."""

    ts: datetime
    side: OrderSide
    price_eur: Decimal
    quantity: Decimal
    value_eur: Decimal
    account: str
    description: str | None


@dataclass(frozen=True)
class ChartData:
    """Candles (float frame, UTC index), indicator columns, levels and trades of one chart."""

    instrument_id: int
    symbol: str
    timeframe: str
    source: str | None
    base_timeframe: str | None
    candles: pd.DataFrame
    indicators: pd.DataFrame
    levels: list[PriceLevel]
    trades: list[TradeMarker]
    start: datetime | None
    end: datetime | None
    shortened: bool = False
    notes: list[str] = field(default_factory=list)
    events: list[CalendarEventView] = field(default_factory=list)
    patterns: list[Pattern] = field(default_factory=list)
    has_more_before: bool = False  # stored candles exist before ``start`` (the chart can page back)


def choose_series(series: list[CandleSeries], timeframe: str, preferred_source: str | None) -> CandleSeries | None:
    """Pick the stored series to draw ``timeframe`` from: the same timeframe, else the coarsest divisor."""
    wanted = TIMEFRAME_SECONDS[timeframe]
    usable = [item for item in series if item.timeframe in TIMEFRAME_SECONDS and wanted % item.timeframe_seconds == 0]
    if not usable:
        return None
    return max(
        usable,
        key=lambda item: (item.timeframe_seconds, item.source == preferred_source, item.latest_ts, item.source),
    )


def chart_data(
    session: Session,
    instrument_id: int,
    timeframe: str,
    range_name: str = "3M",
    *,
    indicators: list[IndicatorSpec] | None = None,
    with_levels: bool = True,
    with_patterns: bool = False,
    end: datetime | None = None,
    extra_pages: int = 0,
) -> ChartData:
    """Return the candles of ``range_name`` up to ``end`` (default: the newest candle) and what goes on them.

    ``extra_pages`` widens the range by that many more lengths of it back in time (the chart
    pages in history as the user scrolls left), within ``MAX_SOURCE_ROWS``.
    """
    if timeframe not in TIMEFRAME_SECONDS:
        raise ValueError(f"unknown timeframe {timeframe!r}; use one of {', '.join(TIMEFRAME_SECONDS)}")
    if range_name not in RANGES:
        raise ValueError(f"unknown range {range_name!r}; use one of {', '.join(RANGES)}")
    instrument = session.get(Instrument, instrument_id)
    if instrument is None:
        raise ValueError(f"no instrument with id {instrument_id}")
    specs = indicators or []
    chosen = choose_series(candle_series(session, instrument_id), timeframe, instrument.default_source)
    if chosen is None:
        empty = _frame([], [])
        return ChartData(
            instrument_id,
            instrument.symbol,
            timeframe,
            None,
            None,
            empty,
            pd.DataFrame(index=empty.index),
            [],
            [],
            None,
            None,
            notes=[f"No candles stored for {instrument.symbol}."],
        )
    notes: list[str] = []
    step = timedelta(seconds=TIMEFRAME_SECONDS[timeframe])
    base_step = timedelta(seconds=chosen.timeframe_seconds)
    end = end or chosen.latest_ts + base_step
    span = RANGES[range_name]
    start = end - span * (1 + max(0, extra_pages)) if span is not None else None
    warm_start = (start - step * WARMUP_BARS) if start is not None else None
    aggregated = chosen.timeframe != timeframe
    earliest_allowed = end - step * MAX_SOURCE_ROWS  # bars drawn: built in SQL when aggregated
    shortened = False
    if start is None:
        if _starts_before(session, chosen, earliest_allowed):
            start = warm_start = earliest_allowed
            shortened = True
    elif warm_start is not None and warm_start < earliest_allowed:
        warm_start = earliest_allowed
        if start < earliest_allowed:
            start = earliest_allowed
            shortened = True
    if shortened and start is not None:
        notes.append(
            f"Range shortened to start {start:%Y-%m-%d}: at most {MAX_SOURCE_ROWS:,} "
            f"{timeframe} candles are drawn for one chart."
        )
    if aggregated:
        frame = load_aggregated_candles(
            session, instrument_id, chosen.timeframe, chosen.source, timeframe, start=warm_start, end=end
        )
        if not frame.empty:
            notes.append(f"{timeframe} candles built from stored {chosen.timeframe} candles ({chosen.source}).")
    else:
        frame = load_chart_candles(session, instrument_id, chosen.timeframe, chosen.source, start=warm_start, end=end)
    indicator_frame = compute_indicators(frame, specs) if specs and not frame.empty else pd.DataFrame(index=frame.index)
    if start is not None:
        visible = frame.index >= pd.Timestamp(start)
        frame = frame.loc[visible]
        indicator_frame = indicator_frame.loc[visible]
    levels = support_resistance(frame) if with_levels and not frame.empty else []
    patterns = detect_patterns(frame) if with_patterns and not frame.empty else []
    first = frame.index[0].to_pydatetime() if not frame.empty else start
    trades = own_trades(session, instrument, start=first, end=end)
    events = events_between(session, first, end, min_importance=CalendarImportance.MEDIUM) if first else []
    return ChartData(
        instrument_id=instrument_id,
        symbol=instrument.symbol,
        timeframe=timeframe,
        source=chosen.source,
        base_timeframe=chosen.timeframe,
        candles=frame,
        indicators=indicator_frame,
        levels=levels,
        trades=trades,
        start=first,
        end=end,
        shortened=shortened,
        notes=notes,
        events=events,
        patterns=patterns,
        has_more_before=bool(start is not None and not frame.empty and _starts_before(session, chosen, start)),
    )


CANDLE_COLUMNS = ("open", "high", "low", "close", "volume")
CHART_INDEX_UNIT = "us"  # every chart frame's index: microseconds, as the columnar candle reader gives


def _epoch_seconds(session: Session) -> ColumnElement[int]:
    """SQL for the candle time as integer epoch seconds (converted far faster than datetimes)."""
    if session.get_bind().dialect.name == "sqlite":
        return cast(func.strftime("%s", Candle.ts), Integer)
    return cast(func.extract("epoch", Candle.ts), BigInteger)


def _frame(epochs: Sequence[Any], columns: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """The chart frame of epoch-second ``epochs`` and the candle value ``columns`` (in ``CANDLE_COLUMNS`` order)."""
    index = pd.DatetimeIndex(pd.to_datetime(np.asarray(epochs, dtype="int64"), unit="s", utc=True), name="ts")
    index = index.as_unit(CHART_INDEX_UNIT)
    data = {
        name: np.asarray(columns[position] if columns else [], dtype=float)
        for position, name in enumerate(CANDLE_COLUMNS)
    }
    return pd.DataFrame(data, index=index)


def load_chart_candles(
    session: Session,
    instrument_id: int,
    timeframe: str,
    source: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pd.DataFrame:
    """Return one series' candles in ``[start, end)`` as a float frame on a UTC index, read column-wise.

    The columnar reader of ``core.market.query.load_candles`` for one source (SQLite: the times as
    one text and the values by ``np.fromiter``; PostgreSQL: one ``COPY``; no Python object per
    candle), on the chart's index: UTC, named ``ts``, in the unit of the chart's other frames
    (``_frame``, the aggregated bars). Before, every candle was one driver row (epoch seconds and
    raw numbers); the frame is the same (``tests/core/charts/test_chart_candle_read.py``).
    """
    frame = load_candles(session, instrument_id, timeframe, start=start, end=end, source=source)
    if frame.empty:
        return _frame([], [])
    frame.index = pd.DatetimeIndex(frame.index, name="ts").as_unit(CHART_INDEX_UNIT)
    return frame


def _bucket_anchor(timeframe: str) -> int:
    """Epoch second that buckets of ``timeframe`` are counted from: weeks open on Monday, others at 0."""
    return int((WEEK_ANCHOR - EPOCH).total_seconds()) if timeframe == "1w" else 0


def load_aggregated_candles(
    session: Session,
    instrument_id: int,
    base_timeframe: str,
    source: str,
    timeframe: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pd.DataFrame:
    """Aggregate one series' ``base_timeframe`` candles in ``[start, end)`` to ``timeframe`` in SQL.

    The same frame as ``resample_candles(load_chart_candles(...), timeframe)`` — buckets labelled
    by their open, first open, max high, min low, last close, sum volume, empty buckets left out —
    but the database does the grouping (one pass over the key range) and sends one row per bar:
    the bucket's extremes and times, joined back on the primary key for its first open and last close.
    """
    step = TIMEFRAME_SECONDS[timeframe]
    if step % TIMEFRAME_SECONDS[base_timeframe]:
        raise ValueError(f"{timeframe} bars cannot be built from {base_timeframe} candles")
    anchor = _bucket_anchor(timeframe)
    epoch = _epoch_seconds(session)
    # Floor to the bucket's open (a floor modulo: correct before 1970 too, where % truncates).
    bucket = epoch - ((epoch - anchor) % step + step) % step
    same_series = (Candle.instrument_id == instrument_id, Candle.source == source, Candle.timeframe == base_timeframe)
    rows = select(
        bucket.label("bucket"),
        Candle.ts.label("ts"),
        type_coerce(Candle.high, NullType()).label("high"),
        type_coerce(Candle.low, NullType()).label("low"),
        type_coerce(Candle.volume, NullType()).label("volume"),
    ).where(*same_series)
    if start is not None:
        rows = rows.where(Candle.ts >= start)
    if end is not None:
        rows = rows.where(Candle.ts < end)
    inner = rows.subquery("bars")
    buckets = (
        select(
            inner.c.bucket,
            func.min(inner.c.ts).label("first_ts"),
            func.max(inner.c.ts).label("last_ts"),
            func.max(inner.c.high).label("high"),
            func.min(inner.c.low).label("low"),
            func.sum(inner.c.volume).label("volume"),
        )
        .group_by(inner.c.bucket)
        .subquery("buckets")
    )
    first, last = aliased(Candle, name="first_bar"), aliased(Candle, name="last_bar")

    def _at(bar: Any, when: Any) -> ColumnElement[bool]:
        return and_(
            bar.instrument_id == instrument_id, bar.source == source, bar.timeframe == base_timeframe, bar.ts == when
        )

    query = (
        select(
            buckets.c.bucket,
            type_coerce(first.open, NullType()),
            buckets.c.high,
            buckets.c.low,
            type_coerce(last.close, NullType()),
            buckets.c.volume,
        )
        .join(first, _at(first, buckets.c.first_ts))
        .join(last, _at(last, buckets.c.last_ts))
        .order_by(buckets.c.bucket)
    )
    result = session.connection().execute(query).all()
    if not result:
        return _frame([], [])
    columns = list(zip(*result, strict=True))
    return _frame(columns[0], columns[1:])


def _starts_before(session: Session, series: CandleSeries, when: datetime) -> bool:
    query = select(Candle.ts).where(
        Candle.instrument_id == series.instrument_id,
        Candle.source == series.source,
        Candle.timeframe == series.timeframe,
        Candle.ts < when,
    )
    return session.execute(query.limit(1)).first() is not None


def own_trades(
    session: Session, instrument: Instrument, *, start: datetime | None = None, end: datetime | None = None
) -> list[TradeMarker]:
    """Return the ledger's buys and sells of ``instrument`` (by id, or its base asset against EUR)."""
    by_asset = (LedgerEntry.received_asset == instrument.base) | (LedgerEntry.sent_asset == instrument.base)
    query = select(LedgerEntry).where(
        LedgerEntry.kind.in_([LedgerKind.BUY, LedgerKind.SELL]),
        or_(LedgerEntry.instrument_id == instrument.id, by_asset & LedgerEntry.instrument_id.is_(None)),
    )
    if start is not None:
        query = query.where(LedgerEntry.ts >= start)
    if end is not None:
        query = query.where(LedgerEntry.ts < end)
    markers = []
    for entry in session.scalars(query.order_by(LedgerEntry.ts, LedgerEntry.id)):
        if entry.received_asset == instrument.base and entry.received_quantity:
            side, quantity = OrderSide.BUY, entry.received_quantity
            value = entry.sent_quantity if entry.sent_asset == "EUR" else entry.value_eur
        elif entry.sent_asset == instrument.base and entry.sent_quantity:
            side, quantity = OrderSide.SELL, entry.sent_quantity
            value = entry.received_quantity if entry.received_asset == "EUR" else entry.value_eur
        else:
            continue
        if value is None or not quantity:
            continue
        markers.append(
            TradeMarker(
                ts=entry.ts,
                side=side,
                price_eur=value / quantity,
                quantity=quantity,
                value_eur=value,
                account=entry.account,
                description=entry.description,
            )
        )
    return markers


def chart_instruments(session: Session) -> list[Instrument]:
    """Return the instruments that can be charted: tracked first, crypto before other classes, by symbol."""
    is_crypto = Instrument.asset_class == AssetClass.CRYPTO
    return list(
        session.scalars(select(Instrument).order_by(Instrument.tracked.desc(), is_crypto.desc(), Instrument.symbol))
    )
