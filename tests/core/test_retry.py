"""The shared rate limit and retry policy used by every client of an outside service."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from core.retry import RateLimiter, backoff_seconds, call_with_retries, retry_after_seconds, retry_at_from_headers


class Flaky:
    """Fails with the given errors in turn, then answers."""

    def __init__(self, *errors: Exception):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "answer"


class Transient(Exception):
    def __init__(self, message: str = "HTTP 503", retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def test_the_rate_limiter_spaces_calls_evenly_and_per_minute_means_what_it_says() -> None:
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = RateLimiter.per_minute(30, clock=lambda: now[0], sleep=sleep)  # one call every 2 s
    assert limiter.min_interval_seconds == 2.0
    assert [limiter.acquire() for _ in range(3)] == [0.0, 2.0, 2.0]
    now[0] += 10  # idle: the next call is free again
    assert limiter.acquire() == 0.0
    assert waits == [2.0, 2.0]
    assert RateLimiter.per_minute(0).min_interval_seconds == 0.0


def test_backoff_doubles_up_to_the_cap_and_a_requested_wait_is_capped_too() -> None:
    assert [backoff_seconds(n, base_seconds=1.0, max_seconds=5.0) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff_seconds(1, base_seconds=1.0, max_seconds=30.0, retry_after=12.0) == 12.0
    assert backoff_seconds(1, base_seconds=1.0, max_seconds=30.0, retry_after=3600.0) == 30.0
    assert backoff_seconds(1, base_seconds=1.0, max_seconds=30.0, retry_after=-5.0) == 0.0
    assert backoff_seconds(0, base_seconds=1.0, max_seconds=5.0) == 1.0  # below 1: the first failure
    assert backoff_seconds(10**6, base_seconds=60.0, max_seconds=3600.0) == 3600.0  # no overflow


def test_importing_core_retry_pulls_in_neither_tenacity_nor_prometheus() -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    probe = (
        "import json, sys\n"
        "from core.retry import backoff_seconds, call_with_retries\n"
        "assert call_with_retries(lambda: 7, attempts=3, base_seconds=1) == 7\n"
        "print(json.dumps(sorted({'tenacity', 'prometheus_client', 'email.utils'} & set(sys.modules))))\n"
    )
    root = Path(__file__).resolve().parents[2]
    output = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True).stdout
    assert json.loads(output.strip().splitlines()[-1]) == []


def test_transient_errors_are_retried_with_backoff_and_logged_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    waits: list[float] = []
    call = Flaky(Transient("HTTP 503 for https://x.test/?apiKey=sk-secret123456789"), Transient(retry_after=7.0))
    with caplog.at_level(logging.WARNING, logger="core.retry"):
        answer = call_with_retries(
            call,
            is_transient=lambda error: isinstance(error, Transient),
            attempts=4,
            base_seconds=0.5,
            retry_after=lambda error: getattr(error, "retry_after", None),
            sleep=waits.append,
            description="newsapi",
        )
    assert answer == "answer"
    assert call.calls == 3
    assert waits == [0.5, 7.0]
    assert "newsapi failed" in caplog.text
    assert "retry 1/3 in 0.5 s" in caplog.text
    assert "sk-secret123456789" not in caplog.text


def test_a_permanent_error_is_not_retried_and_the_last_transient_one_reaches_the_caller() -> None:
    waits: list[float] = []
    permanent = Flaky(ValueError("HTTP 401"))
    with pytest.raises(ValueError, match="401"):
        call_with_retries(
            permanent, is_transient=lambda e: isinstance(e, Transient), attempts=3, base_seconds=1, sleep=waits.append
        )
    assert permanent.calls == 1
    exhausted = Flaky(Transient("first"), Transient("second"), Transient("third"))
    with pytest.raises(Transient, match="third"):
        call_with_retries(
            exhausted, is_transient=lambda e: isinstance(e, Transient), attempts=3, base_seconds=1, sleep=waits.append
        )
    assert exhausted.calls == 3
    assert waits == [1, 2]


def test_reset_headers_in_seconds_http_dates_and_epoch_stamps() -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert retry_after_seconds({"Retry-After": "120"}, now) == 120.0
    assert retry_after_seconds({"retry-after": "Tue, 24 Nov 2026 12:00:30 GMT"}, now) == 30.0
    assert retry_after_seconds({"x-rate-limit-reset": str(int(now.timestamp()) + 45)}, now) == 45.0
    assert retry_after_seconds({"Retry-After": "soon"}, now) is None
    assert retry_after_seconds(None, now) is None
    assert retry_at_from_headers({"Retry-After": "Tue, 24 Nov 2026 11:00:00 GMT"}, now) == datetime(
        2026, 11, 24, 11, 0, tzinfo=UTC
    )
    assert retry_after_seconds({"Retry-After": "Tue, 24 Nov 2026 11:00:00 GMT"}, now) == 0.0
