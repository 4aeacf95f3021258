"""Run one claimed job: the real :class:`~core.jobs.kinds.JobContext`, its monitor, the final write.

The kind's function runs in the calling thread. A monitor thread does all the database work
of a running job, so a kind may report progress as often as it likes:

- every ``jobs_progress_seconds`` (0.5 s) it stores the newest progress and checkpoint, if they
  changed, and reads the job's cancel flag (so a cancel is seen within a second);
- at least every few seconds it refreshes the job's heartbeat (a job without one for
  ``jobs_stale_seconds`` is treated as abandoned by the next worker that looks);
- in a child process it also watches its parent: if the worker process died, the child exits
  at once and leaves the job to the recovery of the next worker.

Every write is guarded by the job's token (worker id + attempt): a process that lost its job
changes nothing and stops.

:func:`main` is the child process the jobs worker starts for each job
(``python -m workers.jobs JOB_ID WORKER ATTEMPT``, which first provides the services kinds may
ask for, see ``core.jobs.kinds.job_service``): it imports the kind's code, runs it and exits, so the memory
a sweep or search used is returned to the system when it ends.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from typing import Any

from core.db.engine import Database
from core.errors import PermanentError
from core.jobs.kinds import JobCancelled, JobKind, JsonDict, job_kinds
from core.jobs.models import JobStatus
from core.jobs.service import JobToken, cancel_requested, finish_job, get_job, release_job, update_running
from core.jobs.settings import JobsSettings
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

PARENT_GONE_EXIT_CODE = 75


class JobLost(PermanentError):
    """The job is no longer this process's (its worker was declared gone and the job moved on)."""


class WorkerStopping(PermanentError):
    """Raised inside a job when its worker is being stopped: the job is resumed later or interrupted."""


class RunningJob:
    """The :class:`~core.jobs.kinds.JobContext` of one attempt, and the monitor that stores what it reports."""

    def __init__(
        self,
        database: Database,
        token: JobToken,
        params: Mapping[str, Any],
        checkpoint_state: JsonDict | None,
        *,
        progress_seconds: float = 0.5,
        heartbeat_seconds: float = 5.0,
        parent_pid: int | None = None,
        stop_event: threading.Event | None = None,
    ) -> None:
        self._database = database
        self._worker_stopping = stop_event or threading.Event()
        self.token = token
        self._params = dict(params)
        self._checkpoint_state = checkpoint_state
        self._progress_seconds = progress_seconds
        self._heartbeat_seconds = max(heartbeat_seconds, progress_seconds)
        self._parent_pid = parent_pid
        self._lock = threading.Lock()
        self._pending: dict[str, Any] = {}
        self._cancelled = threading.Event()
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._monitor, name=f"job-{token.job_id}-monitor", daemon=True)
        self.writes = 0  # rows written by the monitor (progress / checkpoint / heartbeat), for tests

    # --- JobContext -----------------------------------------------------------------------------

    @property
    def params(self) -> Mapping[str, Any]:
        return self._params

    @property
    def database(self) -> Database:
        """The database the job was claimed in (``core.jobs.kinds.job_database``)."""
        return self._database

    @property
    def checkpoint_state(self) -> JsonDict | None:
        return self._checkpoint_state

    def progress(self, done: int, total: int, message: str = "") -> None:
        with self._lock:
            self._pending.update(progress_done=int(done), progress_total=int(total), progress_message=message[:500])
        self._raise_if_stopped()

    def cancelled(self) -> bool:
        return self._cancelled.is_set() or self._lost.is_set() or self._worker_stopping.is_set()

    def checkpoint(self, state: JsonDict) -> None:
        try:
            copied = json.loads(json.dumps(state, allow_nan=False))
        except (TypeError, ValueError) as error:
            raise PermanentError(f"a job checkpoint must be plain JSON: {error}") from None
        with self._lock:
            self._pending["checkpoint"] = copied
        self._raise_if_stopped()

    def _raise_if_stopped(self) -> None:
        if self._lost.is_set():
            raise JobLost(f"job {self.token.job_id} was taken over after its worker was declared gone")
        if self._cancelled.is_set():
            raise JobCancelled(f"job {self.token.job_id} was cancelled")
        if self._worker_stopping.is_set():
            raise WorkerStopping(f"the jobs worker is stopping; job {self.token.job_id} stops here")

    # --- the monitor ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the monitor and store what was reported last."""
        self._stop.set()
        self._thread.join()
        self._flush(force_heartbeat=False)

    def _monitor(self) -> None:
        last_beat = time.monotonic()
        while not self._stop.wait(self._progress_seconds):
            if self._parent_pid is not None and os.getppid() != self._parent_pid:
                logger.error("job %s: the jobs worker is gone; leaving the job to the next worker", self.token.job_id)
                os._exit(PARENT_GONE_EXIT_CODE)
            beat = time.monotonic() - last_beat >= self._heartbeat_seconds
            try:
                if self._flush(force_heartbeat=beat):
                    last_beat = time.monotonic()
            except Exception as error:  # a failed write is retried on the next tick; the job goes on
                logger.warning("job %s: progress not stored: %s", self.token.job_id, error)

    def _flush(self, *, force_heartbeat: bool) -> bool:
        """Store pending progress (and the heartbeat), read the cancel flag; True if a row was written."""
        with self._lock:
            pending, self._pending = self._pending, {}
        token = self.token

        def work(session: Any) -> tuple[bool, bool | None]:
            wrote = False
            if pending or force_heartbeat:
                wrote = update_running(session, token, heartbeat_at=utc_now(), **pending)
            return wrote, cancel_requested(session, token)

        try:
            wrote, flag = self._database.run(work)
        except Exception:
            with self._lock:  # keep what was not stored; newer reports win
                self._pending = {**pending, **self._pending}
            raise
        if wrote:
            self.writes += 1
        if flag is None:
            self._lost.set()
        elif flag:
            self._cancelled.set()
        return wrote


