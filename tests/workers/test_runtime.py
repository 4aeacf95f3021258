from __future__ import annotations

import threading
from typing import Any

from core.db.engine import Database
from core.system.heartbeats import list_heartbeats
from core.system.models import WorkerStatus
from workers.runtime import TransientError, WorkerLoop


def test_once_runs_one_pass_and_records_a_heartbeat(sqlite_database: Database) -> None:
    calls: list[int] = []

    def run_pass(_database: Database) -> dict[str, Any]:
        calls.append(1)
        return {"stored": 3}

    loop = WorkerLoop("unit", sqlite_database, run_pass, interval_seconds=3600)
    assert loop.run(once=True) == 0
    assert calls == [1]
    with sqlite_database.session() as session:
        (beat,) = list_heartbeats(session)
        assert beat.worker == "unit"
        assert beat.status is WorkerStatus.STOPPED
        assert beat.passes == 1
        assert beat.info == {"stored": 3}


def test_a_failing_pass_is_recorded_and_the_exit_code_says_so(sqlite_database: Database) -> None:
    def run_pass(_database: Database) -> None:
        raise TransientError("exchange timed out")

    loop = WorkerLoop("failing", sqlite_database, run_pass)
    assert loop.run(once=True) == 1
    with sqlite_database.session() as session:
        (beat,) = list_heartbeats(session)
        assert beat.last_error == "TransientError: exchange timed out"
        assert beat.last_error_at is not None


def test_stop_ends_the_loop_between_passes(sqlite_database: Database) -> None:
    passes: list[int] = []
    loop: WorkerLoop

    def run_pass(_database: Database) -> None:
        passes.append(1)
        if len(passes) == 3:
            loop.stop()

    loop = WorkerLoop("stoppable", sqlite_database, run_pass, interval_seconds=0.01)
    thread = threading.Thread(target=loop.run)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(passes) == 3


def test_the_last_pass_is_its_work_time_the_waits_in_it_apart(sqlite_database: Database) -> None:
    import time

    from core.observability import metrics
    from core.system.shutdown import interruptible_sleep
    from core.system.waiting import waiting

    def run_pass(_database: Database) -> None:
        time.sleep(0.05)  # work
        with waiting():  # what the executor does around its change waiter
            time.sleep(0.4)
        interruptible_sleep(0.4)  # a rate limit or a retry backoff

    loop = WorkerLoop("waiting-unit", sqlite_database, run_pass, interval_seconds=3600)
    assert loop.run(once=True) == 0
    with sqlite_database.session() as session:
        (beat,) = list_heartbeats(session)
        assert beat.last_pass_seconds is not None and 0.04 <= beat.last_pass_seconds < 0.4
    duration = metrics.WORKER_PASS_DURATION.labels("waiting-unit")._sum.get()
    work = metrics.WORKER_PASS_WORK.labels("waiting-unit")._sum.get()
    assert duration >= 0.85 and work == beat.last_pass_seconds
