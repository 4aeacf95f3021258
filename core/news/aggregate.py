"""Hourly sentiment aggregates per instrument: mentions, mean and influence-weighted sentiment.

Aggregates are recomputed from the stored items for exactly the (instrument, hour) pairs a batch
touched, so a repeated pass writes the same numbers (idempotent) and late items correct the hour
they belong to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.db.upsert import bulk_upsert
from core.news.models import NewsItem, NewsItemInstrument, SentimentHourly

HOUR = timedelta(hours=1)


def hour_floor(value: datetime) -> datetime:
    """Return the start of the hour of ``value``."""
    return value.replace(minute=0, second=0, microsecond=0)


def recompute_hourly(session: Session, keys: Iterable[tuple[int, datetime]]) -> int:
    """Recompute the ``sentiment_hourly`` rows of the given (instrument id, hour) pairs; return how many."""
    hours_by_instrument: dict[int, set[datetime]] = defaultdict(set)
    for instrument_id, hour in keys:
        hours_by_instrument[instrument_id].add(hour_floor(hour))
    written = 0
    for instrument_id, hours in hours_by_instrument.items():
        start, end = min(hours), max(hours) + HOUR
        rows = session.execute(
            select(NewsItem.published_at, NewsItem.sentiment, NewsItem.influence)
            .join(NewsItemInstrument, NewsItemInstrument.news_item_id == NewsItem.id)
            .where(
                NewsItemInstrument.instrument_id == instrument_id,
                NewsItem.published_at >= start,
                NewsItem.published_at < end,
            )
        ).all()
        sums: dict[datetime, list[float]] = {}
        for published_at, sentiment, influence in rows:
            hour = hour_floor(published_at)
            if hour not in hours:
                continue
            bucket = sums.setdefault(hour, [0, 0.0, 0, 0.0, 0.0])  # mentions, Σs, n scored, Σs·w, Σw
            bucket[0] += 1
            if sentiment is not None:
                bucket[1] += sentiment
                bucket[2] += 1
                weight = influence if influence is not None and influence > 0 else 0.0
                bucket[3] += sentiment * weight
                bucket[4] += weight
        upserts = []
        for hour, (mentions, total, scored, weighted_total, weight_sum) in sums.items():
            mean = round(total / scored, 4) if scored else None
            weighted = round(weighted_total / weight_sum, 4) if weight_sum > 0 else mean
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
        empty = sorted(hours - set(sums))
        for chunk_start in range(0, len(empty), 500):
            session.execute(
                delete(SentimentHourly).where(
                    SentimentHourly.instrument_id == instrument_id,
                    SentimentHourly.hour.in_(empty[chunk_start : chunk_start + 500]),
                )
            )
        written += len(upserts)
    return written
