"""News, social posts, sentiment and the economic calendar.

Public entry points for other areas: :func:`core.news.status.source_statuses` (System page),
:func:`core.news.calendar.events_between` (chart markers), the tables in :mod:`core.news.models`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.news.status import SourceStatus


def source_statuses(session: Session) -> list[SourceStatus]:
    """Return the status of every news source (see :func:`core.news.status.source_statuses`)."""
    from core.news.status import source_statuses as _source_statuses

    return _source_statuses(session)


def __getattr__(name: str) -> Any:
    raise AttributeError(name)
