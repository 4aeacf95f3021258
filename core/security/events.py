"""Security events for the System page: failed logins and every security change, from the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit import AuditAction, AuditEntry

SECURITY_ACTIONS: tuple[AuditAction, ...] = (
    AuditAction.LOGIN_FAILED,
    AuditAction.LOGIN_LOCKED,
    AuditAction.LOGOUT,
    AuditAction.PASSWORD_CHANGED,
    AuditAction.USER_ADDED,
    AuditAction.USER_REMOVED,
    AuditAction.TOTP_ENABLED,
    AuditAction.TOTP_DISABLED,
    AuditAction.KEY_CHANGED,
    AuditAction.LIVE_MODE_CHANGED,
    AuditAction.DEMO_REMOVED,
)


@dataclass(frozen=True)
class SecurityEvent:
    """One audited security event (never a secret: key changes keep only the last characters)."""

    ts: datetime
    action: AuditAction
    actor: str
    subject: str
    details: dict[str, Any]


@dataclass(frozen=True)
class SecurityOverview:
    """The newest security events and how many failed logins the log holds since ``since``."""

    events: list[SecurityEvent]
    failed_logins_since: int


def security_events(session: Session, *, since: datetime, limit: int = 100) -> SecurityOverview:
    """Return the newest ``limit`` security events and the failed logins since ``since``."""
    rows = session.scalars(
        select(AuditEntry).where(AuditEntry.action.in_(SECURITY_ACTIONS)).order_by(AuditEntry.id.desc()).limit(limit)
    )
    events = [SecurityEvent(row.ts, row.action, row.actor, row.subject, dict(row.details or {})) for row in rows]
    failed = session.scalar(
        select(func.count(AuditEntry.id)).where(
            AuditEntry.action.in_([AuditAction.LOGIN_FAILED, AuditAction.LOGIN_LOCKED]), AuditEntry.ts >= since
        )
    )
    return SecurityOverview(events=events, failed_logins_since=int(failed or 0))
