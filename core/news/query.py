"""Read models of the News & sentiment page (and of anyone who wants recent news as a table)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.market.models import Instrument
from core.news.models import NewsItem, NewsItemInstrument, NewsKind, SentimentHourly

ITEM_COLUMNS = [
    "id",
    "published_at",
    "instruments",
    "source",
    "kind",
    "publisher",
    "title",
    "url",
    "sentiment",
    "influence",
]


@dataclass(frozen=True)
class NewsFilter:
    """Filters of the news table (all optional)."""

    instrument_id: int | None = None
    search: str | None = None
    sources: Sequence[str] = ()
    kinds: Sequence[NewsKind] = ()
    since: datetime | None = None
    until: datetime | None = None
    min_sentiment: float | None = None
    max_sentiment: float | None = None
    min_influence: float | None = None


def news_instruments(session: Session) -> list[tuple[int, str]]:
    """Return ``(id, symbol)`` of the instruments that have at least one tagged item, in instrument order."""
    rows = session.execute(
        select(Instrument.id, Instrument.symbol)
        .where(
            select(NewsItemInstrument.news_item_id).where(NewsItemInstrument.instrument_id == Instrument.id).exists()
        )
        .order_by(Instrument.id)
    ).all()
    return [(int(row[0]), str(row[1])) for row in rows]


def news_sources(session: Session) -> list[str]:
    """Return the distinct source names of stored items."""
    return sorted(session.scalars(select(NewsItem.source).distinct()))


def latest_items(session: Session, filters: NewsFilter | None = None, *, limit: int = 200) -> pd.DataFrame:
    """Return the newest items matching ``filters`` as a frame of :data:`ITEM_COLUMNS`."""
    filters = filters or NewsFilter()
    statement = select(NewsItem).order_by(NewsItem.published_at.desc(), NewsItem.id.desc()).limit(limit)
    if filters.instrument_id is not None:
        statement = statement.where(
            NewsItem.id.in_(
                select(NewsItemInstrument.news_item_id).where(NewsItemInstrument.instrument_id == filters.instrument_id)
            )
        )
    if filters.search and filters.search.strip():
        pattern = f"%{filters.search.strip().lower()}%"
        statement = statement.where(
            or_(func.lower(NewsItem.title).like(pattern), func.lower(func.coalesce(NewsItem.summary, "")).like(pattern))
        )
    if filters.sources:
        statement = statement.where(NewsItem.source.in_(list(filters.sources)))
    if filters.kinds:
        statement = statement.where(NewsItem.kind.in_(list(filters.kinds)))
    if filters.since is not None:
        statement = statement.where(NewsItem.published_at >= filters.since)
    if filters.until is not None:
        statement = statement.where(NewsItem.published_at < filters.until)
    if filters.min_sentiment is not None:
        statement = statement.where(NewsItem.sentiment >= filters.min_sentiment)
    if filters.max_sentiment is not None:
        statement = statement.where(NewsItem.sentiment <= filters.max_sentiment)
    if filters.min_influence is not None:
        statement = statement.where(NewsItem.influence >= filters.min_influence)
    items = list(session.scalars(statement))
    tags: dict[int, list[str]] = {}
    if items:
        for news_item_id, symbol in session.execute(
            select(NewsItemInstrument.news_item_id, Instrument.symbol)
            .join(Instrument, Instrument.id == NewsItemInstrument.instrument_id)
            .where(NewsItemInstrument.news_item_id.in_([item.id for item in items]))
            .order_by(Instrument.symbol)
        ):
            tags.setdefault(news_item_id, []).append(symbol)
    return pd.DataFrame(
        [
            {
                "id": item.id,
                "published_at": item.published_at,
                "instruments": ", ".join(tags.get(item.id, [])),
                "source": item.source,
                "kind": item.kind.value,
                "publisher": item.publisher,
                "title": item.title,
                "url": item.url,
                "sentiment": item.sentiment,
                "influence": item.influence,
            }
            for item in items
        ],
        columns=ITEM_COLUMNS,
    )


def sentiment_series(session: Session, instrument_id: int, start: datetime, end: datetime) -> pd.DataFrame:
    """Return hourly ``mentions``, ``mean_sentiment``, ``weighted_sentiment`` indexed by UTC hour."""
    rows = session.execute(
        select(
            SentimentHourly.hour,
            SentimentHourly.mentions,
            SentimentHourly.mean_sentiment,
            SentimentHourly.weighted_sentiment,
        )
        .where(
            SentimentHourly.instrument_id == instrument_id,
            SentimentHourly.hour >= start,
            SentimentHourly.hour < end,
        )
        .order_by(SentimentHourly.hour)
    ).all()
    frame = pd.DataFrame(rows, columns=["hour", "mentions", "mean_sentiment", "weighted_sentiment"])
    if frame.empty:
        return frame.set_index("hour")
    frame["hour"] = pd.to_datetime(frame["hour"], utc=True)
    return frame.set_index("hour").astype(float)


def resample_sentiment(frame: pd.DataFrame, rule: str) -> pd.DataFrame:
    """Resample hourly sentiment to ``rule`` (e.g. ``4h``, ``1D``): mentions summed, sentiments mention-weighted."""
    if frame.empty:
        return frame
    weighted = frame.assign(
        mean_x=frame["mean_sentiment"] * frame["mentions"],
        weighted_x=frame["weighted_sentiment"] * frame["mentions"],
    )
    grouped = weighted.resample(rule).sum(min_count=1)
    result = pd.DataFrame(index=grouped.index)
    result["mentions"] = grouped["mentions"].fillna(0)
    mentions = grouped["mentions"].where(grouped["mentions"] > 0)
    result["mean_sentiment"] = grouped["mean_x"] / mentions
    result["weighted_sentiment"] = grouped["weighted_x"] / mentions
    return result


def choose_resample_rule(start: datetime, end: datetime) -> str:
    """Return a bar size that keeps a sentiment chart readable: 1h up to 3 days, 4h up to 3 weeks, else 1D."""
    span = end - start
    if span.total_seconds() <= 3 * 86_400:
        return "1h"
    if span.total_seconds() <= 21 * 86_400:
        return "4h"
    return "1D"


def sentiment_with_price(
    session: Session, instrument_id: int, start: datetime, end: datetime, *, rule: str | None = None
) -> pd.DataFrame:
    """Return ``close``, ``mentions``, ``mean_sentiment``, ``weighted_sentiment`` per bar of ``rule``.

    Close prices come from the instrument's hourly candles (last close of each bar); sentiment from
    ``sentiment_hourly`` (mention-weighted over the bar). Bars without mentions have 0 mentions
    and no sentiment.
    """
    from core.market.query import load_candles

    rule = rule or choose_resample_rule(start, end)
    candles = load_candles(session, instrument_id, "1h", start=start, end=end)
    sentiment = resample_sentiment(sentiment_series(session, instrument_id, start, end), rule)
    index = pd.date_range(pd.Timestamp(start).floor(rule), pd.Timestamp(end), freq=rule, inclusive="left")
    frame = pd.DataFrame(index=index)
    frame.index.name = "time"
    frame["close"] = candles["close"].resample(rule).last().reindex(index) if not candles.empty else float("nan")
    if sentiment.empty:
        frame["mentions"] = 0.0
        frame["mean_sentiment"] = float("nan")
        frame["weighted_sentiment"] = float("nan")
    else:
        frame = frame.join(sentiment.reindex(index))
        frame["mentions"] = frame["mentions"].fillna(0.0)
    return frame


@dataclass(frozen=True)
class SentimentSummary:
    mentions: int
    mean_sentiment: float | None
    weighted_sentiment: float | None


def sentiment_summary(session: Session, instrument_id: int, start: datetime, end: datetime) -> SentimentSummary:
    """Return mentions and mention-weighted mean / influence-weighted sentiment over ``[start, end)``."""
    hourly = sentiment_series(session, instrument_id, start, end)
    if hourly.empty or hourly["mentions"].sum() == 0:
        return SentimentSummary(0, None, None)
    mentions = hourly["mentions"]
    total = float(mentions.sum())

    def weighted_mean(column: str) -> float | None:
        valid = hourly[column].notna()
        weight = float(mentions[valid].sum())
        return round(float((hourly.loc[valid, column] * mentions[valid]).sum()) / weight, 4) if weight else None

    return SentimentSummary(int(total), weighted_mean("mean_sentiment"), weighted_mean("weighted_sentiment"))
