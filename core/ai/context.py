"""The context snapshot: built once per run, shared by every analyst, identified by its hash.

It holds recent candles and indicator values, support/resistance levels, recent headlines with
their sentiment, and the current position of the paper account. Values are rounded before
hashing, so the same market state always gives the same hash (the cache key of opinions).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.analysis.indicators import IndicatorKind, IndicatorSpec, compute_indicators
from core.analysis.levels import support_resistance
from core.errors import PermanentError
from core.market.models import Instrument
from core.market.query import TIMEFRAME_SECONDS, candle_sources, load_candles
from core.news.models import NewsItem, NewsItemInstrument
from core.portfolio.models import Position

logger = logging.getLogger(__name__)

DEFAULT_ACCOUNT = "paper"
TIMEFRAME_PREFERENCE = ("1h", "4h", "1d", "30m", "15m", "5m", "1m")
HISTORY_BARS = 400  # bars loaded to compute indicators and levels
RECENT_BARS = 24  # bars shown to the LLMs
DAILY_CLOSES = 30
MIN_BARS = 30
MAX_HEADLINES = 25
INDICATOR_SPECS = [
    IndicatorSpec(IndicatorKind.SMA, 20),
    IndicatorSpec(IndicatorKind.EMA, 50),
    IndicatorSpec(IndicatorKind.RSI, 14),
    IndicatorSpec(IndicatorKind.MACD, 26),
    IndicatorSpec(IndicatorKind.BBANDS, 20),
    IndicatorSpec(IndicatorKind.ATR, 14),
]


class NotEnoughData(PermanentError, ValueError):
    """The instrument has too few candles for an analysis."""


class Bar(BaseModel):
    model_config = ConfigDict(frozen=True)

    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


class Level(BaseModel):
    model_config = ConfigDict(frozen=True)

    price: float
    kind: str
    touches: int


class Headline(BaseModel):
    model_config = ConfigDict(frozen=True)

    published_at: datetime
    title: str
    summary: str | None = None
    source: str
    sentiment: float | None = None
    influence: float | None = None


class PositionInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    account: str
    quantity: str
    average_price_eur: str
    unrealised_pnl_eur: str


class ContextSnapshot(BaseModel):
    """What every analyst sees for one instrument at one time."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    instrument_id: int
    as_of: datetime  # close time of the newest candle: the moment the last price was known
    timeframe: str
    last_close: float
    change_24h: float | None
    change_7d: float | None
    recent_bars: list[Bar]
    daily_closes: list[tuple[str, float]]
    indicators: dict[str, float | None]
    levels: list[Level]
    headlines: list[Headline]
    position: PositionInfo | None

    @cached_property
    def context_hash(self) -> str:
        """Return the SHA-256 of the canonical JSON of the snapshot."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def prompt_payload(self) -> dict[str, Any]:
        """Return the snapshot as the JSON object shown to language models."""
        return self.model_dump(mode="json", exclude={"instrument_id"})


def _round(value: Any, digits: int = 6) -> float | None:
    if value is None:
        return None
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        return None
    if number == 0:
        return 0.0
    magnitude = math.floor(math.log10(abs(number)))
    return round(number, max(0, digits - 1 - magnitude))


def snapshot_from_frame(
    *,
    symbol: str,
    instrument_id: int,
    frame: pd.DataFrame,
    timeframe: str,
    headlines: list[Headline],
    position: PositionInfo | None,
    indicator_frame: pd.DataFrame | None = None,
) -> ContextSnapshot:
    """Build a snapshot from a candle frame (float OHLCV indexed by UTC open time) and the rest.

    The frame must end at the newest candle to consider; raise :class:`NotEnoughData` when it has
    fewer than ``MIN_BARS`` candles. ``indicator_frame`` (indicators computed once over a longer
    series, indexed like the candles) saves recomputing them when replaying history.
    """
    frame = frame.dropna(subset=["close"]).tail(HISTORY_BARS)
    if len(frame) < MIN_BARS:
        raise NotEnoughData(f"{symbol}: only {len(frame)} {timeframe} candles; at least {MIN_BARS} are needed")
    bar_seconds = TIMEFRAME_SECONDS.get(timeframe, 3600)
    as_of = frame.index[-1].to_pydatetime() + timedelta(seconds=bar_seconds)
    closes = frame["close"]
    last_close = float(closes.iloc[-1])
    if indicator_frame is None:
        indicator_frame = compute_indicators(frame, INDICATOR_SPECS)
    latest = indicator_frame.loc[frame.index[-1]]
    indicators = {str(name): _round(value) for name, value in latest.items()}
    levels = [
        Level(price=_round(level.price) or 0.0, kind=level.kind.value, touches=level.touches)
        for level in support_resistance(frame)
    ]
    close_by_time = closes.copy()
    close_by_time.index = close_by_time.index + pd.Timedelta(seconds=bar_seconds)

    def change_over(hours: int) -> float | None:
        before = close_by_time[close_by_time.index <= as_of - timedelta(hours=hours)]
        if before.empty:
            return None
        return _round(last_close / float(before.iloc[-1]) - 1.0, 4)

    daily = close_by_time.resample("1D").last().dropna().tail(DAILY_CLOSES)
    recent = frame.tail(RECENT_BARS)
    return ContextSnapshot(
        symbol=symbol,
        instrument_id=instrument_id,
        as_of=as_of,
        timeframe=timeframe,
        last_close=_round(last_close) or 0.0,
        change_24h=change_over(24),
        change_7d=change_over(24 * 7),
        recent_bars=[
            Bar(
                ts=ts.to_pydatetime(),
                open=_round(row.open) or 0.0,
                high=_round(row.high) or 0.0,
                low=_round(row.low) or 0.0,
                close=_round(row.close) or 0.0,
                volume=_round(row.volume, 4) or 0.0,
            )
            for ts, row in recent.iterrows()
        ],
        daily_closes=[(ts.date().isoformat(), _round(value) or 0.0) for ts, value in daily.items()],
        indicators=indicators,
        levels=levels,
        headlines=headlines,
        position=position,
    )


def preferred_timeframe(session: Session, instrument_id: int) -> str | None:
    """Return the timeframe to analyse: the first of ``TIMEFRAME_PREFERENCE`` with candles."""
    available = {timeframe for _source, timeframe in candle_sources(session, instrument_id)}
    for timeframe in TIMEFRAME_PREFERENCE:
        if timeframe in available:
            return timeframe
    return None


def recent_headlines(
    session: Session, instrument_id: int, until: datetime, *, lookback_hours: float, limit: int = MAX_HEADLINES
) -> list[Headline]:
    """Return the newest news items about an instrument published in ``(until - lookback, until]``."""
    rows = session.scalars(
        select(NewsItem)
        .join(NewsItemInstrument, NewsItemInstrument.news_item_id == NewsItem.id)
        .where(
            NewsItemInstrument.instrument_id == instrument_id,
            NewsItem.published_at > until - timedelta(hours=lookback_hours),
            NewsItem.published_at <= until,
        )
        .order_by(NewsItem.published_at.desc(), NewsItem.id.desc())
        .limit(limit)
    )
    return [
        Headline(
            published_at=item.published_at,
            title=item.title[:300],
            summary=(item.summary or "")[:500] or None,
            source=item.source,
            sentiment=_round(item.sentiment, 4),
            influence=_round(item.influence, 4),
        )
        for item in rows
    ]


def position_info(session: Session, account: str, instrument_id: int, last_close: float) -> PositionInfo | None:
    """Return the account's open position in the instrument with its unrealised P&L, or None."""
    row = session.get(Position, {"account": account, "instrument_id": instrument_id})
    if row is None or row.quantity == 0:
        return None
    price = Decimal(str(last_close))
    unrealised = ((price - row.average_price_eur) * row.quantity).quantize(Decimal("0.01"))
    return PositionInfo(
        account=account,
        quantity=format(row.quantity.normalize(), "f"),
        average_price_eur=format(row.average_price_eur.quantize(Decimal("0.0001")), "f"),
        unrealised_pnl_eur=format(unrealised, "f"),
    )


