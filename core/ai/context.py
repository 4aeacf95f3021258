"""The context snapshot: built once per run, shared by every analyst, identified by its hash.

It holds recent candles and indicator values, support/resistance levels, chart and candlestick
patterns, recent headlines with their sentiment, the current position of the paper account, the
asset's fundamentals, the latest macro values and the next high-impact economic events — each
with its as-of time, and none published after the snapshot's own time. Values are rounded before
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
from core.analysis.patterns import Pattern, detect_patterns
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
MAX_CHART_PATTERNS = 6
CHART_PATTERN_BARS = 120  # chart patterns ending within this many bars of the newest candle
CANDLE_PATTERN_BARS = 3  # candlestick patterns on the last bars only
MAX_EVENTS = 5
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


class PatternInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str
    bias: str
    start: datetime
    end: datetime
    known_at: datetime
    confidence: float
    breakout: float | None = None
    confirmed: bool = False
    levels: dict[str, float] = {}


class FundamentalsInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    source: str
    as_of: datetime
    metrics: dict[str, Any]


class MacroInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    series_id: str
    title: str
    unit: str
    value: float
    change: float | None = None
    observation_date: datetime
    published_at: datetime
    next_release: datetime | None = None


class EventInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    time: datetime
    title: str
    country: str
    importance: str


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
    patterns: list[PatternInfo] = []
    fundamentals: FundamentalsInfo | None = None
    macro: list[MacroInfo] = []
    upcoming_events: list[EventInfo] = []

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


def pattern_infos(frame: pd.DataFrame) -> list[PatternInfo]:
    """Return the recent patterns of ``frame`` known at its newest candle's close."""
    if len(frame) < MIN_BARS:
        return []
    found = detect_patterns(frame)
    last = frame.index[-1]
    chart_since = frame.index[max(0, len(frame) - CHART_PATTERN_BARS)]
    candle_since = frame.index[max(0, len(frame) - CANDLE_PATTERN_BARS)]

    def recent(pattern: Pattern) -> bool:
        if pattern.known_at > last:
            return False
        return pattern.end >= (candle_since if pattern.is_candlestick else chart_since)

    chosen = [item for item in found if recent(item) and not item.is_candlestick][-MAX_CHART_PATTERNS:]
    chosen += [item for item in found if recent(item) and item.is_candlestick]
    return [
        PatternInfo(
            kind=item.kind.value,
            bias=item.bias.value,
            start=item.start.to_pydatetime(),
            end=item.end.to_pydatetime(),
            known_at=item.known_at.to_pydatetime(),
            confidence=item.confidence,
            breakout=_round(item.breakout),
            confirmed=item.confirmed,
            levels={name: _round(value) or 0.0 for name, value in item.levels.items()},
        )
        for item in chosen
    ]


def snapshot_from_frame(
    *,
    symbol: str,
    instrument_id: int,
    frame: pd.DataFrame,
    timeframe: str,
    headlines: list[Headline],
    position: PositionInfo | None,
    indicator_frame: pd.DataFrame | None = None,
    fundamentals: FundamentalsInfo | None = None,
    macro: list[MacroInfo] | None = None,
    upcoming_events: list[EventInfo] | None = None,
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
        patterns=pattern_infos(frame),
        fundamentals=fundamentals,
        macro=macro or [],
        upcoming_events=upcoming_events or [],
    )


def fundamentals_info(session: Session, instrument_id: int, as_of: datetime) -> FundamentalsInfo | None:
    """Return the asset's newest fundamentals known at ``as_of``."""
    from core.fundamentals.service import latest_fundamentals

    view = latest_fundamentals(session, instrument_id, as_of=as_of)
    if view is None:
        return None
    return FundamentalsInfo(source=view.source.value, as_of=view.as_of, metrics=view.metrics)


def macro_infos(session: Session, as_of: datetime) -> list[MacroInfo]:
    """Return the latest macro values published by ``as_of``, with their change and next release."""
    from core.macro.service import latest_macro

    return [
        MacroInfo(
            series_id=item.series.series_id,
            title=item.series.title,
            unit=item.series.unit,
            value=_round(item.value) or 0.0,
            change=_round(item.change),
            observation_date=item.observation_date,
            published_at=item.published_at,
            next_release=item.next_release.time if item.next_release is not None else None,
        )
        for item in latest_macro(session, as_of=as_of)
    ]


def event_infos(session: Session, as_of: datetime) -> list[EventInfo]:
    """Return the next high-impact economic events after ``as_of``."""
    from core.macro.service import upcoming_high_impact

    return [
        EventInfo(time=event.time, title=event.title, country=event.country, importance=event.importance.value)
        for event in upcoming_high_impact(session, as_of=as_of, limit=MAX_EVENTS)
    ]


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
        fundamentals=fundamentals_info(session, instrument.id, as_of),
        macro=macro_infos(session, as_of),
        upcoming_events=event_infos(session, as_of),
    )
