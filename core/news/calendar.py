"""Economic calendar: store events, and read them for the charts and the news page.

``events_between(session, start, end)`` is the contract the Charts page uses to draw markers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.upsert import bulk_upsert
from core.news.models import CalendarEvent, CalendarImportance
from core.news.sources.base import RawCalendarEvent
from core.timeutil import utc_now

IMPORTANCE_RANK = {CalendarImportance.LOW: 0, CalendarImportance.MEDIUM: 1, CalendarImportance.HIGH: 2}


@dataclass(frozen=True)
class CalendarEventView:
    """One calendar event as pages and charts show it."""

    time: datetime
    title: str
    country: str
    importance: CalendarImportance
    time_known: bool
    category: str | None
    source: str
    url: str | None


def events_between(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    min_importance: CalendarImportance = CalendarImportance.LOW,
    countries: Sequence[str] | None = None,
) -> list[CalendarEventView]:
    """Return the events with ``start <= time < end``, oldest first, at least ``min_importance``."""
    statement = (
        select(CalendarEvent)
        .where(CalendarEvent.event_time >= start, CalendarEvent.event_time < end)
        .order_by(CalendarEvent.event_time, CalendarEvent.id)
    )
    if countries:
        statement = statement.where(CalendarEvent.country.in_(list(countries)))
    allowed = [level for level, rank in IMPORTANCE_RANK.items() if rank >= IMPORTANCE_RANK[min_importance]]
    statement = statement.where(CalendarEvent.importance.in_(allowed))
    return [
        CalendarEventView(
            time=row.event_time,
            title=row.title,
            country=row.country,
            importance=row.importance,
            time_known=row.time_known,
            category=row.category,
            source=row.source,
            url=row.url,
        )
        for row in session.scalars(statement)
    ]


def upcoming_events(
    session: Session,
    *,
    days: int = 14,
    now: datetime | None = None,
    min_importance: CalendarImportance = CalendarImportance.LOW,
) -> list[CalendarEventView]:
    """Return the events of the next ``days`` days."""
    now = now or utc_now()
    return events_between(session, now, now + timedelta(days=days), min_importance=min_importance)


def store_calendar_events(session: Session, events: Sequence[RawCalendarEvent]) -> int:
    """Insert or update events by ``(source, external_id)``; return how many were sent."""
    now = utc_now()
    rows = {
        (event.source, event.external_id): {
            "source": event.source[:40],
            "external_id": event.external_id[:160],
            "event_time": event.event_time,
            "time_known": event.time_known,
            "title": event.title[:300],
            "country": event.country[:8],
            "importance": event.importance,
            "category": event.category,
            "url": event.url,
            "details": event.details,
            "collected_at": now,
            "is_demo": event.is_demo,
        }
        for event in events
    }
    return bulk_upsert(
        session,
        CalendarEvent.__table__,  # type: ignore[arg-type]
        list(rows.values()),
        conflict_columns=["source", "external_id"],
        update_columns=["event_time", "time_known", "title", "country", "importance", "category", "url", "details"],
    )
