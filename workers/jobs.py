"""``konsens worker jobs``: runs queued jobs (sweeps, searches, walk-forwards, replays) one at a time.

At rest the worker waits for new jobs (PostgreSQL ``LISTEN`` on ``konsens_jobs``, SQLite
``PRAGMA data_version``, see ``core/db/wakeup.py``) with a slow safety poll
(``jobs_poll_seconds``); it imports no numpy or backtest code. Each claimed job runs in a child
process (``python -m workers.jobs JOB_ID WORKER ATTEMPT``, :func:`child_main`), so what a job
imports and allocates is returned to the system when it ends (``jobs_in_process`` runs it in the
worker instead). While a job runs, the worker keeps its heartbeat, enforces a cancel the job
ignores, and notices a child that died.

On start it takes over jobs left running by a dead worker (its process on this host is gone, or
its heartbeat is older than ``jobs_stale_seconds``; checked again on every look): a resumable
kind is queued again and resumes from its checkpoint, any other is marked interrupted. On
SIGTERM the running job is asked to stop (it stores its checkpoint) and is released the same way.
``--once`` runs what is queued and returns.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess  # nosec B404: starts this same Python on the job runner module, no shell
import sys
import time
from datetime import timedelta
from typing import Any

from core.db.engine import Database
from core.db.wakeup import ChangeWaiter, open_change_waiter
from core.jobs.kinds import provide_job_services
from core.jobs.models import JobStatus
from core.jobs.service import (
    JobInfo,
    JobToken,
    claim_next_job,
    finish_job,
    get_job,
    recover_abandoned_jobs,
    release_job,
)
from core.jobs.settings import JobsSettings
from core.system.models import WorkerStatus
from core.system.waiting import waiting
from workers.runtime import WorkerLoop

WORKER_NAME = "jobs"
CHANNEL_JOBS = "konsens_jobs"
# SQLite: the waiter reports the jobs channel only when this row moves (index ix_jobs_status_id),
# not on every commit of any writer (heartbeats, streamed quotes).
QUEUED_JOBS_PROBE = "SELECT count(*), coalesce(sum(id), 0) FROM jobs WHERE status = 'queued'"
STOP_GRACE_SECONDS = 10.0  # a stopping job has this long to store its checkpoint before it is killed
CANCEL_GRACE_SECONDS = 15.0  # a job that ignores a cancel this long is killed

logger = logging.getLogger(__name__)


def worker_id() -> str:
    """``host:pid`` of this process (the owner written on the jobs it claims)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def dead_on_this_host(owner: str) -> bool:
    """True if ``owner`` (``host:pid``) is a worker on this host that no longer runs, or this very
    process (a restarted container keeps its host name and pid; at start it runs nothing yet)."""
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    return pid == os.getpid() or _process_gone(pid)


