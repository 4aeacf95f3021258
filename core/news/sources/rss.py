"""RSS and Atom feeds: fetched with :class:`~core.news.http.HttpClient` (conditional requests), parsed by feedparser."""

from __future__ import annotations

import calendar
import logging
from datetime import UTC, datetime
from typing import Any

import feedparser

from core.news.config import FeedConfig
from core.news.errors import SourceBadResponse
from core.news.http import HttpClient
from core.news.models import NewsKind
from core.news.sources.base import FetchContext, FetchResult, RawNewsItem

logger = logging.getLogger(__name__)


def _entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    return None


class RssSource:
    """One RSS or Atom feed."""

    platform = "rss"
    daily_call_budget: int | None = None

    def __init__(self, feed: FeedConfig, http: HttpClient, *, interval_seconds: float = 900.0):
        self.feed = feed
        self.name = feed.source
        self.http = http
        self.interval_seconds = interval_seconds

    def fetch(self, context: FetchContext) -> FetchResult:
        """GET the feed with If-None-Match / If-Modified-Since; a 304 answer yields no items."""
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"}
        if context.etag:
            headers["If-None-Match"] = context.etag
        if context.last_modified:
            headers["If-Modified-Since"] = context.last_modified
        response = self.http.get(self.feed.url, headers=headers, allow_not_modified=True)
        etag = response.headers.get("ETag") or context.etag
        last_modified = response.headers.get("Last-Modified") or context.last_modified
        if response.status_code == 304:
            return FetchResult(items=[], etag=etag, last_modified=last_modified, not_modified=True)
        if not response.content.strip():
            return FetchResult(items=[], etag=etag, last_modified=last_modified)
        parsed = feedparser.parse(response.content)
        if not parsed.entries and (parsed.bozo or not parsed.feed):
            problem = getattr(parsed, "bozo_exception", None) or "no feed element"
            raise SourceBadResponse(f"{self.name}: not an RSS/Atom feed ({problem})")
        publisher = (parsed.feed.get("title") or self.feed.name).strip()[:200]
        items = []
        for entry in parsed.entries:
            link = entry.get("link")
            items.append(
                RawNewsItem(
                    source=self.name,
                    source_id=(entry.get("id") or link or None),
                    kind=NewsKind.ARTICLE,
                    title=entry.get("title"),
                    summary=entry.get("summary") or entry.get("description"),
                    url=link,
                    published_at=_entry_time(entry),
                    author=entry.get("author"),
                    publisher=publisher,
                    metrics=None,
                )
            )
        return FetchResult(items=items, etag=etag, last_modified=last_modified)
