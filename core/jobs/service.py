"""The job queue: submit, list, show, cancel; claim, progress, finish and recovery for the worker.

Every status change goes through :func:`check_transition` and a conditional ``UPDATE`` that names
the status it expects, so two processes never both move a job: claiming is
``UPDATE jobs SET status='running' ... WHERE id=? AND status='queued'`` and only the process whose
statement changed the row (rowcount 1) runs it, on SQLite (one writer at a time) and PostgreSQL
(the second ``UPDATE`` waits for the first and then finds the row no longer queued) alike.

A running job is owned by a *token*: the claiming worker's id and the attempt number. Progress,
heartbeat, checkpoint and the final write all say ``WHERE worker=? AND attempts=?``; a process
that lost its job (its worker was declared dead and the job resumed elsewhere) changes nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.errors import PermanentError
from core.jobs.kinds import JobKind, UnknownJobKindError, job_kinds
from core.jobs.models import Job, JobStatus
from core.timeutil import utc_now

S = JobStatus
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    # QUEUED -> CANCELLED: cancelled before any worker took it.
    S.QUEUED: frozenset({S.RUNNING, S.CANCELLED}),
    # RUNNING -> QUEUED: its worker stopped or died and the kind resumes from its checkpoint.
    # RUNNING -> INTERRUPTED: the same, for a kind that cannot resume.
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED, S.INTERRUPTED, S.QUEUED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.INTERRUPTED: frozenset(),
}
TERMINAL_STATUSES = frozenset(status for status, moves in TRANSITIONS.items() if not moves)
ACTIVE_STATUSES = frozenset({S.QUEUED, S.RUNNING})
MAX_ATTEMPTS = 3  # a resumable job whose worker died this often is interrupted, not resumed again
MAX_PARAMS_BYTES = 200_000


class IllegalJobTransition(PermanentError, ValueError):
    """A job status change that the state table does not allow."""


class JobRefused(PermanentError, ValueError):
    """A job that cannot run (unknown kind, bad parameters): refused at submit, nothing stored."""


class JobNotFound(PermanentError, LookupError):
    """No job with that id."""


def check_transition(current: JobStatus, new: JobStatus) -> None:
    """Raise :class:`IllegalJobTransition` unless ``current → new`` is allowed."""
    if new not in TRANSITIONS[current]:
        raise IllegalJobTransition(f"illegal job status change {current.value} → {new.value}")


@dataclass(frozen=True)
class JobInfo:
    """A job as read from its row (detached from the session, safe to keep in the UI)."""

    id: int
    kind: str
    label: str
    params: dict[str, Any]
    status: JobStatus
    resumable: bool
    progress_done: int
    progress_total: int
    progress_message: str
    result: dict[str, Any] | None
    error: str | None
    checkpoint: dict[str, Any] | None
    attempts: int
    cancel_requested: bool
    worker: str | None
    heartbeat_at: datetime | None
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: Job) -> JobInfo:
        return cls(**{name: getattr(job, name) for name in cls.__dataclass_fields__})

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def fraction(self) -> float | None:
        """Share of the work done (0..1), or None before the kind reported a total."""
        if self.status is S.SUCCEEDED:
            return 1.0
        if self.progress_total <= 0:
            return None
        return min(1.0, max(0.0, self.progress_done / self.progress_total))

    def to_dict(self, *, with_result: bool = True) -> dict[str, Any]:
        """A JSON-ready view (``--json``); the checkpoint is left out (internal state of the kind)."""
        data = asdict(self)
        data.pop("checkpoint")
        data["status"] = self.status.value
        for name in ("heartbeat_at", "created_at", "started_at", "finished_at"):
            value = data[name]
            data[name] = value.isoformat() if value is not None else None
        if not with_result:
            data.pop("result")
        return data


def _json_ready(params: Mapping[str, Any]) -> dict[str, Any]:
    try:
        text = json.dumps(dict(params), allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise JobRefused(f"job parameters must be plain JSON (numbers, strings, lists, objects): {error}") from None
    if len(text) > MAX_PARAMS_BYTES:
        raise JobRefused(f"job parameters are too large ({len(text):,} bytes, at most {MAX_PARAMS_BYTES:,})")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def submit_job(
    session: Session,
    kind: str,
    params: Mapping[str, Any],
    *,
    label: str | None = None,
    created_by: str | None = None,
    kinds: Mapping[str, JobKind] | None = None,
) -> JobInfo:
    """Queue a job of ``kind``; refuse it (:class:`JobRefused`, nothing stored) if it cannot run.

    The kind's ``validate`` (if it has one) checks the parameters and may return them normalised;
    its ``describe`` gives the label shown in lists unless ``label`` is given.
    """
    known = job_kinds() if kinds is None else kinds
    if kind not in known:
        raise JobRefused(f"unknown job kind {kind!r} (known: {', '.join(sorted(known)) or 'none'})")
    chosen = known[kind]
    checked = _json_ready(params)
    if chosen.validate is not None:
        try:
            normalised = chosen.validate(checked)
        except (ValueError, LookupError, PermanentError) as error:
            raise JobRefused(f"{chosen.title}: {error}") from None
        checked = _json_ready(normalised if normalised is not None else checked)
    if label is None:
        label = chosen.describe(checked) if chosen.describe is not None else chosen.title
    job = Job(
        kind=kind,
        label=label[:300],
        params=checked,
        status=S.QUEUED,
        resumable=chosen.resumable,
        progress_done=0,
        progress_total=0,
        progress_message="queued",
        attempts=0,
        cancel_requested=False,
        created_by=created_by,
        created_at=utc_now(),
    )
    session.add(job)
    session.flush()
    return JobInfo.of(job)


def list_jobs(
    session: Session,
    *,
    limit: int = 50,
    statuses: Collection[JobStatus] | None = None,
    kinds: Collection[str] | None = None,
) -> list[JobInfo]:
    """The newest jobs first (optionally only some statuses or kinds)."""
    query = select(Job).order_by(Job.id.desc()).limit(max(1, limit))
    if statuses:
        query = query.where(Job.status.in_(list(statuses)))
    if kinds:
        query = query.where(Job.kind.in_(list(kinds)))
    return [JobInfo.of(job) for job in session.scalars(query)]


def job_counts(session: Session) -> dict[JobStatus, int]:
    """How many jobs are in each status (every status present, zero if none)."""
    counts = dict.fromkeys(JobStatus, 0)
    for status, count in session.execute(select(Job.status, func.count()).group_by(Job.status)):
        counts[JobStatus(status)] = int(count)
    return counts


def get_job(session: Session, job_id: int) -> JobInfo | None:
    """The job ``job_id``, or None."""
    job = session.get(Job, job_id, populate_existing=True)
    return JobInfo.of(job) if job is not None else None


def request_cancel(session: Session, job_id: int, *, now: datetime | None = None) -> JobInfo:
    """Cancel a job: a queued one at once, a running one when its worker next looks (within a second).

    A job that has already ended is refused (:class:`IllegalJobTransition`) and left as it is.
    """
    now = now or utc_now()
    job = get_job(session, job_id)
    if job is None:
        raise JobNotFound(f"no job {job_id}")
    if job.status is S.QUEUED:
        check_transition(S.QUEUED, S.CANCELLED)
        moved = _move(
            session,
            job_id,
            S.QUEUED,
            S.CANCELLED,
            cancel_requested=True,
            finished_at=now,
            progress_message="cancelled before it started",
        )
        if moved:
            return _reread(session, job_id)
        job = _reread(session, job_id)  # claimed meanwhile: cancel it while running
    if job.status is S.RUNNING:
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == S.RUNNING)
            .values(cancel_requested=True)
            .execution_options(synchronize_session=False)
        )
        return _reread(session, job_id)
    raise IllegalJobTransition(f"job {job_id} has already ended ({job.status.value}); there is nothing to cancel")


def _reread(session: Session, job_id: int) -> JobInfo:
    job = get_job(session, job_id)
    if job is None:
        raise JobNotFound(f"no job {job_id}")
    return job


def _move(session: Session, job_id: int, current: JobStatus, new: JobStatus, **values: Any) -> bool:
    check_transition(current, new)
    changed = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == current, *values.pop("_where", ()))
        .values(status=new, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(changed.rowcount == 1)  # type: ignore[attr-defined]


# --- the worker's side -------------------------------------------------------------------------


@dataclass(frozen=True)
class JobToken:
    """Who owns a running job: the worker's id and the attempt number it claimed."""

    job_id: int
    worker: str
    attempt: int

    def where(self) -> tuple[Any, ...]:
        return (Job.worker == self.worker, Job.attempts == self.attempt)