class JobsLoop(WorkerLoop):
    """The worker loop of the jobs worker (see the module docstring)."""

    settings: JobsSettings
    once_mode: bool = False
    owner: str = ""
    recovered_at_start: bool = False
    waiter: ChangeWaiter | None = None
    jobs_run: int = 0

    def run(self, *, once: bool = False) -> int:
        self.once_mode = once
        try:
            return super().run(once=once)
        finally:
            if self.waiter is not None:
                self.waiter.close()
                self.waiter = None

    # --- one pass: look, run what is queued, wait ------------------------------------------------

    def jobs_pass(self, database: Database) -> dict[str, Any]:
        settings = self.settings
        if self.waiter is None and not self.once_mode:
            try:
                self.waiter = open_change_waiter(
                    database, (CHANNEL_JOBS,), max_interval=0.5, sqlite_probes={CHANNEL_JOBS: QUEUED_JOBS_PROBE}
                )
            except ValueError:  # an in-memory database: nobody else writes, poll
                self.waiter = None
        moved = self._recover(database, at_start=not self.recovered_at_start)
        self.recovered_at_start = True
        ran: list[str] = []
        deadline = time.monotonic() + settings.jobs_pass_seconds
        while not self.stop_event.is_set():
            claimed = database.run(lambda session: claim_next_job(session, self.owner))
            if claimed is not None:
                job, token = claimed
                ran.append(f"{job.id}:{self._run(database, job, token).value}")
                self.jobs_run += 1
                continue
            if self.once_mode:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            timeout = min(settings.jobs_poll_seconds, remaining)
            with waiting():  # not work: the worker's "last pass" leaves it out
                if self.waiter is None:
                    self.stop_event.wait(timeout)
                else:
                    self.waiter.wait(timeout, self.stop_event)
            moved.update(self._recover(database, at_start=False))
        return {"jobs": ran, "recovered": {str(key): value.value for key, value in moved.items()}}

    def _recover(self, database: Database, *, at_start: bool) -> dict[int, JobStatus]:
        stale = timedelta(seconds=self.settings.jobs_stale_seconds)
        moved = database.run(
            lambda session: recover_abandoned_jobs(
                session, stale_after=stale, is_dead=dead_on_this_host if at_start else None
            )
        )
        for job_id, status in moved.items():
            logger.warning("jobs: job %s was left running by a stopped worker; now %s", job_id, status.value)
        return moved

    # --- running one job ------------------------------------------------------------------------

    def _run(self, database: Database, job: JobInfo, token: JobToken) -> JobStatus:
        logger.info("jobs: running job %s (%s, attempt %s)", job.id, job.kind, token.attempt)
        self._beat(WorkerStatus.RUNNING, info={"job": job.id, "kind": job.kind})
        if self.settings.jobs_in_process:
            from core.jobs.runner import run_job

            provide_job_services(JOB_SERVICES)
            status = run_job(database, token, settings=self.settings, stop_event=self.stop_event)
        else:
            status = self._run_child(database, token)
        final = status or JobStatus.INTERRUPTED
        logger.info("jobs: job %s ended %s", job.id, final.value)
        return final

    def _run_child(self, database: Database, token: JobToken) -> JobStatus | None:
        environment = {**os.environ, "KONSENS_DATABASE_URL": database.url}
        command = [sys.executable, "-m", "workers.jobs", str(token.job_id), token.worker, str(token.attempt)]
        child = subprocess.Popen(command, env=environment)  # nosec B603: our own interpreter and module, no shell
        cancel_seen: float | None = None
        last_beat = time.monotonic()
        stopping_since: float | None = None
        while child.poll() is None:
            self.stop_event.wait(1.0)
            now = time.monotonic()
            if self.stop_event.is_set():
                if stopping_since is None:
                    stopping_since = now
                    child.send_signal(signal.SIGTERM)  # the job stores its checkpoint and releases itself
                elif now - stopping_since > STOP_GRACE_SECONDS:
                    child.kill()
                continue
            job = database.run(lambda session: get_job(session, token.job_id))
            if job is not None and job.cancel_requested and job.status is JobStatus.RUNNING:
                cancel_seen = cancel_seen or now
                if now - cancel_seen > CANCEL_GRACE_SECONDS:
                    logger.warning("jobs: job %s ignores its cancel; stopping its process", token.job_id)
                    child.kill()
                    child.wait()
                    database.run(
                        lambda session: finish_job(
                            session, token, JobStatus.CANCELLED, message="cancelled (its process was stopped)"
                        )
                    )
            if now - last_beat >= 30:
                last_beat = now
                self._beat(WorkerStatus.RUNNING, info={"job": token.job_id})
        code = child.returncode
        job = database.run(lambda session: get_job(session, token.job_id))
        if job is None:
            return None
        if job.status is not JobStatus.RUNNING or job.worker != token.worker or job.attempts != token.attempt:
            return job.status if job.attempts == token.attempt else None
        # The child ended without storing an outcome.
        if self.stop_event.is_set():
            return database.run(lambda session: release_job(session, token, "the jobs worker was stopped"))
        reason = f"signal {-code}" if code < 0 else f"exit code {code}"
        error = f"the job's process ended ({reason}) before it finished (out of memory?)"
        database.run(lambda session: finish_job(session, token, JobStatus.FAILED, error=error, message="failed"))
        return JobStatus.FAILED


def _executor_worker(database: Database, *, interval_seconds: float | None = None) -> WorkerLoop:
    """The executor's worker loop (for replay jobs; imported only when a replay runs)."""
    from workers.executor import build_worker as build_executor

    return build_executor(database, interval_seconds=interval_seconds)


# What the kinds in ``core`` may ask for (``core.jobs.kinds.job_service``): core never imports workers.
JOB_SERVICES: dict[str, Any] = {"executor_worker": _executor_worker}


def child_main(argv: list[str]) -> int:
    """The process of one job: ``python -m workers.jobs JOB_ID WORKER ATTEMPT``."""
    from core.jobs.runner import main

    provide_job_services(JOB_SERVICES)
    return main(argv)


def build_worker(
    database: Database,
    *,
    interval_seconds: float | None = None,
    settings: JobsSettings | None = None,
) -> WorkerLoop:
    """Return the jobs loop (``interval_seconds``: the pause between passes; a pass waits by itself)."""
    chosen = settings or JobsSettings()
    loop: JobsLoop

    def run_pass(_database: Database) -> dict[str, Any]:
        return loop.jobs_pass(_database)

    loop = JobsLoop(
        WORKER_NAME, database, run_pass, interval_seconds=0.0 if interval_seconds is None else interval_seconds
    )
    loop.settings = chosen
    loop.owner = worker_id()
    return loop


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))

__all__ = ["CHANNEL_JOBS", "WORKER_NAME", "JobsLoop", "build_worker", "dead_on_this_host", "worker_id"]
