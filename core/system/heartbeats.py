"""Worker heartbeats: written by every worker, read by the System page."""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.system.models import WorkerHeartbeat, WorkerStatus
from core.timeutil import utc_now


def record_heartbeat(
    session: Session,
    worker: str,
    status: WorkerStatus,
    *,
    started_at: datetime | None = None,
    pass_seconds: float | None = None,
    completed_pass: bool = False,
    error: str | None = None,
    info: dict[str, Any] | None = None,
) -> None:
    """Upsert the heartbeat row of ``worker``."""
    now = utc_now()
    row = session.get(WorkerHeartbeat, worker)
    if row is None:
        row = WorkerHeartbeat(worker=worker, status=status, passes=0, last_beat_at=now)
        session.add(row)
    row.status = status
    row.pid = os.getpid()
    row.host = socket.gethostname()
    row.last_beat_at = now
    if started_at is not None:
        row.started_at = started_at
    if pass_seconds is not None:
        row.last_pass_seconds = pass_seconds
    if completed_pass:
        row.passes = (row.passes or 0) + 1
    if error is not None:
        row.last_error = error[:4000]
        row.last_error_at = now
    if info is not None:
        row.info = info


def list_heartbeats(session: Session) -> list[WorkerHeartbeat]:
    """Return all heartbeat rows, by worker name."""
    return list(session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.worker)))
