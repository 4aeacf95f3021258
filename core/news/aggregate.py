"""Hourly sentiment aggregates per instrument: mentions, mean and influence-weighted sentiment.

Aggregates are recomputed (in SQL) from the stored items for exactly the (instrument, hour) pairs a batch
touched, so a repeated pass writes the same numbers (idempotent) and late items correct the hour
they belong to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session

from core.db.upsert import bulk_upsert
from core.news.models import NewsItem, NewsItemInstrument, SentimentHourly

HOUR = timedelta(hours=1)


def hour_floor(value: datetime) -> datetime:
    """Return the start of the hour of ``value``."""
    return value.replace(minute=0, second=0, microsecond=0)


def _hour_expression(session: Session) -> Any:
    """Return a SQL expression of the UTC hour of ``news_items.published_at`` for this dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", NewsItem.published_at))
    return func.substr(NewsItem.published_at, 1, 13)  # SQLite text 'YYYY-MM-DD HH:MM:SS.ffffff'


def _as_hour(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    text = str(value)  # SQLite: 'YYYY-MM-DD HH' (the first 13 characters of the stored text)
    if len(text) != 13 or text[4] != "-" or text[7] != "-" or text[10] != " ":
        raise ValueError(f"not an hour 'YYYY-MM-DD HH': {text!r}")
    return datetime(int(text[:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), tzinfo=UTC)


def recompute_hourly(session: Session, keys: Iterable[tuple[int, datetime]]) -> int:
    """Recompute the ``sentiment_hourly`` rows of the given (instrument id, hour) pairs; return how many.

    The sums are taken in SQL, grouped by hour, over the span of the touched hours.
    """
    hours_by_instrument: dict[int, set[datetime]] = defaultdict(set)
    for instrument_id, hour in keys:
        hours_by_instrument[instrument_id].add(hour_floor(hour))
    if not hours_by_instrument:
        return 0
    hour_of = _hour_expression(session)
    weight = case((NewsItem.influence > 0, NewsItem.influence), else_=0.0)
    scored = case((NewsItem.sentiment.is_not(None), weight), else_=0.0)
    written = 0
    for instrument_id, hours in hours_by_instrument.items():
        start, end = min(hours), max(hours) + HOUR
        grouped = session.execute(
            select(
                hour_of,
                func.count(),
                func.sum(NewsItem.sentiment),
                func.count(NewsItem.sentiment),
                func.sum(NewsItem.sentiment * weight),
                func.sum(scored),
            )
            .join(NewsItemInstrument, NewsItemInstrument.news_item_id == NewsItem.id)
            .where(
                NewsItemInstrument.instrument_id == instrument_id,
                NewsItem.published_at >= start,
                NewsItem.published_at < end,
            )
            .group_by(hour_of)
        ).all()
        upserts = []
        present: set[datetime] = set()
        for raw_hour, mentions, total, scored_count, weighted_total, weight_sum in grouped:
            hour = _as_hour(raw_hour)
            if hour not in hours:
                continue
            present.add(hour)
            mean = round(float(total) / scored_count, 4) if scored_count else None
            weighted = round(float(weighted_total) / float(weight_sum), 4) if weight_sum and weight_sum > 0 else mean
            upserts.append(
                {
                    "instrument_id": instrument_id,
                    "hour": hour,
                    "mentions": int(mentions),
                    "mean_sentiment": mean,
                    "weighted_sentiment": weighted,
                }
            )
        bulk_upsert(
            session,
            SentimentHourly.__table__,  # type: ignore[arg-type]
            upserts,
            conflict_columns=["instrument_id", "hour"],
            update_columns=["mentions", "mean_sentiment", "weighted_sentiment"],
        )
        empty = sorted(hours - present)
        for chunk_start in range(0, len(empty), 500):
            session.execute(
                delete(SentimentHourly).where(
                    SentimentHourly.instrument_id == instrument_id,
                    SentimentHourly.hour.in_(empty[chunk_start : chunk_start + 500]),
                )
            )
        written += len(upserts)
    return written
