""" "Analyse now" requests: the page writes one, exactly one worker claims and carries it out.

A claim is one conditional UPDATE (``... WHERE id = :id AND status = 'pending'``): of two workers
racing for a request only one sees a changed row, so no request is processed twice. A request
left ``running`` by a crashed worker is put back to ``pending`` after ``stale_after``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.ai.models import AnalysisRequest, RequestStatus
from core.market.models import Instrument
from core.observability.tracing import remember_trace, traced
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=15)


@traced("analysis.request", attributes_of=lambda _session, instrument_id, **kwargs: {"instrument_id": instrument_id})
def request_analysis(session: Session, instrument_id: int, *, requested_by: str | None = None) -> AnalysisRequest:
    """Queue an analysis of an instrument, or return the one already waiting or running for it."""
    if session.get(Instrument, instrument_id) is None:
        raise LookupError(f"instrument {instrument_id} does not exist")
    existing = open_request(session, instrument_id)
    if existing is not None:
        return existing
    request = AnalysisRequest(
        instrument_id=instrument_id,
        requested_at=utc_now(),
        requested_by=requested_by,
        status=RequestStatus.PENDING,
        progress="waiting for the analyst worker",
    )
    session.add(request)
    session.flush()
    remember_trace(session, f"analysis_request:{request.id}")  # the analyst worker continues this trace
    return request


def open_request(session: Session, instrument_id: int) -> AnalysisRequest | None:
    """Return the pending or running request of an instrument, or None."""
    return session.scalar(
        select(AnalysisRequest)
        .where(
            AnalysisRequest.instrument_id == instrument_id,
            AnalysisRequest.status.in_([RequestStatus.PENDING, RequestStatus.RUNNING]),
        )
        .order_by(AnalysisRequest.id.desc())
        .limit(1)
    )


def get_request(session: Session, request_id: int) -> AnalysisRequest | None:
    """Return a request by id."""
    return session.get(AnalysisRequest, request_id)


def claim_next_request(session: Session, worker_id: str, *, now: datetime | None = None) -> AnalysisRequest | None:
    """Claim the oldest pending request for ``worker_id``; None when there is none left to claim."""
    now = now or utc_now()
    candidates = list(
        session.scalars(
            select(AnalysisRequest.id)
            .where(AnalysisRequest.status == RequestStatus.PENDING)
            .order_by(AnalysisRequest.requested_at, AnalysisRequest.id)
            .limit(10)
        )
    )
    for request_id in candidates:
        claimed = session.execute(
            update(AnalysisRequest)
            .where(AnalysisRequest.id == request_id, AnalysisRequest.status == RequestStatus.PENDING)
            .values(
                status=RequestStatus.RUNNING, claimed_by=worker_id, claimed_at=now, progress="claimed by the worker"
            )
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            session.flush()
            return session.get(AnalysisRequest, request_id, populate_existing=True)
    return None


def set_progress(session: Session, request_id: int, message: str) -> None:
    """Record what a running request is doing now (shown on the page)."""
    session.execute(
        update(AnalysisRequest)
        .where(AnalysisRequest.id == request_id, AnalysisRequest.status == RequestStatus.RUNNING)
        .values(progress=message[:500])
        .execution_options(synchronize_session=False)
    )


def finish_request(
    session: Session, request_id: int, *, consensus_id: int | None = None, error: str | None = None
) -> None:
    """Mark a request done (with its consensus) or failed (with the reason)."""
    session.execute(
        update(AnalysisRequest)
        .where(AnalysisRequest.id == request_id)
        .values(
            status=RequestStatus.FAILED if error else RequestStatus.DONE,
            finished_at=utc_now(),
            consensus_id=consensus_id,
            error=error[:2000] if error else None,
            progress="failed" if error else "done",
        )
        .execution_options(synchronize_session=False)
    )


def requeue_stale_requests(
    session: Session, *, now: datetime | None = None, stale_after: timedelta = STALE_AFTER
) -> int:
    """Put requests stuck in ``running`` (their worker died) back to ``pending``; return how many."""
    now = now or utc_now()
    result = session.execute(
        update(AnalysisRequest)
        .where(AnalysisRequest.status == RequestStatus.RUNNING, AnalysisRequest.claimed_at < now - stale_after)
        .values(status=RequestStatus.PENDING, claimed_by=None, claimed_at=None, progress="re-queued after a stall")
        .execution_options(synchronize_session=False)
    )
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        logger.warning("Re-queued %d stalled analysis request(s)", count)
    return count
