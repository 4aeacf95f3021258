"""Collect macro series from FRED and read their latest values as known at a given time.

Each observation is stored per vintage (FRED's ``realtime_start``), with the time it became
known: the end of its ``realtime_start`` day (UTC), or the fetch time if that is earlier. A read
"as of" a time sees only values known by then, so a replayed analysis never sees the future.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import partial

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db.engine import Database
from core.logging_setup import redact
from core.macro.fred import FredObservation, FredObservationsClient
from core.macro.models import MacroObservation
from core.macro.series import MACRO_SERIES, MacroSeries
from core.news.calendar import CalendarEventView, events_between
from core.news.errors import SourceError
from core.news.models import CalendarImportance
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

INITIAL_HISTORY = timedelta(days=3 * 365)
REVISION_WINDOW = timedelta(days=120)  # re-read this far back to catch revised values
CALENDAR_HORIZON = timedelta(days=60)


@dataclass
class MacroReport:
    stored: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MacroValue:
    series: MacroSeries
    value: Decimal
    observation_date: datetime
    published_at: datetime
    previous: Decimal | None
    next_release: CalendarEventView | None

    @property
    def change(self) -> Decimal | None:
        return None if self.previous is None else self.value - self.previous


def published_time(vintage_day: date, fetched_at: datetime) -> datetime:
    """Return when a vintage was known: the end of its first day (UTC), or ``fetched_at`` if earlier."""
    end_of_day = datetime.combine(vintage_day, time(0), tzinfo=UTC) + timedelta(days=1)
    return min(end_of_day, fetched_at)


def store_observations(session: Session, series: MacroSeries, rows: list[FredObservation], fetched_at: datetime) -> int:
    """Insert the vintages not stored yet; return how many rows were added."""
    if not rows:
        return 0
    first = min(row.observation_date for row in rows)
    stored = {
        (observed, vintage)
        for observed, vintage in session.execute(
            select(MacroObservation.observation_date, MacroObservation.realtime_start).where(
                MacroObservation.series_id == series.series_id, MacroObservation.observation_date >= first
            )
        )
    }
    added = 0
    for row in rows:
        if (row.observation_date, row.realtime_start) in stored:
            continue
        session.add(
            MacroObservation(
                series_id=series.series_id,
                observation_date=row.observation_date,
                realtime_start=row.realtime_start,
                value=row.value,
                published_at=published_time(row.realtime_start, fetched_at),
                fetched_at=fetched_at,
            )
        )
        stored.add((row.observation_date, row.realtime_start))
        added += 1
    session.flush()
    return added


def _newest_date(session: Session, *, series_id: str) -> date | None:
    return session.scalar(
        select(func.max(MacroObservation.observation_date)).where(MacroObservation.series_id == series_id)
    )


def collect_macro(
    database: Database,
    client: FredObservationsClient,
    *,
    series: tuple[MacroSeries, ...] = MACRO_SERIES,
    now: datetime | None = None,
) -> MacroReport:
    """Fetch every series from its newest stored date (minus a revision window); one failure stops no other."""
    moment = now or utc_now()
    report = MacroReport()
    for item in series:
        newest = database.run(partial(_newest_date, series_id=item.series_id))
        start = (newest - REVISION_WINDOW) if newest is not None else (moment - INITIAL_HISTORY).date()
        try:
            rows = client.observations(item, start=start)
        except SourceError as error:
            message = redact(str(error))[:300]
            logger.warning("Macro series %s failed: %s", item.series_id, message)
            report.failed[item.series_id] = message
            continue
        report.stored[item.series_id] = database.run(
            partial(store_observations, series=item, rows=rows, fetched_at=moment)
        )
    return report


def _next_release(events: list[CalendarEventView], series: MacroSeries) -> CalendarEventView | None:
    if series.release_keyword is None:
        return None
    return next((event for event in events if series.release_keyword in event.title.lower()), None)


def latest_macro(
    session: Session, *, as_of: datetime | None = None, series: tuple[MacroSeries, ...] = MACRO_SERIES
) -> list[MacroValue]:
    """Return each series' newest value known at ``as_of`` (default now), the one before it and its next release."""
    moment = as_of or utc_now()
    events = events_between(session, moment, moment + CALENDAR_HORIZON)
    values: list[MacroValue] = []
    for item in series:
        rows = session.execute(
            select(MacroObservation.observation_date, MacroObservation.value, MacroObservation.published_at)
            .where(MacroObservation.series_id == item.series_id, MacroObservation.published_at <= moment)
            .order_by(MacroObservation.observation_date.desc(), MacroObservation.realtime_start.desc())
            .limit(20)
        ).all()
        by_date: dict[date, tuple[Decimal, datetime]] = {}
        for observed, value, published in rows:
            by_date.setdefault(observed, (value, published))  # the newest vintage known by then
        if not by_date:
            continue
        dates = sorted(by_date, reverse=True)
        latest_value, published = by_date[dates[0]]
        previous = by_date[dates[1]][0] if len(dates) > 1 else None
        values.append(
            MacroValue(
                series=item,
                value=latest_value,
                observation_date=datetime.combine(dates[0], time(0), tzinfo=UTC),
                published_at=published,
                previous=previous,
                next_release=_next_release(events, item),
            )
        )
    return values


def upcoming_high_impact(session: Session, *, as_of: datetime | None = None, limit: int = 5) -> list[CalendarEventView]:
    """Return the next high-impact calendar events after ``as_of``."""
    moment = as_of or utc_now()
    return events_between(session, moment, moment + CALENDAR_HORIZON, min_importance=CalendarImportance.HIGH)[:limit]