def claim_next_job(
    session: Session, worker: str, *, now: datetime | None = None, kinds: Iterable[str] | None = None
) -> tuple[JobInfo, JobToken] | None:
    """Claim the oldest queued job for ``worker``; None when there is none left to claim."""
    now = now or utc_now()
    query = select(Job.id, Job.attempts).where(Job.status == S.QUEUED).order_by(Job.id).limit(10)
    if kinds is not None:
        query = query.where(Job.kind.in_(list(kinds)))
    for job_id, attempts in session.execute(query).all():
        attempt = int(attempts) + 1
        moved = _move(
            session,
            int(job_id),
            S.QUEUED,
            S.RUNNING,
            _where=(Job.attempts == attempts,),
            worker=worker,
            attempts=attempt,
            heartbeat_at=now,
            started_at=now,
            progress_message="started" if attempt == 1 else f"resumed (attempt {attempt})",
        )
        if moved:
            session.flush()
            return _reread(session, int(job_id)), JobToken(int(job_id), worker, attempt)
    return None


def update_running(session: Session, token: JobToken, **values: Any) -> bool:
    """Store progress / heartbeat / checkpoint of a running job; False if ``token`` no longer owns it."""
    changed = session.execute(
        update(Job)
        .where(Job.id == token.job_id, Job.status == S.RUNNING, *token.where())
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(changed.rowcount == 1)  # type: ignore[attr-defined]


def cancel_requested(session: Session, token: JobToken) -> bool | None:
    """Whether the user asked to cancel the job; None if ``token`` no longer owns it."""
    row = session.execute(
        select(Job.cancel_requested).where(Job.id == token.job_id, Job.status == S.RUNNING, *token.where())
    ).first()
    return None if row is None else bool(row[0])


def finish_job(
    session: Session,
    token: JobToken,
    status: JobStatus,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    message: str | None = None,
    now: datetime | None = None,
) -> bool:
    """End a running job (succeeded, failed, cancelled); False if ``token`` no longer owns it."""
    values: dict[str, Any] = {"finished_at": now or utc_now(), "heartbeat_at": now or utc_now()}
    if result is not None:
        values["result"] = _json_ready(result)
    if error is not None:
        values["error"] = error
    if message is not None:
        values["progress_message"] = message[:500]
    return _move(session, token.job_id, S.RUNNING, status, _where=token.where(), **values)


def release_job(session: Session, token: JobToken, reason: str, *, now: datetime | None = None) -> JobStatus | None:
    """Give up a running job whose process stopped: resume it later or mark it interrupted.

    Returns the new status (None if ``token`` no longer owns the job).
    """
    job = get_job(session, token.job_id)
    if job is None or job.status is not S.RUNNING or job.worker != token.worker or job.attempts != token.attempt:
        return None
    return _release(session, job, reason, now or utc_now(), token.where())


def _release(session: Session, job: JobInfo, reason: str, now: datetime, where: tuple[Any, ...]) -> JobStatus | None:
    if job.cancel_requested:
        new, values = S.CANCELLED, {"finished_at": now, "progress_message": f"cancelled ({reason})"}
    elif job.resumable and job.attempts < MAX_ATTEMPTS:
        new = S.QUEUED
        values = {
            "worker": None,
            "heartbeat_at": None,
            "progress_message": f"{reason}; queued to resume from its checkpoint",
        }
    else:
        new = S.INTERRUPTED
        why = (
            f"{reason}; gave up after {job.attempts} attempts"
            if job.resumable
            else f"{reason}; a {job.kind} job cannot resume, submit it again"
        )
        values = {"finished_at": now, "error": why, "progress_message": why[:500]}
    moved = _move(session, job.id, S.RUNNING, new, _where=(Job.attempts == job.attempts, *where), **values)
    return new if moved else None


def recover_abandoned_jobs(
    session: Session,
    *,
    stale_after: timedelta,
    is_dead: Callable[[str], bool] | None = None,
    now: datetime | None = None,
) -> dict[int, JobStatus]:
    """Resume or interrupt running jobs whose worker is gone: heartbeat older than ``stale_after``,
    or ``is_dead(worker)`` true (a worker on this host whose process no longer exists).

    Returns ``{job id: new status}`` of the jobs it moved.
    """
    now = now or utc_now()
    moved: dict[int, JobStatus] = {}
    running = [JobInfo.of(job) for job in session.scalars(select(Job).where(Job.status == S.RUNNING))]
    for job in running:
        beat = job.heartbeat_at or job.started_at
        stale = beat is None or now - beat > stale_after
        dead = is_dead is not None and job.worker is not None and is_dead(job.worker)
        if not (stale or dead):
            continue
        reason = f"its worker {job.worker} stopped"
        if stale and beat is not None:
            reason += f" (no sign of life for {math.floor((now - beat).total_seconds())} s)"
        new = _release(session, job, reason, now, (Job.worker == job.worker,))
        if new is not None:
            moved[job.id] = new
    return moved


__all__ = [
    "ACTIVE_STATUSES",
    "MAX_ATTEMPTS",
    "TERMINAL_STATUSES",
    "TRANSITIONS",
    "IllegalJobTransition",
    "JobInfo",
    "JobNotFound",
    "JobRefused",
    "JobToken",
    "UnknownJobKindError",
    "cancel_requested",
    "check_transition",
    "claim_next_job",
    "finish_job",
    "get_job",
    "job_counts",
    "list_jobs",
    "recover_abandoned_jobs",
    "release_job",
    "request_cancel",
    "submit_job",
    "update_running",
]
