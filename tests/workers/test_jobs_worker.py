"""The jobs worker as a real process (``konsens worker jobs``) on SQLite and PostgreSQL.

Job survival across a worker restart: the worker is SIGKILLed in the middle of a job; a new
worker resumes the resumable sweep from its checkpoint (it does not run the rows done again)
and marks the replay, which cannot resume, interrupted. Also: the idle worker picks up a new job
by its wake-up, a cancel ends a running job, a failure is stored with its message.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.db.engine import Database
from core.demo.seed import _store_candles
from core.jobs.models import JobStatus
from core.jobs.service import JobInfo, get_job, request_cancel, submit_job
from core.market.demo_source import demo_hourly_candles
from core.market.models import AssetClass, Instrument

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2025, 1, 1, tzinfo=UTC)
HOURS = 6000


@pytest.fixture
def market(database: Database) -> Database:
    with database.session() as session:
        instrument = Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add(instrument)
        session.flush()
        _store_candles(session, instrument.id, demo_hourly_candles("BTC/EUR", START, START + timedelta(hours=HOURS)))
    return database


class Worker:
    """``konsens worker jobs`` in a subprocess of its own."""

    def __init__(self, database: Database, home: Path) -> None:
        self.database = database
        self.home = home
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "KONSENS_DATABASE_URL": self.database.url,
            "KONSENS_HOME": str(self.home),
            "KONSENS_METRICS_ENABLED": "false",
            "KONSENS_LOG_LEVEL": "WARNING",
            "KONSENS_JOBS_POLL_SECONDS": "300",  # a job picked up sooner was found by the wake-up
        }
        self.process = subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "jobs"], cwd=ROOT, env=env)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


@pytest.fixture
def worker(database: Database, tmp_path: Path) -> Iterator[Worker]:
    running = Worker(database, tmp_path / "home")
    yield running
    if running.process is not None and running.process.poll() is None:
        running.process.kill()
        running.process.wait(timeout=10)


def _job(database: Database, job_id: int) -> JobInfo:
    job = database.run(lambda session: get_job(session, job_id))
    assert job is not None
    return job


def _until(database: Database, job_id: int, check: Callable[[JobInfo], bool], timeout: float = 120) -> JobInfo:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = _job(database, job_id)
        if check(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not get there in {timeout} s: {_job(database, job_id)}")


def _until_idle(database: Database, timeout: float = 120) -> None:
    """Wait until the worker has started its first pass (its heartbeat says running, waiting for jobs)."""
    from sqlalchemy import select

    from core.system.models import WorkerHeartbeat, WorkerStatus

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with database.session() as session:
            status = session.scalar(select(WorkerHeartbeat.status).where(WorkerHeartbeat.worker == "jobs"))
        if status is WorkerStatus.RUNNING:
            time.sleep(1.0)  # into its wait
            return
        time.sleep(0.1)
    raise AssertionError("the jobs worker did not start its first pass")


def _submit(database: Database, kind: str, params: Mapping[str, object]) -> int:
    with database.session() as session:
        return submit_job(session, kind, params).id


SWEEP = {
    "strategy": "sma-cross",
    "data": "BTC/EUR",
    "timeframe": "1h",
    "engine": "event",
    "grid": {"fast": "2:25:1", "slow": "30:100:5"},
}
# 24 × 15 = 360 combinations
COMBINATIONS = 360


def test_a_killed_worker_s_sweep_resumes_from_its_checkpoint(market: Database, worker: Worker) -> None:
    job_id = _submit(market, "backtest-sweep", SWEEP)
    worker.start()
    running = _until(
        market, job_id, lambda job: job.finished or (job.checkpoint is not None and len(job.checkpoint["rows"]) >= 3)
    )
    assert running.status is JobStatus.RUNNING and running.attempts == 1
    worker.kill()  # mid-job: the job's process sees its worker gone and exits too
    time.sleep(1.0)
    left = _job(market, job_id)
    assert left.status is JobStatus.RUNNING and left.progress_done < COMBINATIONS  # nobody finished it
    checkpointed = len(left.checkpoint["rows"]) if left.checkpoint else 0
    worker.start()
    done = _until(market, job_id, lambda job: job.finished, timeout=300)
    assert done.status is JobStatus.SUCCEEDED, done.error
    assert done.attempts == 2
    assert done.result is not None and done.result["combinations"] == COMBINATIONS
    assert done.result["resumed_after"] >= checkpointed >= 3  # the rows done were not run again
    assert done.result["run_id"] is not None and done.progress_done == COMBINATIONS
    assert worker.stop() == 0


def test_a_killed_worker_s_replay_is_marked_interrupted(market: Database, worker: Worker, tmp_path: Path) -> None:
    job_id = _submit(
        market,
        "replay",
        {
            "strategy": "sma-cross",
            "data": "BTC/EUR",
            "timeframe": "1h",
            "parameters": {"fast": 4, "slow": 12},
            "target": f"sqlite:///{tmp_path / 'replay.db'}",
        },
    )
    worker.start()
    _until(market, job_id, lambda job: job.progress_done >= 20)
    worker.kill()
    worker.start()
    stopped = _until(market, job_id, lambda job: job.finished)
    assert stopped.status is JobStatus.INTERRUPTED
    assert stopped.error is not None and "a replay job cannot resume, submit it again" in stopped.error
    assert worker.stop() == 0


def test_the_idle_worker_wakes_for_a_job_runs_fails_and_cancels(market: Database, worker: Worker) -> None:
    worker.start()
    _until_idle(market)
    job_id = _submit(
        market,
        "backtest",
        {"strategy": "sma-cross", "data": "BTC/EUR", "timeframe": "1h", "parameters": {"fast": 5, "slow": 20}},
    )
    done = _until(market, job_id, lambda job: job.finished)
    assert done.status is JobStatus.SUCCEEDED and done.result is not None and done.result["run_id"] > 0
    assert done.started_at is not None
    picked_up = (done.started_at - done.created_at).total_seconds()
    assert picked_up < 10, f"picked up after {picked_up:.1f} s: not by the wake-up (the safety poll is 300 s)"
    failing = _submit(market, "backtest", {"strategy": "sma-cross", "data": "ETH/EUR", "timeframe": "1h"})
    failed = _until(market, failing, lambda job: job.finished)
    assert (
        failed.status is JobStatus.FAILED and failed.error == "PriceDataError: no instrument 'ETH/EUR' in the database"
    )
    long = _submit(market, "backtest-sweep", SWEEP)
    _until(market, long, lambda job: job.progress_done >= 2)
    market.run(lambda session: request_cancel(session, long))
    cancelled = _until(market, long, lambda job: job.finished, timeout=10)
    assert cancelled.status is JobStatus.CANCELLED and cancelled.progress_done < COMBINATIONS
    assert worker.stop() == 0


def test_an_idle_pass_counts_its_wait_as_waiting_not_work(sqlite_database: Database) -> None:
    """The System page's "Last pass" is work time: a pass with nothing queued waits, and that wait is not work."""
    from core.jobs.settings import JobsSettings
    from core.system.waiting import waited_seconds
    from workers.jobs import JobsLoop, build_worker

    loop = build_worker(sqlite_database, settings=JobsSettings(jobs_pass_seconds=0.6, jobs_poll_seconds=0.2))
    assert isinstance(loop, JobsLoop)
    loop.once_mode = False
    before, started = waited_seconds(), time.monotonic()
    try:
        assert loop.jobs_pass(sqlite_database)["jobs"] == []
    finally:
        if loop.waiter is not None:
            loop.waiter.close()
    elapsed, waited = time.monotonic() - started, waited_seconds() - before
    assert elapsed >= 0.55
    assert waited >= 0.5 and elapsed - waited < 0.3
