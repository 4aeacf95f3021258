"""The HTTP client of the news sources: timeouts, client-side rate limit, retries with backoff.

Every source that speaks plain HTTP (RSS, NewsAPI, Alpha Vantage, FRED) goes through
:class:`HttpClient`. It maps answers to the error classes of :mod:`core.news.errors`:
401/403 → :class:`SourceAuthError` (not retried), 429 → :class:`SourceRateLimited` with the time
the provider's reset headers name, 5xx and transport errors → retried with exponential backoff,
then :class:`SourceUnavailable`. A host name the resolver says does not exist (offline, or a
wrong URL) is :class:`SourceUnavailable` at once: retrying it a second later cannot help (a
temporary resolver failure is retried like any transport error). URLs are redacted before they
reach a log line.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from core import retry
from core.errors import KonsensError, TransientError
from core.logging_setup import redact
from core.news.errors import SourceAuthError, SourceBadResponse, SourceError, SourceRateLimited, SourceUnavailable
from core.retry import RateLimiter, retry_at_from_headers
from core.system.shutdown import interruptible_sleep

logger = logging.getLogger(__name__)


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
        self._timeout = httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0))
        self._user_agent = user_agent
        self._transport = transport
        self._http: httpx.Client | None = None

    @property
    def _client(self) -> httpx.Client:
        """The connection pool, made on the first request (its TLS context costs CPU; idle passes make none)."""
        if self._http is None:
            self._http = httpx.Client(
                timeout=self._timeout,
                headers={"User-Agent": self._user_agent},
                follow_redirects=True,
                transport=self._transport,
            )
        return self._http

    def close(self) -> None:
        """Close the connection pool (if a request opened one)."""
        if self._http is not None:
            self._http.close()
            self._http = None

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

        def attempt() -> httpx.Response:
            if self.rate_limiter is not None:
                self.rate_limiter.acquire()
            try:
                response = self._client.get(url, params=params, headers=headers)
            except httpx.TimeoutException as error:
                raise _Transient(f"timeout ({type(error).__name__})") from error
            except httpx.TransportError as error:
                if _host_not_found(error):
                    raise _HostNotFound(
                        f"{self.name}: cannot resolve the host of {redact(url)} (offline, or a wrong URL): {error}"
                    ) from error
                raise _Transient(f"connection failed ({type(error).__name__}: {error})") from error
            status = response.status_code
            shown_url = redact(str(response.request.url))
            if 200 <= status < 300 or (status == 304 and allow_not_modified):
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
                raise _Transient(f"HTTP {status}")
            raise SourceError(f"{self.name}: HTTP {status} for {shown_url}: {_short_body(response)}")

        try:
            return retry.call_with_retries(
                attempt,
                attempts=self.attempts,
                base_seconds=self.backoff_seconds,
                sleep=self._sleep,
                description=self.name,
            )
        except _Transient as error:
            raise SourceUnavailable(f"{self.name}: {redact(str(error))} after {self.attempts} attempts") from None
        except _HostNotFound as error:  # not retried: it is not transient
            raise SourceUnavailable(str(error)) from error.__cause__

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


class _Transient(TransientError):
    """A failure worth retrying (timeout, connection error, 5xx); becomes ``SourceUnavailable`` at the end."""


class _HostNotFound(KonsensError):
    """The resolver does not know the host: not transient, so not retried; ``get`` raises ``SourceUnavailable``."""


def _host_not_found(error: BaseException) -> bool:
    """True if ``error`` comes from the resolver saying the name does not exist (``EAI_NONAME``).

    httpx raises ``ConnectError`` from httpcore's, itself from the ``socket.gaierror``. A temporary
    resolver failure (``EAI_AGAIN``) is not this: it is retried.
    """
    seen: BaseException | None = error
    for _ in range(8):  # the chain is short; never loop on a cycle
        if seen is None:
            return False
        if isinstance(seen, socket.gaierror):
            return seen.errno == socket.EAI_NONAME
        seen = seen.__cause__ or seen.__context__
    return False
