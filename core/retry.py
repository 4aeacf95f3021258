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

Importing this module is cheap (the lean CLI start and ``core.db.engine`` import it): tenacity is
imported only when a call has failed transiently and is to be retried, the Prometheus metrics only
when a retry or a rate-limit wait is counted, ``email.utils`` only to read an HTTP date.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from core.errors import is_transient as is_transient_error
from core.logging_setup import redact
from core.system.shutdown import interruptible_sleep
from core.timeutil import ensure_utc, utc_now

if TYPE_CHECKING:
    from tenacity import RetryCallState

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Reset headers seen at the providers: seconds to wait, or an epoch timestamp.
RESET_HEADERS = ("retry-after", "x-ratelimit-reset", "x-rate-limit-reset", "ratelimit-reset")
_EPOCH_THRESHOLD = 1_000_000_000
# 2.0 ** 1000 is still a float (2.0 ** 1024 overflows); far past any cap a caller sets.
_MAX_BACKOFF_EXPONENT = 1000


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
            from core.observability.metrics import record_rate_limit_wait

            record_rate_limit_wait(self.service, wait)
            self._sleep(wait)
        return wait


def backoff_seconds(
    failure_number: int, *, base_seconds: float, max_seconds: float, retry_after: float | None = None
) -> float:
    """Return the wait before the retry after failure ``failure_number`` (1 for the first failure).

    A number below 1 counts as the first failure; a very large one (a source failing for weeks) waits
    ``max_seconds`` (the doubling is computed in floats with a bounded exponent, never overflowing).
    """
    if retry_after is not None:
        return max(0.0, min(retry_after, max_seconds))
    exponent = min(max(failure_number, 1) - 1, _MAX_BACKOFF_EXPONENT)
    return float(min(base_seconds * 2.0**exponent, max_seconds))


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
    log_level: int = logging.WARNING,
) -> T:
    """Run ``call``; retry an error of the transient branch, up to ``attempts`` calls in all.

    ``is_transient`` defaults to the exception tree's verdict (``core.errors.is_transient``); a
    client passes a narrower predicate only to retry fewer errors than the branch allows.

    The wait before each retry is :func:`backoff_seconds`, honouring ``retry_after(error)`` when it
    names one. Any other error, and the last transient one, reaches the caller unchanged. Each
    retry counts in ``konsens_service_retries_total`` under ``service`` (default: the first word
    of ``description``) and is logged at ``log_level``.

    The first call runs as it is; tenacity (and the metrics) are imported only once it has failed
    transiently and a retry is due, so a call that succeeds at once costs no import.
    """
    try:
        return call()
    except BaseException as error:
        if attempts <= 1 or not is_transient(error):
            raise
        first_error = error
    return _retry_after_first_failure(
        call,
        first_error,
        attempts=attempts,
        is_transient=is_transient,
        base_seconds=base_seconds,
        max_seconds=max_seconds,
        retry_after=retry_after,
        sleep=sleep,
        description=description,
        service=service,
        log_level=log_level,
    )


def _retry_after_first_failure(
    call: Callable[[], T],
    first_error: BaseException,
    *,
    attempts: int,
    is_transient: Callable[[BaseException], bool],
    base_seconds: float,
    max_seconds: float,
    retry_after: Callable[[BaseException], float | None] | None,
    sleep: Callable[[float], None],
    description: str,
    service: str | None,
    log_level: int,
) -> T:
    """Calls 2 .. ``attempts`` of :func:`call_with_retries`, by tenacity (call 1 failed with ``first_error``)."""
    from tenacity import Retrying, retry_if_exception, stop_after_attempt

    from core.observability.metrics import record_retry, service_label

    service_name = service or service_label(description)

    def wait_before(failure_number: int, error: BaseException | None) -> float:
        asked = retry_after(error) if retry_after is not None and error is not None else None
        return backoff_seconds(failure_number, base_seconds=base_seconds, max_seconds=max_seconds, retry_after=asked)

    def log_retry(failure_number: int, error: BaseException | None, seconds: float) -> None:
        record_retry(service_name)
        logger.log(
            log_level,
            "%s failed (%s), retry %d/%d in %.1f s",
            description,
            redact(str(error))[:200],
            failure_number,
            attempts - 1,
            seconds,
        )

    def outcome_error(state: RetryCallState) -> BaseException | None:
        return state.outcome.exception() if state.outcome is not None else None

    # tenacity counts its own attempts from 1: its attempt n is call n + 1 of ours.
    def wait(state: RetryCallState) -> float:
        return wait_before(state.attempt_number + 1, outcome_error(state))

    def before_sleep(state: RetryCallState) -> None:
        seconds = state.next_action.sleep if state.next_action is not None else 0.0
        log_retry(state.attempt_number + 1, outcome_error(state), seconds)

    first_wait = wait_before(1, first_error)
    log_retry(1, first_error, first_wait)
    sleep(first_wait)
    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(attempts - 1),
        wait=wait,
        sleep=sleep,
        before_sleep=before_sleep,
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
            from email.utils import parsedate_to_datetime

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
