"""Run-time settings kept in the database (edited on the Settings page), JSON values by key."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.timeutil import utc_now

# The ORM is imported by the functions: the settings modules import this one, and every command's
# start (``check_startup`` imports every settings module) should not pay for SQLAlchemy's ORM.
if TYPE_CHECKING:
    from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)


def get_setting(session: Session, key: str, default: Any = None) -> Any:
    """Return the stored value of ``key`` or ``default``."""
    from core.system.models import SettingValue

    row = session.get(SettingValue, key)
    return default if row is None else row.value


def get_utc_time_setting(session: Session, key: str, what: str) -> datetime | None:
    """Return the time stored in the setting ``key`` (ISO, with a zone) in UTC; None if absent or unreadable.

    ``what`` names the setting in the warning logged for an unreadable value or one without a time zone.
    """
    stored = get_setting(session, key)
    if not isinstance(stored, str):
        return None
    try:
        when = datetime.fromisoformat(stored)
    except ValueError:
        logger.warning("Ignoring an unreadable %s %r", what, stored)
        return None
    if when.tzinfo is None:
        logger.warning("Ignoring a %s without a time zone: %r", what, stored)
        return None
    return when.astimezone(UTC)


def set_setting(session: Session, key: str, value: Any) -> None:
    """Store ``value`` (JSON-serialisable) under ``key``."""
    from core.system.models import SettingValue

    row = session.get(SettingValue, key)
    if row is None:
        session.add(SettingValue(key=key, value=value, updated_at=utc_now()))
    else:
        row.value = value
        row.updated_at = utc_now()


def settings_with_prefix(session: Session, prefix: str) -> dict[str, Any]:
    """Return every stored setting whose key starts with ``prefix``."""
    from sqlalchemy import select

    from core.system.models import SettingValue

    rows = session.scalars(select(SettingValue).where(SettingValue.key.startswith(prefix)))
    return {row.key: row.value for row in rows}
