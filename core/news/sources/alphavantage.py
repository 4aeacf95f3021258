"""Alpha Vantage ``NEWS_SENTIMENT``: articles per ticker, within the free tier's 25 calls a day.

The ``tickers`` parameter means "articles that mention *all* of these", so one call asks about
one instrument; the source rotates through the instruments (the stored cursor names the last
one asked). A throttled call answers HTTP 200 with ``{"Information": ...}`` (older: ``"Note"``):
that is a :class:`SourceRateLimited` until the next UTC midnight, when the daily budget resets.
``time_published`` (``YYYYMMDDTHHMMSS``) carries no zone; it is taken as UTC.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from core.news.errors import SourceAuthError, SourceBadResponse, SourceError, SourceRateLimited
from core.news.http import HttpClient
from core.news.models import NewsKind
from core.news.sources.base import FetchContext, FetchResult, InstrumentQuery, RawNewsItem

logger = logging.getLogger(__name__)


def av_ticker(instrument: InstrumentQuery) -> str:
    """Return Alpha Vantage's ticker for an instrument (``CRYPTO:BTC`` or ``AAPL``)."""
    return f"CRYPTO:{instrument.ticker}" if instrument.is_crypto else instrument.ticker


def next_utc_midnight(now: datetime) -> datetime:
    """Return the start of the next UTC day after ``now``."""
    day = now.astimezone(UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    for pattern in ("%Y%m%dT%H%M%S", "%Y%m%dT%H%M"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


class AlphaVantageNewsSource:
    """Alpha Vantage news with its own sentiment (kept in ``metrics``; Konsens scores with its own model)."""

    name = "alphavantage"
    platform = "alphavantage"

    def __init__(
        self,
        api_key: str,
        http: HttpClient,
        *,
        base_url: str,
        interval_seconds: float = 3600.0,
        daily_call_budget: int = 25,
    ):
        self._api_key = api_key
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.interval_seconds = interval_seconds
        self.daily_call_budget: int | None = daily_call_budget

    def fetch(self, context: FetchContext) -> FetchResult:
        """Ask about the next instrument in turn; return its articles since ``context.since``."""
        if not context.instruments:
            return FetchResult(items=[], calls=0)
        tickers = [av_ticker(instrument) for instrument in context.instruments]
        position = (tickers.index(context.cursor) + 1) % len(tickers) if context.cursor in tickers else 0
        ticker = tickers[position]
        params = {
            "function": "NEWS_SENTIMENT",
            "tickers": ticker,
            "time_from": context.since.astimezone(UTC).strftime("%Y%m%dT%H%M"),
            "sort": "LATEST",
            "limit": 200,
            "apikey": self._api_key,
        }
        payload = self.http.get_json(f"{self.base_url}/query", params=params)
        symbol = context.instruments[position].symbol
        return FetchResult(items=self._items(payload, context.now, symbol), cursor=ticker)

    def _items(self, payload: Any, now: datetime, symbol: str) -> list[RawNewsItem]:
        if not isinstance(payload, dict):
            raise SourceBadResponse(f"{self.name}: expected a JSON object, got {type(payload).__name__}")
        for key in ("Information", "Note"):
            if key in payload:
                message = str(payload[key])
                if "api key" in message.lower() and "invalid" in message.lower():
                    raise SourceAuthError(f"{self.name}: {message[:200]}")
                raise SourceRateLimited(f"{self.name}: throttled: {message[:200]}", next_utc_midnight(now))
        if "Error Message" in payload:
            message = str(payload["Error Message"])
            if "apikey" in message.lower().replace(" ", "") or "api key" in message.lower():
                raise SourceAuthError(f"{self.name}: {message[:200]}")
            raise SourceError(f"{self.name}: {message[:200]}")
        feed = payload.get("feed")
        if feed is None and not payload:
            return []
        if not isinstance(feed, list):
            raise SourceBadResponse(f"{self.name}: answer has no 'feed' list")
        items = []
        for article in feed:
            if not isinstance(article, dict):
                continue
            authors: list[Any] = article["authors"] if isinstance(article.get("authors"), list) else []
            metrics = {
                "av_sentiment": article.get("overall_sentiment_score"),
                "av_label": article.get("overall_sentiment_label"),
                "tickers": [
                    entry.get("ticker")
                    for entry in article.get("ticker_sentiment") or []
                    if isinstance(entry, dict) and entry.get("ticker")
                ],
            }
            url = article.get("url")
            items.append(
                RawNewsItem(
                    source=self.name,
                    source_id=url if isinstance(url, str) else None,
                    kind=NewsKind.ARTICLE,
                    title=article.get("title"),
                    summary=article.get("summary"),
                    url=url,
                    published_at=_parse_time(article.get("time_published")),
                    author=", ".join(str(author) for author in authors) or None,
                    publisher=article.get("source"),
                    metrics=metrics,
                    hint_symbols=(symbol,),
                )
            )
        return items
