"""Everything the Charts page draws, read for one instrument, timeframe and range only.

Only the selected range (plus a warm-up so indicators are valid at its left edge) is read, by an
index range on the candles primary key, so the page stays fast with millions of candles stored.
A timeframe that is not stored is built by resampling the coarsest stored timeframe that divides
it (e.g. 1h → 4h and 1d).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import pandas as pd
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.analysis.indicators import IndicatorSpec, compute_indicators
from core.analysis.levels import PriceLevel, support_resistance
from core.execution.enums import OrderSide
from core.market.models import AssetClass, Instrument
from core.market.query import TIMEFRAME_SECONDS, load_candles, resample_candles
from core.market.series import CandleSeries, candle_series
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
# At most this many stored candles are read for one chart; a longer range is shortened.
MAX_SOURCE_ROWS = 120_000


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
    end: datetime | None = None,
) -> ChartData:
    """Return the candles of ``range_name`` up to ``end`` (default: the newest candle) and what goes on them."""
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
        empty = load_candles(session, instrument_id, timeframe, source="-")
        return ChartData(instrument_id, instrument.symbol, timeframe, None, None, empty,
                         pd.DataFrame(index=empty.index), [], [], None, None,
                         notes=[f"No candles stored for {instrument.symbol}."])  # fmt: skip
    notes: list[str] = []
    step = timedelta(seconds=TIMEFRAME_SECONDS[timeframe])
    base_step = timedelta(seconds=chosen.timeframe_seconds)
    end = end or chosen.latest_ts + base_step
    span = RANGES[range_name]
    start = end - span if span is not None else None
    warm_start = (start - step * WARMUP_BARS) if start is not None else None
    earliest_allowed = end - base_step * MAX_SOURCE_ROWS
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
            f"{chosen.timeframe} candles are read for one chart."
        )
    frame = load_candles(session, instrument_id, chosen.timeframe, start=warm_start, end=end, source=chosen.source)
    if chosen.timeframe != timeframe and not frame.empty:
        frame = resample_candles(frame, timeframe)
        notes.append(f"{timeframe} candles built from stored {chosen.timeframe} candles ({chosen.source}).")
    indicator_frame = compute_indicators(frame, specs) if specs and not frame.empty else pd.DataFrame(index=frame.index)
    if start is not None:
        visible = frame.index >= pd.Timestamp(start)
        frame = frame.loc[visible]
        indicator_frame = indicator_frame.loc[visible]
    levels = support_resistance(frame) if with_levels and not frame.empty else []
    first = frame.index[0].to_pydatetime() if not frame.empty else start
    trades = own_trades(session, instrument, start=first, end=end)
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
    )


def _starts_before(session: Session, series: CandleSeries, when: datetime) -> bool:
    frame = load_candles(session, series.instrument_id, series.timeframe, end=when, source=series.source, limit=1)
    return not frame.empty


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
    return list(session.scalars(select(Instrument).order_by(Instrument.tracked.desc(), is_crypto.desc(),
                                                            Instrument.symbol)))  # fmt: skip
