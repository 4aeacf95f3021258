"""The protocol every news source implements, and the raw records sources hand to the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from core.news.models import CalendarImportance, NewsKind


@dataclass(frozen=True)
class RawNewsItem:
    """An article or post as a source delivered it, before validation and processing.

    ``hint_symbols`` names instruments the source itself associates with the item (a subreddit
    configured for BTC/EUR, the tickers Alpha Vantage lists); tagging adds them to what it finds
    in the text.
    """

    source: str
    source_id: str | None
    kind: NewsKind
    title: str | None
    summary: str | None
    url: str | None
    published_at: datetime | None
    author: str | None = None
    publisher: str | None = None
    metrics: dict[str, Any] | None = None
    hint_symbols: tuple[str, ...] = ()
    is_demo: bool = False

    @property
    def platform(self) -> str:
        """Return the platform part of the source name (``rss:coindesk`` → ``rss``)."""
        return self.source.split(":", 1)[0]


@dataclass(frozen=True)
class RawCalendarEvent:
    """One economic calendar entry as a source delivered it."""

    source: str
    external_id: str
    event_time: datetime
    title: str
    country: str
    importance: CalendarImportance
    time_known: bool = True
    category: str | None = None
    url: str | None = None
    details: dict[str, Any] | None = None
    is_demo: bool = False


@dataclass(frozen=True)
class InstrumentQuery:
    """What a source searches for one instrument: terms for queries, subreddits for Reddit."""

    symbol: str
    ticker: str
    names: tuple[str, ...]
    subreddits: tuple[str, ...] = ()
    is_crypto: bool = True


@dataclass
class FetchContext:
    """What a source needs to fetch incrementally: its stored validators and the instruments."""

    now: datetime
    since: datetime
    instruments: list[InstrumentQuery]
    etag: str | None = None
    last_modified: str | None = None
    cursor: str | None = None


@dataclass
class FetchResult:
    """The outcome of one fetch: items plus the validators/cursor to store for the next one."""

    items: list[RawNewsItem] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None
    cursor: str | None = None
    not_modified: bool = False
    calls: int = 1


@runtime_checkable
class NewsSource(Protocol):
    """A provider of articles or posts.

    Required: ``name`` (unique, stored as ``news_items.source``; ``platform[:detail]``),
    ``platform``, ``interval_seconds`` (its own schedule) and ``fetch``. ``daily_call_budget`` is
    None or the number of calls the provider allows per UTC day. ``fetch`` raises the errors of
    :mod:`core.news.errors`; it never writes to the database.
    """

    name: str
    platform: str
    interval_seconds: float
    daily_call_budget: int | None

    def fetch(self, context: FetchContext) -> FetchResult:
        """Fetch new items since ``context.since``."""
        ...


@runtime_checkable
class CalendarSource(Protocol):
    """A provider of economic calendar events (same scheduling contract as :class:`NewsSource`)."""

    name: str
    platform: str
    interval_seconds: float
    daily_call_budget: int | None

    def fetch_events(self, context: FetchContext) -> list[RawCalendarEvent]:
        """Fetch events around ``context.now`` (recent past and the weeks ahead)."""
        ...