def run_job(
    database: Database,
    token: JobToken,
    *,
    kinds: Mapping[str, JobKind] | None = None,
    settings: JobsSettings | None = None,
    parent_pid: int | None = None,
    stop_event: threading.Event | None = None,
) -> JobStatus | None:
    """Run the job ``token`` owns to its end and store the outcome; return its final status.

    None means the job was no longer this process's (nothing stored).
    """
    settings = settings or JobsSettings()
    job = database.run(lambda session: get_job(session, token.job_id))
    if job is None or job.status is not JobStatus.RUNNING or job.worker != token.worker:
        return None
    heartbeat = min(5.0, settings.jobs_stale_seconds / 4)
    context = RunningJob(
        database,
        token,
        job.params,
        job.checkpoint if job.attempts > 1 else None,
        progress_seconds=settings.jobs_progress_seconds,
        heartbeat_seconds=heartbeat,
        parent_pid=parent_pid,
        stop_event=stop_event,
    )
    began = time.perf_counter()
    outcome: JobStatus
    result: JsonDict | None = None
    error: str | None = None
    message: str
    context.start()
    try:
        kind = (job_kinds() if kinds is None else kinds).get(job.kind)
        if kind is None:
            raise PermanentError(f"unknown job kind {job.kind!r}: the code that declared it is gone")
        result = kind.run(context)
        if not isinstance(result, dict):
            raise PermanentError(f"the {job.kind} job returned {type(result).__name__}, not a JSON object")
        outcome, message = JobStatus.SUCCEEDED, f"done in {time.perf_counter() - began:.1f} s"
    except JobCancelled:
        outcome, message = JobStatus.CANCELLED, "cancelled"
    except JobLost:
        context.stop()
        return None
    except WorkerStopping:
        context.stop()  # stores the last checkpoint first
        return database.run(lambda session: release_job(session, token, "the jobs worker was stopped"))
    except Exception as raised:
        outcome = JobStatus.FAILED
        error = f"{type(raised).__name__}: {raised}"
        message = "failed"
        logger.error("job %s (%s) failed: %s", job.id, job.kind, error)
        logger.debug("%s", traceback.format_exc())
    context.stop()
    if outcome is JobStatus.SUCCEEDED and result is not None:
        try:
            json.dumps(result, allow_nan=False)
        except (TypeError, ValueError) as bad:
            outcome, result, error, message = JobStatus.FAILED, None, f"the result is not plain JSON: {bad}", "failed"

    def finish(session: Any) -> bool:
        return finish_job(session, token, outcome, result=result, error=error, message=message)

    return outcome if database.run(finish) else None


def main(argv: list[str] | None = None) -> int:
    """The child process of the jobs worker (arguments: JOB_ID WORKER ATTEMPT)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print("usage: python -m workers.jobs JOB_ID WORKER ATTEMPT", file=sys.stderr)
        return 2
    from core.config import get_settings
    from core.db.engine import get_database
    from core.logging_setup import configure_logging, set_log_context

    settings = get_settings()
    configure_logging(settings.log_level.value)
    set_log_context(worker="jobs")
    token = JobToken(int(args[0]), args[1], int(args[2]))
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stopping.set())  # the worker is stopping
    signal.signal(signal.SIGINT, lambda _signum, _frame: stopping.set())
    status = run_job(get_database(), token, parent_pid=os.getppid(), stop_event=stopping)
    logger.info("job %s ended: %s", token.job_id, status.value if status else "taken over elsewhere")
    return 0
