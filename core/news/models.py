"""Tables of collected news and social posts, their instrument tags, and hourly sentiment."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, UTCDateTime
from core.timeutil import utc_now


class NewsKind(StrEnum):
    ARTICLE = "article"  # RSS, NewsAPI, Alpha Vantage
    POST = "post"  # Reddit, X


class NewsItem(Base):
    """One article or post. ``(source, source_id)`` is unique; so is the canonical URL."""

    __tablename__ = "news_items"
    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_news_items_source_source_id"),
        UniqueConstraint("canonical_url", name="uq_news_items_canonical_url"),
        Index("ix_news_items_published_at", "published_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(60), doc="rss:<feed>, newsapi, alphavantage, reddit, x, demo")
    source_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[NewsKind] = mapped_column(
        Enum(NewsKind, native_enum=False, length=12, values_callable=lambda e: [m.value for m in e])
    )
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    canonical_url: Mapped[str] = mapped_column(String(500))
    title_fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    author: Mapped[str | None] = mapped_column(String(200))
    publisher: Mapped[str | None] = mapped_column(String(200))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    sentiment: Mapped[float | None] = mapped_column(Float, doc="Compound score in [-1, 1].")
    influence: Mapped[float | None] = mapped_column(Float, doc="Reach of a post, normalised to [0, 1].")
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON, doc="followers, score, comments...")
    is_demo: Mapped[bool] = mapped_column(default=False)


class NewsItemInstrument(Base):
    """Which instruments a news item mentions."""

    __tablename__ = "news_item_instruments"
    __table_args__ = (Index("ix_news_item_instruments_instrument_id", "instrument_id"),)

    news_item_id: Mapped[int] = mapped_column(ForeignKey("news_items.id", ondelete="CASCADE"), primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"), primary_key=True)
    matched: Mapped[str | None] = mapped_column(String(80), doc="The term that matched, e.g. $BTC.")


class SentimentHourly(Base):
    """Hourly aggregate per instrument: mention volume and mean / influence-weighted sentiment."""

    __tablename__ = "sentiment_hourly"

    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    mentions: Mapped[int] = mapped_column(Integer)
    mean_sentiment: Mapped[float | None] = mapped_column(Float)
    weighted_sentiment: Mapped[float | None] = mapped_column(Float)


class CalendarImportance(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class CalendarEvent(Base):
    """One scheduled economic event (a data release, a central-bank decision); unique per source."""

    __tablename__ = "calendar_events"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_calendar_events_source_external_id"),
        Index("ix_calendar_events_event_time", "event_time"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(40), doc="fred, demo")
    external_id: Mapped[str] = mapped_column(String(160))
    event_time: Mapped[datetime] = mapped_column(UTCDateTime)
    time_known: Mapped[bool] = mapped_column(Boolean, default=True, doc="False: only the day is known.")
    title: Mapped[str] = mapped_column(String(300))
    country: Mapped[str] = mapped_column(String(8), doc="ISO code or region, e.g. US, EA.")
    importance: Mapped[CalendarImportance] = mapped_column(
        Enum(CalendarImportance, native_enum=False, length=8, values_callable=lambda e: [m.value for m in e])
    )
    category: Mapped[str | None] = mapped_column(String(60))
    url: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)


class SourceHealth(StrEnum):
    OK = "ok"
    FAILING = "failing"
    RATE_LIMITED = "rate_limited"
    AUTH_FAILED = "auth_failed"
    DISABLED = "disabled"


class NewsSourceState(Base):
    """Fetch state of one news source: schedule, conditional-request validators, budget, health."""

    __tablename__ = "news_source_states"

    source: Mapped[str] = mapped_column(String(60), primary_key=True)
    platform: Mapped[str] = mapped_column(String(20), doc="rss, newsapi, alphavantage, reddit, x, fred")
    status: Mapped[SourceHealth] = mapped_column(
        Enum(SourceHealth, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    etag: Mapped[str | None] = mapped_column(String(300))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    cursor: Mapped[str | None] = mapped_column(String(200), doc="Newest id/time seen, for incremental fetches.")
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    items_last_fetch: Mapped[int] = mapped_column(Integer, default=0)
    items_stored_total: Mapped[int] = mapped_column(Integer, default=0)
    budget_day: Mapped[str | None] = mapped_column(String(10), doc="UTC day the call budget counts for.")
    budget_used: Mapped[int] = mapped_column(Integer, default=0)
