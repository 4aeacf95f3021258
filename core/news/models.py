"""Tables of collected news and social posts, their instrument tags, and hourly sentiment."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
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
