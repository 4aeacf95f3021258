from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import httpcore
import httpx
import pytest
from pytest_httpserver import HTTPServer

from core.news.errors import SourceAuthError, SourceBadResponse, SourceRateLimited, SourceUnavailable
from core.news.http import HttpClient
from core.retry import RateLimiter, retry_at_from_headers

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def client(**kwargs: object) -> HttpClient:
    waits: list[float] = []
    http = HttpClient("test", timeout_seconds=2, attempts=3, backoff_seconds=0.5, sleep=waits.append, **kwargs)  # type: ignore[arg-type]
    http.waits = waits  # type: ignore[attr-defined]
    return http


def test_retry_at_from_headers_understands_seconds_epochs_and_dates() -> None:
    assert retry_at_from_headers({"Retry-After": "120"}, NOW) == NOW + timedelta(seconds=120)
    assert retry_at_from_headers({"x-rate-limit-reset": str(int(NOW.timestamp()) + 900)}, NOW) == NOW + timedelta(
        seconds=900
    )
    assert retry_at_from_headers({"x-ratelimit-reset": "42.0"}, NOW) == NOW + timedelta(seconds=42)
    assert retry_at_from_headers({"Retry-After": "Tue, 10 Mar 2026 12:05:00 GMT"}, NOW) == NOW + timedelta(minutes=5)
    assert retry_at_from_headers({}, NOW) is None


def test_server_errors_are_retried_with_exponential_backoff_then_reported(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x").respond_with_data("oops", status=500)
    http = client()
    with pytest.raises(SourceUnavailable, match="HTTP 500 after 3 attempts"):
        http.get(httpserver.url_for("/x"))
    assert http.waits == [0.5, 1.0]  # type: ignore[attr-defined]
    assert len(httpserver.log) == 3


def test_server_error_then_success(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/x").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/x").respond_with_json({"ok": True})
    assert client().get_json(httpserver.url_for("/x")) == {"ok": True}


def test_unauthorized_is_not_retried_and_keys_are_redacted(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x").respond_with_json({"message": "bad key"}, status=401)
    with pytest.raises(SourceAuthError) as caught:
        client().get(httpserver.url_for("/x"), params={"apikey": "SECRET123"})
    assert "SECRET123" not in str(caught.value)
    assert "apikey=***" in str(caught.value)
    assert len(httpserver.log) == 1


def test_429_carries_the_reset_time(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x").respond_with_data("slow down", status=429, headers={"Retry-After": "30"})
    before = datetime.now(UTC)
    with pytest.raises(SourceRateLimited) as caught:
        client().get(httpserver.url_for("/x"))
    assert caught.value.retry_at is not None
    assert before + timedelta(seconds=29) <= caught.value.retry_at <= datetime.now(UTC) + timedelta(seconds=31)


def test_garbage_and_empty_json(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/garbage").respond_with_data("<html>not json", content_type="application/json")
    httpserver.expect_request("/empty").respond_with_data("")
    with pytest.raises(SourceBadResponse, match="not JSON"):
        client().get_json(httpserver.url_for("/garbage"))
    with pytest.raises(SourceBadResponse, match="empty"):
        client().get_json(httpserver.url_for("/empty"))


def test_connection_refused_is_unavailable() -> None:
    with pytest.raises(SourceUnavailable, match="connection failed"):
        client().get("http://127.0.0.1:9/nothing")


def test_rate_limiter_spaces_requests() -> None:
    clock = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    limiter = RateLimiter(2.0, clock=lambda: clock[0], sleep=sleep)
    assert limiter.acquire() == 0.0
    assert limiter.acquire() == 2.0
    clock[0] += 5
    assert limiter.acquire() == 0.0
    assert slept == [2.0]


def test_a_failing_source_backs_off_by_core_retrys_formula_from_a_minute_to_the_cap() -> None:
    from core.news.collector import failure_backoff_seconds

    assert [failure_backoff_seconds(n, 900, 3600) for n in (0, 1, 2, 3, 6, 7, 50, 10**6)] == [
        60.0,
        60.0,
        120.0,
        240.0,
        1920.0,
        3600.0,
        3600.0,
        3600.0,
    ]
    assert failure_backoff_seconds(10, 86400, 3600) == 30720.0  # a daily source: capped by its own interval
    assert failure_backoff_seconds(20, 86400, 3600) == 86400.0


def _unresolvable(errno: int) -> httpx.MockTransport:
    """A transport failing as httpx does when the resolver fails (seen here: ``http://konsens-test.invalid``
    raises ``httpx.ConnectError`` from httpcore's ``ConnectError`` from ``socket.gaierror(-2, ...)``)."""

    def handler(request: httpx.Request) -> httpx.Response:
        try:
            try:
                raise socket.gaierror(errno, "Name or service not known")
            except socket.gaierror as resolver_error:
                raise httpcore.ConnectError(str(resolver_error)) from resolver_error
        except httpcore.ConnectError as core_error:
            raise httpx.ConnectError(str(core_error), request=request) from core_error

    return httpx.MockTransport(handler)


def test_a_host_the_resolver_does_not_know_is_reported_at_once_not_retried() -> None:
    http = client(transport=_unresolvable(socket.EAI_NONAME))
    with pytest.raises(
        SourceUnavailable, match=r"cannot resolve the host of http://feeds\.example\.invalid/rss"
    ) as caught:
        http.get("http://feeds.example.invalid/rss?apikey=SECRET123")
    assert http.waits == []  # type: ignore[attr-defined]
    assert "SECRET123" not in str(caught.value)


def test_a_temporary_resolver_failure_is_retried() -> None:
    http = client(transport=_unresolvable(socket.EAI_AGAIN))
    with pytest.raises(SourceUnavailable, match="after 3 attempts"):
        http.get("http://feeds.example.invalid/rss")
    assert http.waits == [0.5, 1.0]  # type: ignore[attr-defined]
