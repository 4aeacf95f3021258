"""The job runner in this process: results, failures, cancellation within a second, throttled
progress, and a stopped worker's resumable job continuing from its checkpoint (both databases)."""

from __future__ import annotations

import threading
import time

from core.db.engine import Database
from core.jobs.models import JobStatus
from core.jobs.runner import run_job
from core.jobs.service import JobInfo, JobToken, claim_next_job, get_job, request_cancel, submit_job
from core.jobs.settings import JobsSettings
from tests.core.jobs.helpers import TEST_KINDS

SETTINGS = JobsSettings(jobs_progress_seconds=0.1, jobs_stale_seconds=60)


def _submit_and_claim(database: Database, kind: str, params: dict[str, object]) -> JobToken:
    with database.session() as session:
        submit_job(session, kind, params, kinds=TEST_KINDS)
    claimed = database.run(lambda session: claim_next_job(session, "test:1"))
    assert claimed is not None
    return claimed[1]


def _job(database: Database, job_id: int) -> JobInfo:
    job = database.run(lambda session: get_job(session, job_id))
    assert job is not None
    return job


def test_a_job_runs_and_stores_its_result_and_progress(database: Database) -> None:
    token = _submit_and_claim(database, "count", {"steps": 5})
    assert run_job(database, token, kinds=TEST_KINDS, settings=SETTINGS) is JobStatus.SUCCEEDED
    job = _job(database, token.job_id)
    assert job.status is JobStatus.SUCCEEDED and job.result == {"resumed_from": 0, "ran": [0, 1, 2, 3, 4]}
    assert (job.progress_done, job.progress_total, job.progress_message) == (5, 5, job.progress_message)
    assert job.progress_message.startswith("done in") and job.finished_at is not None and job.error is None


def test_a_failure_is_stored_with_its_message(database: Database) -> None:
    token = _submit_and_claim(database, "fail", {"where": "2024-03-01"})
    assert run_job(database, token, kinds=TEST_KINDS, settings=SETTINGS) is JobStatus.FAILED
    job = _job(database, token.job_id)
    assert job.error == "RuntimeError: the data has a hole at 2024-03-01" and job.result is None
    assert job.progress_message == "failed"


def test_a_result_that_is_not_json_fails_the_job(database: Database) -> None:
    token = _submit_and_claim(database, "not-json", {})
    assert run_job(database, token, kinds=TEST_KINDS, settings=SETTINGS) is JobStatus.FAILED
    assert "the result is not plain JSON" in (_job(database, token.job_id).error or "")


def test_a_kind_removed_since_the_submit_fails_clearly(database: Database) -> None:
    token = _submit_and_claim(database, "count", {"steps": 1})
    assert run_job(database, token, kinds={}, settings=SETTINGS) is JobStatus.FAILED
    assert "unknown job kind 'count'" in (_job(database, token.job_id).error or "")


def test_a_cancel_is_seen_within_a_second(database: Database) -> None:
    token = _submit_and_claim(database, "count", {"steps": 2000, "pause": 0.01})
    outcome: list[JobStatus | None] = []
    thread = threading.Thread(
        target=lambda: outcome.append(run_job(database, token, kinds=TEST_KINDS, settings=JobsSettings()))
    )
    thread.start()
    while _job(database, token.job_id).progress_done == 0:
        time.sleep(0.05)
    asked = time.monotonic()
    database.run(lambda session: request_cancel(session, token.job_id))
    thread.join(timeout=10)
    took = time.monotonic() - asked
    job = _job(database, token.job_id)
    assert outcome == [JobStatus.CANCELLED] and job.status is JobStatus.CANCELLED
    assert took < 1.0, f"the cancel took {took:.2f} s to be seen"
    assert 0 < job.progress_done < 2000


def test_progress_is_stored_at_most_every_interval(database: Database) -> None:
    from core.jobs import runner

    token = _submit_and_claim(database, "count", {"steps": 3000, "pause": 0.0005})
    seen: list[runner.RunningJob] = []
    original = runner.RunningJob.start

    def remember(self: runner.RunningJob) -> None:
        seen.append(self)
        original(self)

    runner.RunningJob.start = remember  # type: ignore[method-assign]
    try:
        began = time.monotonic()
        assert run_job(database, token, kinds=TEST_KINDS, settings=JobsSettings(jobs_progress_seconds=0.5))
        elapsed = time.monotonic() - began
    finally:
        runner.RunningJob.start = original  # type: ignore[method-assign]
    # 3000 progress reports and 3000 checkpoints, but one write per 0.5 s (and one at the end).
    assert seen[0].writes <= elapsed / 0.5 + 2, (seen[0].writes, elapsed)


def test_a_stopped_worker_requeues_a_resumable_job_which_resumes_from_its_checkpoint(database: Database) -> None:
    token = _submit_and_claim(database, "count", {"steps": 400, "pause": 0.005})
    stop = threading.Event()
    outcome: list[JobStatus | None] = []
    thread = threading.Thread(
        target=lambda: outcome.append(run_job(database, token, kinds=TEST_KINDS, settings=SETTINGS, stop_event=stop))
    )
    thread.start()
    while _job(database, token.job_id).progress_done < 20:
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=10)
    stopped = _job(database, token.job_id)
    assert outcome == [JobStatus.QUEUED] and stopped.status is JobStatus.QUEUED
    assert stopped.checkpoint is not None and stopped.checkpoint["done"] >= 20
    assert "queued to resume from its checkpoint" in stopped.progress_message
    claimed = database.run(lambda session: claim_next_job(session, "test:2"))
    assert claimed is not None and claimed[1].attempt == 2
    assert run_job(database, claimed[1], kinds=TEST_KINDS, settings=SETTINGS) is JobStatus.SUCCEEDED
    result = _job(database, token.job_id).result
    assert result is not None and result["resumed_from"] == stopped.checkpoint["done"]
    assert result["ran"] == list(range(stopped.checkpoint["done"], 400))


def test_a_stopped_worker_interrupts_a_job_that_cannot_resume(database: Database) -> None:
    token = _submit_and_claim(database, "count-once", {"steps": 400, "pause": 0.005})
    stop = threading.Event()
    stop.set()
    assert run_job(database, token, kinds=TEST_KINDS, settings=SETTINGS, stop_event=stop) is JobStatus.INTERRUPTED
    job = _job(database, token.job_id)
    assert job.error is not None and "a count-once job cannot resume, submit it again" in job.error
