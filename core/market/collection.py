"""Collect candles and quotes: backfill from a date, incremental from the last stored candle, gap detection.

Requests are planned from the source's capabilities: a window of ``page_size(timeframe)``
candles per request, history clamped to what the source can reach. Each page is stored in its
own transaction, so a long backfill keeps what it fetched if it is interrupted, and running it
again stores nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db.engine import Database
from core.market.models import AssetClass, Candle, Instrument
from core.market.sources.base import InstrumentRef, MarketData, UnsupportedTimeframeError
from core.market.store import StoreResult, store_candles, store_quote
from core.market.timeframes import floor_to_grid, timeframe_delta, timeframe_seconds
from core.timeutil import ensure_utc, utc_now

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[datetime, datetime, StoreResult], None]


@dataclass
class CollectionReport:
    """What one backfill or incremental run did for one instrument, source and timeframe."""

    symbol: str
    source: str
    timeframe: str
    start: datetime
    end: datetime
    requests: int = 0
    result: StoreResult = field(default_factory=StoreResult)
    note: str | None = None

    def as_dict(self) -> dict[str, object]:
        """Return a JSON-friendly summary."""
        return {
            "symbol": self.symbol,
            "source": self.source,
            "timeframe": self.timeframe,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "requests": self.requests,
            **self.result.as_dict(),
            **({"note": self.note} if self.note else {}),
        }


def plan_windows(start: datetime, end: datetime, timeframe: str, page_size: int) -> list[tuple[datetime, datetime]]:
    """Split ``[start, end)`` into request windows of at most ``page_size`` candles on the timeframe grid."""
    step = timeframe_delta(timeframe)
    cursor = floor_to_grid(start, timeframe)
    windows = []
    while cursor < end:
        window_end = min(end, cursor + step * page_size)
        windows.append((cursor, window_end))
        cursor = window_end
    return windows


def backfill(
    database: Database,
    instrument: Instrument,
    source: MarketData,
    timeframe: str,
    since: datetime,
    until: datetime | None = None,
    *,
    progress: ProgressCallback | None = None,
    now: datetime | None = None,
) -> CollectionReport:
    """Fetch and store candles of ``instrument`` from ``since`` to ``until`` (default: now, incl. the forming one)."""
    if timeframe not in source.capabilities.timeframes:
        supported = ", ".join(sorted(source.capabilities.timeframes))
        raise UnsupportedTimeframeError(f"{source.name} has no {timeframe} candles (supported: {supported})")
    now = now or utc_now()
    since = ensure_utc(since)
    end = ensure_utc(until) if until is not None else floor_to_grid(now, timeframe) + timeframe_delta(timeframe)
    note = None
    reach = source.capabilities.history_limit(timeframe)
    if reach is not None and since < now - reach:
        since = floor_to_grid(now - reach, timeframe) + timeframe_delta(timeframe)
        note = f"{source.name} keeps {timeframe} candles for {reach.days} days only; started at {since.date()}"
        logger.info("%s: %s", instrument.symbol, note)
    report = CollectionReport(instrument.symbol, source.name, timeframe, since, end, note=note)
    reference = InstrumentRef.from_instrument(instrument)
    for window_start, window_end in plan_windows(since, end, timeframe, source.capabilities.page_size(timeframe)):
        frame = source.fetch_candles(reference, timeframe, window_start, window_end)
        report.requests += 1
        with database.session() as session:
            page = store_candles(
                session,
                frame,
                instrument_id=instrument.id,
                source=source.name,
                timeframe=timeframe,
                record_label=instrument.symbol,
            )
        report.result = report.result + page
        if progress is not None:
            progress(window_end, end, page)
    return report


def last_candle_time(session: Session, instrument_id: int, source: str, timeframe: str) -> datetime | None:
    """Return the open time of the newest stored candle, or None."""
    return session.scalar(
        select(func.max(Candle.ts)).where(
            Candle.instrument_id == instrument_id, Candle.source == source, Candle.timeframe == timeframe
        )
    )


def collect_incremental(
    database: Database,
    instrument: Instrument,
    source: MarketData,
    timeframe: str,
    *,
    initial_history: timedelta,
    now: datetime | None = None,
) -> CollectionReport:
    """Fetch from the last stored candle (re-reading it: it may still have been forming) up to now.

    An instrument without candles at this source starts ``initial_history`` ago.
    """
    last = database.run(lambda session: last_candle_time(session, instrument.id, source.name, timeframe))
    now = now or utc_now()
    since = last if last is not None else now - initial_history
    return backfill(database, instrument, source, timeframe, since, now=now)


def collect_quote(database: Database, instrument: Instrument, source: MarketData) -> bool:
    """Fetch the latest price and store it in ``quotes``; return whether it was new."""
    quote = source.fetch_quote(InstrumentRef.from_instrument(instrument))
    return database.run(
        lambda session: store_quote(session, instrument_id=instrument.id, source=source.name, quote=quote)
    )


@dataclass(frozen=True)
class Gap:
    """Missing candles between two stored ones: open times ``first_missing`` .. ``last_missing``."""

    first_missing: datetime
    last_missing: datetime
    missing: int


@dataclass(frozen=True)
class GapReport:
    """The gaps of one instrument, source and timeframe."""

    symbol: str
    source: str
    timeframe: str
    candles: int
    missing: int
    gaps: list[Gap]


# A run of at most this many missing weekdays in stock daily data is taken to be an exchange holiday.
HOLIDAY_TOLERANCE_DAYS = 1


def is_round_the_clock(asset_class: AssetClass | str) -> bool:
    """Return True for markets that trade 24/7 (crypto); stocks, ETFs and the rest have sessions."""
    return AssetClass(asset_class) is AssetClass.CRYPTO


def find_gaps(timestamps: pd.Series | pd.DatetimeIndex, timeframe: str, *, round_the_clock: bool) -> list[Gap]:
    """Return the gaps in sorted, unique candle open times.

    24/7 markets: every missing step is a gap. Session markets: daily data counts only missing
    weekdays, and a single missing weekday is taken as a holiday; intraday data counts only
    missing steps within one UTC day (nights and weekends are closed sessions).
    """
    stamps = pd.DatetimeIndex(pd.to_datetime(timestamps, utc=True)).sort_values().unique()
    if len(stamps) < 2:
        return []
    step_seconds = timeframe_seconds(timeframe)
    step = pd.Timedelta(seconds=step_seconds)
    nanos = stamps.asi8 if stamps.unit == "ns" else stamps.as_unit("ns").asi8
    differences = np.diff(nanos) // (step_seconds * 1_000_000_000)
    gaps: list[Gap] = []
    for index in np.flatnonzero(differences > 1):
        before, after = stamps[index], stamps[index + 1]
        if round_the_clock or timeframe == "1w":
            missing = int(differences[index]) - 1
        elif timeframe == "1d":
            missing = int(np.busday_count((before + step).date(), after.date()))
            if missing <= HOLIDAY_TOLERANCE_DAYS:
                continue
        else:
            if before.date() != after.date():
                continue
            missing = int(differences[index]) - 1
        if missing > 0:
            gaps.append(Gap(before + step, after - step, missing))
    return gaps


def detect_gaps(
    session: Session,
    instrument: Instrument,
    source: str,
    timeframe: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> GapReport:
    """Report the missing candles of one instrument, source and timeframe."""
    query = select(Candle.ts).where(
        Candle.instrument_id == instrument.id, Candle.source == source, Candle.timeframe == timeframe
    )
    if start is not None:
        query = query.where(Candle.ts >= start)
    if end is not None:
        query = query.where(Candle.ts < end)
    stamps = pd.DatetimeIndex(list(session.scalars(query.order_by(Candle.ts))))
    gaps = find_gaps(stamps, timeframe, round_the_clock=is_round_the_clock(instrument.asset_class))
    return GapReport(
        symbol=instrument.symbol,
        source=source,
        timeframe=timeframe,
        candles=len(stamps),
        missing=sum(gap.missing for gap in gaps),
        gaps=gaps,
    )


def gap_reports(session: Session) -> list[GapReport]:
    """Report gaps for every instrument, source and timeframe that holds candles."""
    pairs = session.execute(select(Candle.instrument_id, Candle.source, Candle.timeframe).distinct()).all()
    instruments = {instrument.id: instrument for instrument in session.scalars(select(Instrument))}
    return [
        detect_gaps(session, instruments[instrument_id], source, timeframe)
        for instrument_id, source, timeframe in sorted(pairs)
        if instrument_id in instruments
    ]
