"""Per-source status for the System page: ``source_statuses(session)``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.news.models import NewsSourceState, SourceHealth


@dataclass(frozen=True)
class SourceStatus:
    """The health of one news source (or of the retention job) as the System page shows it."""

    source: str
    platform: str
    status: SourceHealth
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    next_due_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    items_last_fetch: int
    items_stored_total: int
    calls_today: int | None

    @property
    def ok(self) -> bool:
        """Return True unless the source is failing, rate limited or refused its credentials."""
        return self.status in (SourceHealth.OK, SourceHealth.DISABLED)


def source_statuses(session: Session, *, today: str | None = None) -> list[SourceStatus]:
    """Return the status of every news source that has run, failing ones first, then by name."""
    rows = session.scalars(select(NewsSourceState)).all()
    result = [
        SourceStatus(
            source=row.source,
            platform=row.platform,
            status=row.status,
            last_success_at=row.last_success_at,
            last_attempt_at=row.last_attempt_at,
            next_due_at=row.next_due_at,
            last_error=row.last_error,
            last_error_at=row.last_error_at,
            consecutive_failures=row.consecutive_failures,
            items_last_fetch=row.items_last_fetch,
            items_stored_total=row.items_stored_total,
            calls_today=row.budget_used if today is None or row.budget_day == today else 0,
        )
        for row in rows
    ]
    return sorted(result, key=lambda status: (status.ok, status.source))