def build_snapshot(
    session: Session,
    instrument: Instrument,
    *,
    until: datetime | None = None,
    account: str = DEFAULT_ACCOUNT,
    lookback_hours: float = 72.0,
    include_position: bool = True,
) -> ContextSnapshot:
    """Build the snapshot of ``instrument`` as it was known at ``until`` (None: everything stored).

    Point in time: only candles *closed* by ``until`` (a candle opened at ``t`` closes at
    ``t + timeframe``; a forming one is left out) and headlines published by the newest candle's
    close. ``include_position`` False leaves the account's position out (history runs: today's
    position was not known then).
    """
    timeframe = preferred_timeframe(session, instrument.id)
    if timeframe is None:
        raise NotEnoughData(f"{instrument.symbol}: no candles collected yet")
    end = None
    if until is not None:
        end = until - timedelta(seconds=TIMEFRAME_SECONDS.get(timeframe, 3600)) + timedelta(microseconds=1)
    frame = load_candles(session, instrument.id, timeframe, end=end, limit=HISTORY_BARS)
    if len(frame) < MIN_BARS:
        raise NotEnoughData(f"{instrument.symbol}: only {len(frame)} {timeframe} candles; at least {MIN_BARS} needed")
    as_of = frame.index[-1].to_pydatetime() + timedelta(seconds=TIMEFRAME_SECONDS.get(timeframe, 3600))
    headlines = recent_headlines(session, instrument.id, as_of, lookback_hours=lookback_hours)
    position = (
        position_info(session, account, instrument.id, float(frame["close"].iloc[-1])) if include_position else None
    )
    return snapshot_from_frame(
        symbol=instrument.symbol,
        instrument_id=instrument.id,
        frame=frame,
        timeframe=timeframe,
        headlines=headlines,
        position=position,
    )
