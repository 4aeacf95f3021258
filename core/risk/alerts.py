"""Alert rows: raised once per condition (``dedupe_key``), listed on the dashboard, acknowledged there."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.db.upsert import bulk_upsert
from core.risk.models import AlertKind, AlertSeverity, DeliveryStatus, RiskAlert
from core.timeutil import utc_now

logger = logging.getLogger(__name__)


def raise_alert(
    session: Session,
    *,
    kind: AlertKind,
    severity: AlertSeverity,
    subject: str,
    message: str,
    dedupe_key: str,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> RiskAlert | None:
    """Store an alert unless one with ``dedupe_key`` exists; return the new alert or None."""
    row = {
        "created_at": now or utc_now(),
        "kind": kind,
        "severity": severity,
        "subject": subject[:200],
        "message": message,
        "dedupe_key": dedupe_key[:200],
        "details": details,
        "delivery_status": DeliveryStatus.PENDING,
        "delivery_attempts": 0,
    }
    existing = session.scalar(select(RiskAlert.id).where(RiskAlert.dedupe_key == row["dedupe_key"]))
    if existing is not None:
        return None
    bulk_upsert(session, RiskAlert.__table__, [row], conflict_columns=["dedupe_key"])  # type: ignore[arg-type]
    alert = session.scalar(select(RiskAlert).where(RiskAlert.dedupe_key == row["dedupe_key"]))
    if alert is not None:
        log = logger.warning if severity is not AlertSeverity.INFO else logger.info
        log("Alert [%s/%s] %s: %s", kind.value, severity.value, subject, message)
    return alert


def list_alerts(session: Session, *, include_acknowledged: bool = True, limit: int = 200) -> list[RiskAlert]:
    """Return the newest alerts first (unacknowledged only unless ``include_acknowledged``)."""
    query = select(RiskAlert).order_by(RiskAlert.created_at.desc(), RiskAlert.id.desc()).limit(limit)
    if not include_acknowledged:
        query = query.where(RiskAlert.acknowledged_at.is_(None))
    return list(session.scalars(query))


def unacknowledged_count(session: Session) -> int:
    """Return how many alerts wait for acknowledgement."""
    return int(session.scalar(select(func.count()).where(RiskAlert.acknowledged_at.is_(None))) or 0)


def acknowledge_alert(session: Session, alert_id: int, *, actor: str, now: datetime | None = None) -> bool:
    """Mark one alert acknowledged by ``actor``; return False if it does not exist or already was."""
    result = session.execute(
        update(RiskAlert)
        .where(RiskAlert.id == alert_id, RiskAlert.acknowledged_at.is_(None))
        .values(acknowledged_at=now or utc_now(), acknowledged_by=actor)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def acknowledge_all(session: Session, *, actor: str, now: datetime | None = None) -> int:
    """Acknowledge every open alert; return how many."""
    result = session.execute(
        update(RiskAlert)
        .where(RiskAlert.acknowledged_at.is_(None))
        .values(acknowledged_at=now or utc_now(), acknowledged_by=actor)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def recent_alert_exists(session: Session, kind: AlertKind, subject: str, since: datetime) -> bool:
    """Return True if an alert of ``kind`` about ``subject`` was raised at or after ``since``."""
    return (
        session.scalar(
            select(RiskAlert.id)
            .where(RiskAlert.kind == kind, RiskAlert.subject == subject, RiskAlert.created_at >= since)
            .limit(1)
        )
        is not None
    )
