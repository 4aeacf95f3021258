"""The ``jobs`` table: long work queued by the dashboard or the CLI and run by the jobs worker."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, UTCDateTime
from core.timeutil import utc_now


class JobStatus(StrEnum):
    """The life of a job. Allowed moves: ``core.jobs.service.TRANSITIONS``."""

    QUEUED = "queued"  # waiting for a worker (new, or put back to resume from its checkpoint)
    RUNNING = "running"  # claimed by a worker (``worker``, ``attempts``), heartbeat fresh while it lives
    SUCCEEDED = "succeeded"  # ``result`` holds what the kind returned
    FAILED = "failed"  # ``error`` says why
    CANCELLED = "cancelled"  # the user cancelled it (before or while it ran)
    INTERRUPTED = "interrupted"  # its worker stopped or died and the kind cannot resume


class Job(Base):
    """One job: what to run (kind + parameters), how far it got, and what came out."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_id", "status", "id"),
        Index("ix_jobs_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    label: Mapped[str] = mapped_column(String(300), default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, native_enum=False, length=12, values_callable=lambda e: [m.value for m in e]),
        default=JobStatus.QUEUED,
    )
    resumable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    progress_message: Mapped[str] = mapped_column(String(500), default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    worker: Mapped[str | None] = mapped_column(String(120))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
