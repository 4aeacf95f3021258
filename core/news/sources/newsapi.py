"""NewsAPI ``/v2/everything``: articles that mention the tracked instruments."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from core.news.errors import SourceAuthError, SourceBadResponse, SourceError, SourceRateLimited
from core.news.http import HttpClient, decode_json
from core.news.models import NewsKind
from core.news.sources.base import FetchContext, FetchResult, RawNewsItem
from core.timeutil import parse_utc

logger = logging.getLogger(__name__)

AUTH_CODES = {"apiKeyDisabled", "apiKeyExhausted", "apiKeyInvalid", "apiKeyMissing"}
RATE_CODES = {"rateLimited"}
REMOVED_TITLE = "[Removed]"
MAX_QUERY_LENGTH = 500


def build_query(context: FetchContext) -> str:
    """Return the search expression: instrument names and tickers joined by OR (quoted phrases)."""
    terms: list[str] = []
    for instrument in context.instruments:
        for term in (*instrument.names, instrument.ticker):
            term = term.strip()
            if term and term.lower() not in {existing.strip('"').lower() for existing in terms}:
                terms.append(f'"{term}"' if " " in term else term)
    query = ""
    for term in terms:
        candidate = term if not query else f"{query} OR {term}"
        if len(candidate) > MAX_QUERY_LENGTH:
            break
        query = candidate
    return query


class NewsApiSource:
    """NewsAPI search over all its publishers (one call per pass, newest first)."""

    name = "newsapi"
    platform = "newsapi"
    daily_call_budget: int | None = 100  # developer plan

    def __init__(self, api_key: str, http: HttpClient, *, base_url: str, interval_seconds: float = 1800.0):
        self._api_key = api_key
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.interval_seconds = interval_seconds

    def fetch(self, context: FetchContext) -> FetchResult:
        """Search ``/v2/everything`` from ``context.since`` (ISO time, sorted by publication)."""
        query = build_query(context)
        if not query:
            return FetchResult(items=[], calls=0)
        params = {
            "q": query,
            "from": context.since.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sortBy": "publishedAt",
            "language": "en",
            "pageSize": 100,
            "page": 1,
        }
        response = self.http.get(f"{self.base_url}/v2/everything", params=params, headers=self._headers())
        payload = decode_json(self.name, response)
        return FetchResult(items=self._items(payload))

    def _headers(self) -> dict[str, str]:
        return {"X-Api-Key": self._api_key}

    def _items(self, payload: Any) -> list[RawNewsItem]:
        if not isinstance(payload, dict):
            raise SourceBadResponse(f"{self.name}: expected a JSON object, got {type(payload).__name__}")
        if payload.get("status") == "error":
            code = str(payload.get("code") or "")
            message = f"{self.name}: {code}: {payload.get('message') or ''}".strip()
            if code in AUTH_CODES:
                raise SourceAuthError(message)
            if code in RATE_CODES:
                raise SourceRateLimited(message)
            raise SourceError(message)
        articles = payload.get("articles")
        if payload.get("status") != "ok" or not isinstance(articles, list):
            raise SourceBadResponse(f"{self.name}: answer has no 'status: ok' and 'articles' list")
        items = []
        for article in articles:
            if not isinstance(article, dict) or article.get("title") == REMOVED_TITLE:
                continue
            url = article.get("url")
            published = article.get("publishedAt")
            try:
                published_at = parse_utc(published) if published else None
            except ValueError:
                published_at = None
            source: dict[str, Any] = article["source"] if isinstance(article.get("source"), dict) else {}
            items.append(
                RawNewsItem(
                    source=self.name,
                    source_id=hashlib.sha1(url.encode()).hexdigest() if isinstance(url, str) and url else None,
                    kind=NewsKind.ARTICLE,
                    title=article.get("title"),
                    summary=article.get("description") or article.get("content"),
                    url=url,
                    published_at=published_at,
                    author=article.get("author"),
                    publisher=source.get("name"),
                    metrics=None,
                )
            )
        return items
