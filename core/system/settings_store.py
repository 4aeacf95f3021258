"""Run-time settings kept in the database (edited on the Settings page), JSON values by key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.system.models import SettingValue
from core.timeutil import utc_now


def get_setting(session: Session, key: str, default: Any = None) -> Any:
    """Return the stored value of ``key`` or ``default``."""
    row = session.get(SettingValue, key)
    return default if row is None else row.value


def set_setting(session: Session, key: str, value: Any) -> None:
    """Store ``value`` (JSON-serialisable) under ``key``."""
    row = session.get(SettingValue, key)
    if row is None:
        session.add(SettingValue(key=key, value=value, updated_at=utc_now()))
    else:
        row.value = value
        row.updated_at = utc_now()


def settings_with_prefix(session: Session, prefix: str) -> dict[str, Any]:
    """Return every stored setting whose key starts with ``prefix``."""
    rows = session.scalars(select(SettingValue).where(SettingValue.key.startswith(prefix)))
    return {row.key: row.value for row in rows}
