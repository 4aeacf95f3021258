"""The light part of the AI history run: its error and its date parsing (no ORM, no AI context).

``core.ai.job_kinds`` checks a job's parameters with these when the job is submitted, in a process
that must not import the AI context; :mod:`core.ai.history` re-exports both.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from core.errors import PermanentError


class HistoryRunError(PermanentError, ValueError):
    """A history run that cannot be planned (bad range, no data, no analyst)."""


def parse_day(text: str) -> datetime:
    """Parse ``YYYY-MM-DD`` (midnight UTC) or an ISO time with its UTC offset into an aware UTC datetime."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise HistoryRunError(f"not a date or ISO time: {text!r}") from error
    if parsed.tzinfo is None:
        if len(text.strip()) != 10:
            raise HistoryRunError(f"{text!r} has no UTC offset: add one (e.g. +00:00) or give a date")
        parsed = datetime.combine(parsed.date(), time(0), UTC)
    return parsed.astimezone(UTC)
