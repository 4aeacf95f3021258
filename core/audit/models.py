"""The ``audit_log`` table: one row per audited action, each row chained to the previous by hash."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, UTCDateTime


class AuditAction(StrEnum):
    """What was done. Stored as its string value; new members may be added, never renamed."""

    ORDER_CREATED = "order_created"
    ORDER_SUBMITTED = "order_submitted"
    ORDER_REJECTED = "order_rejected"
    ORDER_DENIED = "order_denied"
    ORDER_CANCEL_REQUESTED = "order_cancel_requested"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_EXPIRED = "order_expired"
    ORDER_RECONCILED = "order_reconciled"
    FILL = "fill"
    EXIT_TRIGGERED = "exit_triggered"
    EXIT_PLAN_SET = "exit_plan_set"
    LIVE_MODE_CHANGED = "live_mode_changed"
    KEY_CHANGED = "key_changed"
    SETTING_CHANGED = "setting_changed"
    LIMIT_CHANGED = "limit_changed"
    CIRCUIT_BREAKER = "circuit_breaker"
    IMPORT = "import"
    LOGIN_FAILED = "login_failed"
    LOGIN_LOCKED = "login_locked"
    LOGOUT = "logout"
    PASSWORD_CHANGED = "password_changed"
    USER_ADDED = "user_added"
    USER_REMOVED = "user_removed"
    TOTP_ENABLED = "totp_enabled"
    TOTP_DISABLED = "totp_disabled"
    DEMO_REMOVED = "demo_removed"


class AuditEntry(Base):
    """One audited action. Rows are only ever inserted; ``row_hash`` covers the row and ``prev_hash``."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(80), doc="Who: a username, 'executor', 'cli', 'system'.")
    action: Mapped[AuditAction] = mapped_column(
        Enum(AuditAction, native_enum=False, length=40, values_callable=lambda e: [m.value for m in e])
    )
    subject: Mapped[str] = mapped_column(String(200), doc="What it concerns, e.g. 'order:<client order id>'.")
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64), unique=True)
