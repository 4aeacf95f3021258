"""X (Twitter) via tweepy v2 ``search_recent_tweets``: cashtags and names of the instruments.

tweepy's ``Client`` uses a ``requests.Session`` with the API host built in. We mount an adapter
on that session that sets a timeout on every request and, when ``base_url`` is not the public
API (a proxy, a loopback server in tests), rewrites the host. Access to the search endpoint is
paid; without a bearer token the source is not built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import tweepy
from requests.adapters import HTTPAdapter

from core.news.errors import SourceAuthError, SourceBadResponse, SourceError, SourceRateLimited, SourceUnavailable
from core.news.models import NewsKind
from core.news.sources.base import FetchContext, FetchResult, RawNewsItem
from core.retry import RateLimiter, call_with_retries, retry_at_from_headers
from core.system.shutdown import interruptible_sleep

logger = logging.getLogger(__name__)

X_API_BASE = "https://api.twitter.com"
MAX_QUERY_LENGTH = 512
RECENT_SEARCH_DAYS = 7


class TimeoutRedirectAdapter(HTTPAdapter):
    """A transport adapter that enforces a timeout and may send requests to another base URL."""

    def __init__(self, timeout_seconds: float, base_url: str | None = None):
        super().__init__()
        self.timeout_seconds = timeout_seconds
        self.target = urlsplit(base_url) if base_url and base_url.rstrip("/") != X_API_BASE else None

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout_seconds
        if self.target is not None and request.url:
            parts = urlsplit(request.url)
            path = self.target.path.rstrip("/") + parts.path
            request.url = urlunsplit((self.target.scheme, self.target.netloc, path, parts.query, parts.fragment))
        return super().send(request, **kwargs)


def build_query(context: FetchContext) -> str:
    """Return the search query: cashtags and names joined by OR, without retweets."""
    terms: list[str] = []
    for instrument in context.instruments:
        candidates = [f"${instrument.ticker}", *instrument.names]
        for term in candidates:
            term = term.strip()
            if not term:
                continue
            rendered = f'"{term}"' if " " in term else term
            if rendered.lower() not in (existing.lower() for existing in terms):
                terms.append(rendered)
    suffix = " -is:retweet"
    query = ""
    for term in terms:
        candidate = term if not query else f"{query} OR {term}"
        if len(f"({candidate}){suffix}") > MAX_QUERY_LENGTH:
            break
        query = candidate
    return f"({query}){suffix}" if query else ""


def _retryable(error: BaseException) -> bool:
    return isinstance(error, tweepy.TwitterServerError | requests.ConnectionError | requests.Timeout)


class XSource:
    """Recent posts on X mentioning the instruments."""

    name = "x"
    platform = "x"
    daily_call_budget: int | None = None

    def __init__(
        self,
        bearer_token: str,
        *,
        base_url: str = X_API_BASE,
        interval_seconds: float = 1800.0,
        timeout_seconds: float = 15.0,
        max_results: int = 100,
        attempts: int = 3,
        backoff_seconds: float = 1.0,
        rate_limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = interruptible_sleep,
    ):
        self.interval_seconds = interval_seconds
        self.max_results = max(10, min(100, max_results))
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.rate_limiter = rate_limiter or RateLimiter(1.0, service="x")
        self._sleep = sleep
        self.client = tweepy.Client(bearer_token=bearer_token, wait_on_rate_limit=False)
        adapter = TimeoutRedirectAdapter(timeout_seconds, base_url)
        self.client.session.mount("https://", adapter)
        self.client.session.mount("http://", adapter)

    def fetch(self, context: FetchContext) -> FetchResult:
        """Search recent posts newer than the stored newest id (or ``context.since``)."""
        query = build_query(context)
        if not query:
            return FetchResult(items=[], calls=0)
        arguments: dict[str, Any] = {
            "max_results": self.max_results,
            "tweet_fields": ["created_at", "public_metrics", "author_id", "lang"],
            "expansions": ["author_id"],
            "user_fields": ["public_metrics", "username", "name"],
        }
        if context.cursor:
            arguments["since_id"] = context.cursor
        else:
            earliest = context.now - timedelta(days=RECENT_SEARCH_DAYS) + timedelta(minutes=1)
            arguments["start_time"] = max(context.since, earliest)

        def search() -> Any:
            self.rate_limiter.acquire()
            return self.client.search_recent_tweets(query, **arguments)

        try:
            response = call_with_retries(
                search,
                is_transient=_retryable,
                attempts=self.attempts,
                base_seconds=self.backoff_seconds,
                sleep=self._sleep,
                description=self.name,
            )
        except tweepy.TooManyRequests as error:
            raise SourceRateLimited(
                f"{self.name}: HTTP 429 (rate limited)", retry_at_from_headers(error.response.headers)
            ) from error
        except (tweepy.Unauthorized, tweepy.Forbidden) as error:
            raise SourceAuthError(f"{self.name}: credentials refused ({error})") from error
        except tweepy.TwitterServerError as error:
            raise SourceUnavailable(f"{self.name}: {error}") from error
        except (requests.ConnectionError, requests.Timeout) as error:
            raise SourceUnavailable(f"{self.name}: request failed ({type(error).__name__})") from error
        except tweepy.HTTPException as error:
            raise SourceError(f"{self.name}: {error}") from error
        except (ValueError, KeyError, TypeError) as error:
            raise SourceBadResponse(f"{self.name}: unexpected answer ({type(error).__name__}: {error})") from error
        return self._result(response, context)

    def _result(self, response: Any, context: FetchContext) -> FetchResult:
        if not isinstance(response, tweepy.Response):
            raise SourceBadResponse(f"{self.name}: unexpected answer type {type(response).__name__}")
        users = {str(user.id): user for user in (response.includes or {}).get("users", [])}
        items = []
        for tweet in response.data or []:
            user = users.get(str(tweet.author_id))
            user_metrics = (getattr(user, "public_metrics", None) or {}) if user is not None else {}
            tweet_metrics = tweet.public_metrics or {}
            username = getattr(user, "username", None) if user is not None else None
            url = (
                f"https://x.com/{username}/status/{tweet.id}" if username else f"https://x.com/i/web/status/{tweet.id}"
            )
            items.append(
                RawNewsItem(
                    source=self.name,
                    source_id=str(tweet.id),
                    kind=NewsKind.POST,
                    title=tweet.text,
                    summary=None,
                    url=url,
                    published_at=tweet.created_at,
                    author=f"@{username}" if username else None,
                    publisher="X",
                    metrics={
                        "followers": user_metrics.get("followers_count"),
                        "likes": tweet_metrics.get("like_count"),
                        "retweets": tweet_metrics.get("retweet_count"),
                        "replies": tweet_metrics.get("reply_count"),
                        "quotes": tweet_metrics.get("quote_count"),
                    },
                )
            )
        newest = (response.meta or {}).get("newest_id") or context.cursor
        return FetchResult(items=items, cursor=str(newest) if newest else None)
