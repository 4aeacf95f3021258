"""Retention: delete collected rows older than each table's configured number of days.

Applied by the news worker (every few hours). On PostgreSQL with TimescaleDB, a table that is a
hypertable is trimmed with ``drop_chunks``; everywhere else with a ``DELETE``. Links of deleted
items go with them (``ON DELETE CASCADE``); the hourly aggregates are a separate policy (kept
forever by default), so deleting old raw posts never changes past sentiment.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from core.news.models import CalendarEvent, NewsItem, NewsKind, SentimentHourly
from core.news.quality import QUARANTINE_KIND
from core.system.models import QuarantinedRecord
from core.timeutil import utc_now

logger = logging.getLogger(__name__)


def _is_hypertable(session: Session, table: str) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return False
    has_timescale = session.execute(text("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")).scalar()
    if not has_timescale:
        return False
    found = session.execute(
        text("SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = :name"),
        {"name": table},
    ).scalar()
    return bool(found)


def apply_retention(
    session: Session, retention_days: Mapping[str, int | None], *, now: datetime | None = None
) -> dict[str, int]:
    """Delete rows past their retention; return the number deleted per policy (None = keep forever)."""
    now = now or utc_now()
    deleted: dict[str, int] = {}

    def cutoff(policy: str) -> datetime | None:
        days = retention_days.get(policy)
        return None if not days else now - timedelta(days=int(days))

    if (limit := cutoff("news_posts")) is not None:
        result = session.execute(delete(NewsItem).where(NewsItem.kind == NewsKind.POST, NewsItem.published_at < limit))
        deleted["news_posts"] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if (limit := cutoff("news_articles")) is not None:
        result = session.execute(
            delete(NewsItem).where(NewsItem.kind == NewsKind.ARTICLE, NewsItem.published_at < limit)
        )
        deleted["news_articles"] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if (limit := cutoff("sentiment_hourly")) is not None:
        if _is_hypertable(session, "sentiment_hourly"):
            session.execute(text("SELECT drop_chunks('sentiment_hourly', older_than => :limit)"), {"limit": limit})
            deleted["sentiment_hourly"] = -1  # chunks dropped; TimescaleDB does not report rows
        else:
            result = session.execute(delete(SentimentHourly).where(SentimentHourly.hour < limit))
            deleted["sentiment_hourly"] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if (limit := cutoff("calendar_events")) is not None:
        result = session.execute(delete(CalendarEvent).where(CalendarEvent.event_time < limit))
        deleted["calendar_events"] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if (limit := cutoff("news_quarantine")) is not None:
        result = session.execute(
            delete(QuarantinedRecord).where(
                QuarantinedRecord.kind == QUARANTINE_KIND, QuarantinedRecord.created_at < limit
            )
        )
        deleted["news_quarantine"] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if any(deleted.values()):
        logger.info("News retention deleted: %s", deleted)
    return deleted
