"""Timeframes: their length, the grid candles open on, and parsing of user input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.errors import PermanentError

TIMEFRAME_SECONDS = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "4h": 14400, "1d": 86400, "1w": 604800}

# Weekly candles open on Monday 00:00 UTC (the ccxt and Yahoo convention); 1970-01-05 was a Monday.
WEEK_ANCHOR = datetime(1970, 1, 5, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class UnknownTimeframeError(PermanentError, ValueError):
    """A timeframe Konsens does not know (e.g. ``7m``)."""


def timeframe_seconds(timeframe: str) -> int:
    """Return the length of ``timeframe`` in seconds, or raise ``UnknownTimeframeError``."""
    try:
        return TIMEFRAME_SECONDS[timeframe]
    except KeyError:
        known = ", ".join(TIMEFRAME_SECONDS)
        raise UnknownTimeframeError(f"unknown timeframe {timeframe!r}; known timeframes: {known}") from None


def timeframe_delta(timeframe: str) -> timedelta:
    """Return the length of ``timeframe`` as a ``timedelta``."""
    return timedelta(seconds=timeframe_seconds(timeframe))


def grid_anchor(timeframe: str) -> datetime:
    """Return the instant the grid of ``timeframe`` is counted from (Monday for weeks, else the epoch)."""
    return WEEK_ANCHOR if timeframe == "1w" else EPOCH


def floor_to_grid(moment: datetime, timeframe: str) -> datetime:
    """Return the open time of the candle of ``timeframe`` that contains ``moment``."""
    step = timeframe_seconds(timeframe)
    anchor = grid_anchor(timeframe)
    offset = int((moment.astimezone(UTC) - anchor).total_seconds()) // step * step
    return anchor + timedelta(seconds=offset)


def is_on_grid(moment: datetime, timeframe: str) -> bool:
    """Return True if ``moment`` is a valid open time for a candle of ``timeframe``."""
    return floor_to_grid(moment, timeframe) == moment.astimezone(UTC)
