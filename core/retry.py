"""What every client of an outside service shares: a client-side rate limit and retries with backoff.

Which errors are worth a retry is decided by the one exception tree (``core.errors``): an error
of the transient branch is retried, any other (permanent: needs a human; uncertain: look the
outcome up first) reaches the caller at once. The clients raise their transient errors (a
timeout, a connection error, HTTP 429 or 5xx) as ``TransientError`` subclasses and decide what the
caller sees when retries run out; the waiting itself is done here, once:

- :class:`RateLimiter` spaces calls evenly (thread-safe), waiting through ``interruptible_sleep``
  so that a worker asked to stop is not held up by it.
- :func:`backoff_seconds` is the wait before retry ``n``: ``base · 2^(n-1)`` capped at a maximum,
  or what the service asked for (``Retry-After``), also capped.
- :func:`retry_at_from_headers` reads when a rate-limited request may be repeated (``Retry-After``
  as seconds or an HTTP date, the ``*-reset`` headers of Reddit, X and GitHub-style APIs).
- :func:`call_with_retries` runs a call and retries the errors of the transient branch
  (tenacity underneath), logging each retry with secrets redacted; the last error is re-raised.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from core.errors import is_transient as is_transient_error
from core.logging_setup import redact
from core.observability.metrics import record_rate_limit_wait, record_retry, service_label
from core.system.shutdown import interruptible_sleep
from core.timeutil import ensure_utc, utc_now

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Reset headers seen at the providers: seconds to wait, or an epoch timestamp.
RESET_HEADERS = ("retry-after", "x-ratelimit-reset", "x-rate-limit-reset", "ratelimit-reset")
_EPOCH_THRESHOLD = 1_000_000_000


class RateLimiter:
    """Space calls at least ``min_interval_seconds`` apart (thread-safe); 0 means no limit."""

    def __init__(
        self,
        min_interval_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = interruptible_sleep,
        service: str = "other",
    ):
        self.min_interval_seconds = max(0.0, min_interval_seconds)
        self.service = service
        self._clock = clock
        self._sleep = sleep
        self._next_allowed = 0.0
        self._lock = threading.Lock()

    @classmethod
    def per_minute(
        cls,
        requests_per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = interruptible_sleep,
        service: str = "other",
    ) -> RateLimiter:
        """Return a limiter allowing ``requests_per_minute`` evenly spaced calls (0 or less: no limit)."""
        interval = 60.0 / requests_per_minute if requests_per_minute > 0 else 0.0
        return cls(interval, clock=clock, sleep=sleep, service=service)

    def acquire(self) -> float:
        """Wait until the next call is allowed; return the seconds waited."""
        with self._lock:
            now = self._clock()
            wait = max(0.0, self._next_allowed - now)
            self._next_allowed = max(now, self._next_allowed) + self.min_interval_seconds
        if wait > 0:
            record_rate_limit_wait(self.service, wait)
            self._sleep(wait)
        return wait


def backoff_seconds(
    failure_number: int, *, base_seconds: float, max_seconds: float, retry_after: float | None = None
) -> float:
    """Return the wait before the retry after failure ``failure_number`` (1 for the first failure)."""
    if retry_after is not None:
        return max(0.0, min(retry_after, max_seconds))
    return min(base_seconds * 2 ** (failure_number - 1), max_seconds)


def call_with_retries(
    call: Callable[[], T],
    *,
    attempts: int,
    is_transient: Callable[[BaseException], bool] = is_transient_error,
    base_seconds: float,
    max_seconds: float = 60.0,
    retry_after: Callable[[BaseException], float | None] | None = None,
    sleep: Callable[[float], None] = interruptible_sleep,
    description: str = "request",
    service: str | None = None,
) -> T:
    """Run ``call``; retry an error of the transient branch, up to ``attempts`` calls in all.

    ``is_transient`` defaults to the exception tree's verdict (``core.errors.is_transient``); a
    client passes a narrower predicate only to retry fewer errors than the branch allows.

    The wait before each retry is :func:`backoff_seconds`, honouring ``retry_after(error)`` when it
    names one. Any other error, and the last transient one, reaches the caller unchanged. Each
    retry counts in ``konsens_service_retries_total`` under ``service`` (default: the first word
    of ``description``).
    """
    service_name = service or service_label(description)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        asked = retry_after(error) if retry_after is not None and error is not None else None
        return backoff_seconds(
            state.attempt_number, base_seconds=base_seconds, max_seconds=max_seconds, retry_after=asked
        )

    def log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        seconds = state.next_action.sleep if state.next_action is not None else 0.0
        record_retry(service_name)
        logger.warning(
            "%s failed (%s), retry %d/%d in %.1f s",
            description,
            redact(str(error))[:200],
            state.attempt_number,
            attempts - 1,
            seconds,
        )

    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(max(1, attempts)),
        wait=wait,
        sleep=sleep,
        before_sleep=log_retry,
        reraise=True,
    )
    return retrying(call)


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


def retry_after_seconds(headers: Mapping[str, str] | None, now: datetime | None = None) -> float | None:
    """Return the seconds the answer's reset headers ask to wait, or None if they name no time."""
    if not headers:
        return None
    now = now or utc_now()
    retry_at = retry_at_from_headers(headers, now)
    return None if retry_at is None else max(0.0, (retry_at - now).total_seconds())
