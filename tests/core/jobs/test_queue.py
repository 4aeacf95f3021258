"""The job queue on SQLite and PostgreSQL: submit (refusals store nothing), list, cancel, claim once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.db.engine import Database
from core.jobs.models import Job, JobStatus
from core.jobs.service import (
    IllegalJobTransition,
    JobNotFound,
    JobRefused,
    claim_next_job,
    finish_job,
    get_job,
    list_jobs,
    recover_abandoned_jobs,
    request_cancel,
    submit_job,
    update_running,
)
from core.timeutil import utc_now
from tests.core.jobs.helpers import TEST_KINDS


def _count_rows(database: Database) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


def test_submit_validates_normalises_and_labels(database: Database) -> None:
    with database.session() as session:
        job = submit_job(session, "count", {"steps": 3}, created_by="anna", kinds=TEST_KINDS)
    assert job.status is JobStatus.QUEUED and job.params == {"steps": 3, "pause": 0.0}
    assert job.label == "count to 3" and job.resumable and job.created_by == "anna" and job.attempts == 0
    with database.session() as session:
        assert get_job(session, job.id) == job
        assert [listed.id for listed in list_jobs(session)] == [job.id]


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("count", {"steps": -1}, "Count: steps must be a positive whole number, got -1"),
        ("count", {"steps": "ten"}, "steps must be a positive whole number, got 'ten'"),
        ("nope", {}, "unknown job kind 'nope' (known: count, count-once, fail, not-json, sleep)"),
        ("count", {"steps": 2, "when": object()}, "job parameters must be plain JSON"),
        ("count", {"steps": 2, "x": float("nan")}, "job parameters must be plain JSON"),
    ],
)
def test_a_job_that_cannot_run_is_refused_and_nothing_is_stored(
    database: Database, kind: str, params: dict[str, object], message: str
) -> None:
    pattern = message.replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(JobRefused, match=pattern), database.session() as session:
        submit_job(session, kind, params, kinds=TEST_KINDS)
    assert _count_rows(database) == 0


def test_cancel_a_queued_job_at_once_and_a_running_one_by_flag(database: Database) -> None:
    with database.session() as session:
        first = submit_job(session, "count", {"steps": 3}, kinds=TEST_KINDS)
        second = submit_job(session, "count", {"steps": 3}, kinds=TEST_KINDS)
    with database.session() as session:
        cancelled = request_cancel(session, first.id)
    assert cancelled.status is JobStatus.CANCELLED and cancelled.finished_at is not None
    with database.session() as session:
        claimed = claim_next_job(session, "host:1")
    assert claimed is not None and claimed[0].id == second.id  # the cancelled one is never claimed
    with database.session() as session:
        flagged = request_cancel(session, second.id)
    assert flagged.status is JobStatus.RUNNING and flagged.cancel_requested
    with database.session() as session:
        assert finish_job(session, claimed[1], JobStatus.CANCELLED)
    with database.session() as session, pytest.raises(IllegalJobTransition, match="already ended"):
        request_cancel(session, second.id)
    with database.session() as session, pytest.raises(JobNotFound, match="no job 999"):
        request_cancel(session, 999)


def test_claims_are_exclusive_and_writes_need_the_token(database: Database) -> None:
    with database.session() as session:
        job = submit_job(session, "count", {"steps": 3}, kinds=TEST_KINDS)
    with database.session() as session:
        claimed = claim_next_job(session, "host:1")
        assert claim_next_job(session, "host:2") is None
    assert claimed is not None
    info, token = claimed
    assert info.status is JobStatus.RUNNING and info.worker == "host:1" and token.attempt == 1
    stranger = type(token)(token.job_id, "host:2", 1)
    with database.session() as session:
        assert not update_running(session, stranger, progress_done=2)
        assert not finish_job(session, stranger, JobStatus.SUCCEEDED, result={})
        assert update_running(session, token, progress_done=2, progress_total=3)
        assert finish_job(session, token, JobStatus.SUCCEEDED, result={"ok": True})
        assert not finish_job(session, token, JobStatus.FAILED, error="late")  # already ended
        final = get_job(session, job.id)
    assert final is not None and final.status is JobStatus.SUCCEEDED and final.result == {"ok": True}


@pytest.mark.parametrize("workers", [4])
def test_concurrent_claimers_never_take_the_same_job(database: Database, workers: int) -> None:
    with database.session() as session:
        ids = [submit_job(session, "count", {"steps": 1}, kinds=TEST_KINDS).id for _ in range(12)]
    barrier = threading.Barrier(workers)
    taken: dict[str, list[int]] = {f"host:{n}": [] for n in range(workers)}
    errors: list[BaseException] = []

    def claim_all(owner: str) -> None:
        try:
            barrier.wait()
            while True:
                claimed = database.run(lambda session: claim_next_job(session, owner))
                if claimed is None:
                    return
                taken[owner].append(claimed[0].id)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=claim_all, args=(owner,)) for owner in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    every = [job_id for owned in taken.values() for job_id in owned]
    assert sorted(every) == ids  # each job claimed exactly once
    with database.session() as session:
        assert {job.worker for job in list_jobs(session)} <= set(taken)
        assert all(job.attempts == 1 for job in list_jobs(session))


def test_abandoned_jobs_resume_or_are_interrupted(database: Database) -> None:
    with database.session() as session:
        resumable = submit_job(session, "count", {"steps": 3}, kinds=TEST_KINDS)
        once = submit_job(session, "count-once", {"steps": 3}, kinds=TEST_KINDS)
        cancelled = submit_job(session, "count", {"steps": 3}, kinds=TEST_KINDS)
        fresh = submit_job(session, "count", {"steps": 3}, kinds=TEST_KINDS)
    old = utc_now() - timedelta(minutes=5)
    with database.session() as session:
        tokens = [claim_next_job(session, "gone:1", now=old) for _ in range(3)]
        fresh_claim = claim_next_job(session, "alive:2")
    assert all(tokens) and fresh_claim is not None
    with database.session() as session:
        update_running(session, tokens[0][1], checkpoint={"done": 2})  # type: ignore[index]
        request_cancel(session, cancelled.id)
    with database.session() as session:
        moved = recover_abandoned_jobs(session, stale_after=timedelta(seconds=60))
    assert moved == {resumable.id: JobStatus.QUEUED, once.id: JobStatus.INTERRUPTED, cancelled.id: JobStatus.CANCELLED}
    with database.session() as session:
        back = get_job(session, resumable.id)
        stopped = get_job(session, once.id)
        alive = get_job(session, fresh.id)
    assert back is not None and back.checkpoint == {"done": 2} and back.worker is None
    assert stopped is not None and "a count-once job cannot resume, submit it again" in (stopped.error or "")
    assert alive is not None and alive.status is JobStatus.RUNNING  # its heartbeat is fresh
    with database.session() as session:  # a worker known dead is taken over at once, however fresh
        assert recover_abandoned_jobs(
            session, stale_after=timedelta(hours=1), is_dead=lambda owner: owner == "alive:2"
        ) == {fresh.id: JobStatus.QUEUED}
    with database.session() as session:
        again = claim_next_job(session, "new:3")
    assert again is not None and again[0].id == resumable.id and again[1].attempt == 2
