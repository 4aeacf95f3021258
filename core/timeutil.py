"""UTC time helpers: every timestamp in Konsens is timezone-aware UTC."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

VIENNA = ZoneInfo("Europe/Vienna")

# A replacement clock for historical replay (``simulated_clock``); per context, so other threads
# (a dashboard, a worker) keep the real time.
_clock: ContextVar[Callable[[], datetime] | None] = ContextVar("konsens_clock", default=None)


def utc_now() -> datetime:
    """Return the current time, timezone-aware UTC (the simulated time inside ``simulated_clock``)."""
    clock = _clock.get()
    return datetime.now(UTC) if clock is None else clock()


@contextmanager
def simulated_clock(clock: Callable[[], datetime]) -> Iterator[None]:
    """Make ``utc_now()`` return ``clock()`` in this context (historical replay at an accelerated clock)."""
    token = _clock.set(clock)
    try:
        yield
    finally:
        _clock.reset(token)


def ensure_utc(value: datetime) -> datetime:
    """Return ``value`` as aware UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_utc(value: str | date | datetime) -> datetime:
    """Parse an ISO date or datetime (``2024-01-05``, ``2024-01-05T10:00Z``) into aware UTC."""
    if isinstance(value, datetime):
        return ensure_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return ensure_utc(parsed)


def to_vienna(value: datetime) -> datetime:
    """Convert an aware timestamp to Europe/Vienna for display."""
    return ensure_utc(value).astimezone(VIENNA)


def ms_to_utc(milliseconds: int | float) -> datetime:
    """Convert epoch milliseconds to aware UTC."""
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


def utc_to_ms(value: datetime) -> int:
    """Convert an aware datetime to epoch milliseconds."""
    return int(ensure_utc(value).timestamp() * 1000)
