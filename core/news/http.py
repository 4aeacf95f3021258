"""The HTTP client of the news sources: timeouts, client-side rate limit, retries with backoff.

Every source that speaks plain HTTP (RSS, NewsAPI, Alpha Vantage, FRED) goes through
:class:`HttpClient`. It maps answers to the error classes of :mod:`core.news.errors`:
401/403 → :class:`SourceAuthError` (not retried), 429 → :class:`SourceRateLimited` with the time
the provider's reset headers name, 5xx and transport errors → retried with exponential backoff,
then :class:`SourceUnavailable`. URLs are redacted before they reach a log line.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from core.logging_setup import redact
from core.news.errors import SourceAuthError, SourceBadResponse, SourceError, SourceRateLimited, SourceUnavailable
from core.system.shutdown import interruptible_sleep
from core.timeutil import ensure_utc, utc_now

logger = logging.getLogger(__name__)

# Reset headers seen at the providers: seconds to wait, or an epoch timestamp.
RESET_HEADERS = ("retry-after", "x-ratelimit-reset", "x-rate-limit-reset", "ratelimit-reset")
_EPOCH_THRESHOLD = 1_000_000_000


class RateLimiter:
    """Space requests at least ``min_interval_seconds`` apart (thread-safe)."""

    def __init__(
        self,
        min_interval_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = interruptible_sleep,
    ):
        self.min_interval_seconds = min_interval_seconds
        self._clock = clock
        self._sleep = sleep
        self._next_allowed = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait until the next request is allowed; return the seconds waited."""
        with self._lock:
            now = self._clock()
            wait = max(0.0, self._next_allowed - now)
            self._next_allowed = max(now, self._next_allowed) + self.min_interval_seconds
        if wait > 0:
            self._sleep(wait)
        return wait


def retry_at_from_headers(headers: Mapping[str, str], now: datetime | None = None) -> datetime | None:
    """Return when a rate-limited request may be repeated, from the answer's reset headers.

    Understands ``Retry-After`` (seconds or an HTTP date) and the ``*-reset`` headers of Reddit
    (seconds), X and GitHub-style APIs (epoch seconds).
    """
    now = now or utc_now()
    lowered = {key.lower(): value for key, value in headers.items()}
    for name in RESET_HEADERS:
        raw = lowered.get(name)
        if raw is None:
            continue
        raw = raw.strip()
        try:
            number = float(raw)
        except ValueError:
            try:
                return ensure_utc(parsedate_to_datetime(raw))
            except (TypeError, ValueError):
                continue
        if number >= _EPOCH_THRESHOLD:
            return datetime.fromtimestamp(number, tz=now.tzinfo)
        return now + timedelta(seconds=max(0.0, number))
    return None


class HttpClient:
    """A small synchronous HTTP client for one source."""

    def __init__(
        self,
        name: str,
        *,
        timeout_seconds: float = 15.0,
        attempts: int = 3,
        backoff_seconds: float = 1.0,
        rate_limiter: RateLimiter | None = None,
        user_agent: str = "Konsens/0.1",
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = interruptible_sleep,
    ):
        self.name = name
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.rate_limiter = rate_limiter
        self._sleep = sleep
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0)),
            headers={"User-Agent": user_agent},
            follow_redirects=True,
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        allow_not_modified: bool = False,
    ) -> httpx.Response:
        """GET ``url``; return a 2xx (or, with ``allow_not_modified``, 304) answer or raise."""
        last_problem = "no attempt made"
        for attempt in range(1, self.attempts + 1):
            if self.rate_limiter is not None:
                self.rate_limiter.acquire()
            try:
                response = self._client.get(url, params=params, headers=headers)
            except httpx.TimeoutException as error:
                last_problem = f"timeout ({type(error).__name__})"
            except httpx.TransportError as error:
                last_problem = f"connection failed ({type(error).__name__}: {error})"
            else:
                status = response.status_code
                shown_url = redact(str(response.request.url))
                if status == 304 and allow_not_modified:
                    return response
                if 200 <= status < 300:
                    return response
                if status in (401, 403):
                    raise SourceAuthError(
                        f"{self.name}: HTTP {status} (credentials refused) for {shown_url}: {_short_body(response)}"
                    )
                if status == 429:
                    retry_at = retry_at_from_headers(response.headers)
                    raise SourceRateLimited(
                        f"{self.name}: HTTP 429 (rate limited) for {shown_url}: {_short_body(response)}", retry_at
                    )
                if status >= 500 or status == 408:
                    last_problem = f"HTTP {status}"
                else:
                    raise SourceError(f"{self.name}: HTTP {status} for {shown_url}: {_short_body(response)}")
            if attempt < self.attempts:
                wait = self.backoff_seconds * 2 ** (attempt - 1)
                logger.warning(
                    "%s: %s, retry %d/%d in %.1f s", self.name, redact(last_problem), attempt, self.attempts - 1, wait
                )
                self._sleep(wait)
        raise SourceUnavailable(f"{self.name}: {redact(last_problem)} after {self.attempts} attempts")

    def get_json(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """GET ``url`` and decode its JSON body; garbage raises :class:`SourceBadResponse`."""
        response = self.get(url, params=params, headers=headers)
        return decode_json(self.name, response)


def decode_json(name: str, response: httpx.Response) -> Any:
    """Decode a JSON answer or raise :class:`SourceBadResponse`."""
    if not response.content.strip():
        raise SourceBadResponse(f"{name}: empty answer body")
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SourceBadResponse(f"{name}: answer is not JSON ({error}): {_short_body(response)}") from error


def _short_body(response: httpx.Response, limit: int = 200) -> str:
    text = response.text.strip().replace("\n", " ")
    return redact(text[:limit])


def call_with_retries(
    name: str,
    call: Callable[[], Any],
    *,
    is_retryable: Callable[[BaseException], bool],
    attempts: int = 3,
    backoff_seconds: float = 1.0,
    sleep: Callable[[float], None] = interruptible_sleep,
) -> Any:
    """Run ``call``; on a retryable error wait ``backoff · 2^(n-1)`` seconds and try again.

    For sources whose HTTP is done by a provider library (praw, tweepy). The last error is
    re-raised for the caller to map.
    """
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as error:
            if attempt >= attempts or not is_retryable(error):
                raise
            wait = backoff_seconds * 2 ** (attempt - 1)
            logger.warning("%s: %s, retry %d/%d in %.1f s", name, redact(str(error))[:200], attempt, attempts - 1, wait)
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
