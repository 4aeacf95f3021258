"""Append to and verify the hash-chained audit log.

Each row's ``row_hash`` is the SHA-256 of its canonical JSON form (id, ts, actor, action,
subject, details) together with ``prev_hash``, the previous row's ``row_hash`` (64 zeros for the
first row). Changing, deleting or inserting a row anywhere breaks the chain from that row on;
``verify_audit_chain`` names the first row that does not match.

Appends are serialised (PostgreSQL advisory transaction lock; SQLite's single writer), so two
writers can never chain onto the same previous row. The append runs inside the caller's
transaction: an order state change and its audit row commit (or roll back) together.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit.models import AuditAction, AuditEntry
from core.db.write_lock import serialise_writes
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
AUDIT_LOCK_NAME = "konsens.audit_log"
_VERIFY_BATCH = 1000


def _normalised_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``details`` as plain JSON values (Decimal, datetime... become strings)."""
    return json.loads(json.dumps(dict(details or {}), default=str, sort_keys=True))


def _timestamp_text(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def compute_row_hash(
    *,
    entry_id: int,
    ts: datetime,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, Any],
    prev_hash: str,
) -> str:
    """Return the SHA-256 hex digest that chains one audit row to ``prev_hash``."""
    canonical = json.dumps(
        {
            "id": entry_id,
            "ts": _timestamp_text(ts),
            "actor": actor,
            "action": str(action),
            "subject": subject,
            "details": details,
            "prev_hash": prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def append_audit(
    session: Session,
    *,
    actor: str,
    action: AuditAction,
    subject: str,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one row to the audit log in the caller's transaction and return it.

    Safe under concurrent writers: appends are serialised for the rest of the transaction.
    """
    serialise_writes(session, AUDIT_LOCK_NAME)
    last = session.execute(select(AuditEntry.id, AuditEntry.row_hash).order_by(AuditEntry.id.desc()).limit(1)).first()
    entry_id = 1 if last is None else int(last[0]) + 1
    prev_hash = GENESIS_HASH if last is None else str(last[1])
    # Microsecond precision is what both databases store, so the hash survives the round trip.
    ts = utc_now()
    clean = _normalised_details(details)
    entry = AuditEntry(
        id=entry_id,
        ts=ts,
        actor=actor,
        action=AuditAction(action),
        subject=subject,
        details=clean,
        prev_hash=prev_hash,
        row_hash=compute_row_hash(
            entry_id=entry_id,
            ts=ts,
            actor=actor,
            action=AuditAction(action).value,
            subject=subject,
            details=clean,
            prev_hash=prev_hash,
        ),
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class AuditVerification:
    """The result of checking the chain: ``ok``, rows checked, and the first broken row if any."""

    ok: bool
    rows_checked: int
    first_broken_id: int | None = None
    problem: str | None = None

    def describe(self) -> str:
        """Return a one-line human description."""
        if self.ok:
            return f"audit chain intact: {self.rows_checked} rows verified"
        return f"audit chain BROKEN at row {self.first_broken_id}: {self.problem}"


_VERIFY_COLUMNS = (
    AuditEntry.id,
    AuditEntry.ts,
    AuditEntry.actor,
    AuditEntry.action,
    AuditEntry.subject,
    AuditEntry.details,
    AuditEntry.prev_hash,
    AuditEntry.row_hash,
)
# What reading a tampered row can raise while its values are converted (an action that is no
# AuditAction member, details that are not JSON, a timestamp SQLite cannot parse).
_UNREADABLE = (LookupError, ValueError, TypeError)


def verify_audit_chain(session: Session) -> AuditVerification:
    """Recompute every row's hash in id order; return the first row where the chain breaks.

    A row whose stored values cannot even be read back (an unknown action, details that are not
    JSON) is reported as altered, like any other changed row, rather than crashing the check.
    """
    previous_hash = GENESIS_HASH
    previous_id = 0
    checked = 0
    while True:
        query = select(*_VERIFY_COLUMNS).where(AuditEntry.id > previous_id).order_by(AuditEntry.id)
        try:
            rows: list[Any] = list(session.execute(query.limit(_VERIFY_BATCH)).all())
        except _UNREADABLE:
            # Some row of this batch is unreadable: go one row at a time to name the first.
            ids = list(
                session.scalars(
                    select(AuditEntry.id)
                    .where(AuditEntry.id > previous_id)
                    .order_by(AuditEntry.id)
                    .limit(_VERIFY_BATCH)
                )
            )
            rows = []
            for row_id in ids:
                try:
                    rows.append(session.execute(select(*_VERIFY_COLUMNS).where(AuditEntry.id == row_id)).one())
                except _UNREADABLE as error:
                    rows.append(_Unreadable(row_id, f"{type(error).__name__}: {error}"))
                    break
        if not rows:
            break
        for row in rows:
            if row.id != previous_id + 1:
                return AuditVerification(False, checked, row.id, f"row(s) {previous_id + 1}..{row.id - 1} are missing")
            if isinstance(row, _Unreadable):
                return AuditVerification(False, checked, row.id, f"row cannot be read back (altered): {row.error}")
            if row.prev_hash != previous_hash:
                return AuditVerification(False, checked, row.id, "prev_hash does not match the previous row's hash")
            expected = compute_row_hash(
                entry_id=row.id,
                ts=row.ts,
                actor=row.actor,
                action=AuditAction(row.action).value,
                subject=row.subject,
                details=row.details,
                prev_hash=row.prev_hash,
            )
            if expected != row.row_hash:
                return AuditVerification(False, checked, row.id, "row content does not match its hash (altered)")
            previous_hash = row.row_hash
            previous_id = row.id
            checked += 1
    return AuditVerification(True, checked)


@dataclass(frozen=True)
class _Unreadable:
    id: int
    error: str


def list_audit(session: Session, *, subject_prefix: str | None = None, limit: int = 200) -> list[AuditEntry]:
    """Return the newest audit rows (optionally only those whose subject starts with a prefix)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if subject_prefix:
        query = query.where(AuditEntry.subject.startswith(subject_prefix))
    return list(session.scalars(query))
