from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from core.db.engine import Database
from core.demo.seed import SETTING_DEMO_SEEDED_AT, seed_demo
from core.news.calendar import events_between, store_calendar_events, upcoming_events
from core.news.demo_data import demo_calendar_events
from core.news.models import CalendarEvent, CalendarImportance, NewsItem, SentimentHourly
from core.news.sources.base import RawCalendarEvent
from core.system.settings_store import get_setting
from core.timeutil import parse_utc


def table_counts(database: Database) -> tuple[int, int, int]:
    with database.session() as session:
        return tuple(  # type: ignore[return-value]
            int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (NewsItem, SentimentHourly, CalendarEvent)
        )


def test_demo_news_is_seeded_and_seeding_again_stores_nothing_twice(demo_database: Database) -> None:
    before = table_counts(demo_database)
    assert before[0] > 800 and before[1] > 500 and before[2] > 10
    with demo_database.session() as session:
        seeded_at = parse_utc(get_setting(session, SETTING_DEMO_SEEDED_AT))
    seed_demo(demo_database, now=seeded_at)  # the same demo again: every area seeder runs a second time
    assert table_counts(demo_database) == before
    with demo_database.session() as session:
        assert session.scalar(select(func.count()).where(NewsItem.is_demo.is_(False))) == 0
        assert session.scalar(select(func.min(NewsItem.sentiment))) < -0.3  # type: ignore[operator]
        assert session.scalar(select(func.max(NewsItem.sentiment))) > 0.3  # type: ignore[operator]


def test_demo_calendar_is_deterministic() -> None:
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    events = demo_calendar_events(now)
    assert events == demo_calendar_events(now)
    titles = {event.title for event in events}
    assert {"US consumer price index", "ECB monetary policy decision", "US initial jobless claims"} <= titles
    cpi = next(event for event in events if event.external_id == "cpi:2026-03-12")
    assert cpi.event_time == datetime(2026, 3, 12, 12, 30, tzinfo=UTC)


def test_events_between_filters_and_orders(database: Database) -> None:
    base = datetime(2026, 3, 10, tzinfo=UTC)
    with database.session() as session:
        store_calendar_events(
            session,
            [
                RawCalendarEvent("fred", "b", base + timedelta(days=2), "CPI", "US", CalendarImportance.HIGH),
                RawCalendarEvent("fred", "a", base + timedelta(days=1), "Claims", "US", CalendarImportance.MEDIUM),
                RawCalendarEvent("fred", "c", base + timedelta(days=40), "Later", "US", CalendarImportance.HIGH),
            ],
        )
        # update in place by (source, external_id)
        store_calendar_events(
            session,
            [
                RawCalendarEvent(
                    "fred", "a", base + timedelta(days=1), "Jobless claims", "US", CalendarImportance.MEDIUM
                )
            ],
        )
    with database.session() as session:
        events = events_between(session, base, base + timedelta(days=30))
        assert [(event.title, event.importance) for event in events] == [
            ("Jobless claims", CalendarImportance.MEDIUM),
            ("CPI", CalendarImportance.HIGH),
        ]
        assert events[0].time == base + timedelta(days=1)
        high = events_between(session, base, base + timedelta(days=30), min_importance=CalendarImportance.HIGH)
        assert [event.title for event in high] == ["CPI"]
        assert [event.title for event in upcoming_events(session, days=60, now=base)] == [
            "Jobless claims",
            "CPI",
            "Later",
        ]
        assert session.scalar(select(func.count()).select_from(CalendarEvent)) == 3
