"""Tables for running the system: heartbeats, quarantine, settings, secrets, users."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, Index, Integer, LargeBinary, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, UTCDateTime
from core.timeutil import utc_now


class WorkerStatus(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    IDLE = "idle"
    STOPPED = "stopped"
    FAILED = "failed"


class WorkerHeartbeat(Base):
    """The last sign of life of one worker (by name)."""

    __tablename__ = "worker_heartbeats"

    worker: Mapped[str] = mapped_column(String(60), primary_key=True)
    status: Mapped[WorkerStatus] = mapped_column(
        Enum(WorkerStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    pid: Mapped[int | None] = mapped_column(Integer)
    host: Mapped[str | None] = mapped_column(String(120))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_beat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    passes: Mapped[int] = mapped_column(Integer, default=0)
    last_pass_seconds: Mapped[float | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    info: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class QuarantinedRecord(Base):
    """Data refused by validation, kept with the reason instead of being stored as good data."""

    __tablename__ = "quarantine"
    __table_args__ = (Index("ix_quarantine_kind_created", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    kind: Mapped[str] = mapped_column(String(40), doc="What was refused: candle, news_item, ...")
    source: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(Text)
    record_key: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class SettingValue(Base):
    """A setting changed at run time (Settings page or CLI); JSON value."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)


class StoredSecret(Base):
    """An API key or other secret, Fernet-encrypted; never shown again in full."""

    __tablename__ = "secrets"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    hint: Mapped[str] = mapped_column(String(16), doc="Last characters, for display.")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)


class UserAccount(Base):
    """A dashboard login: bcrypt password hash, never the password."""

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(60), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(100))
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    session_version: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", doc="Bumped on logout and password change: older cookies die."
    )
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary, doc="Fernet-encrypted TOTP secret, once enrolled.")
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, doc="Last accepted TOTP time step (no replay).")
    totp_for_orders: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), doc="Ask a fresh code for every live order."
    )
