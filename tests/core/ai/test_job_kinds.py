"""The AI replay as a job (``ai.history``): refused when it cannot run, run by the job runner, cancellable."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from core.ai.job_kinds import history_job
from core.ai.models import AIHistoryRun, HistoryRunStatus
from core.db.engine import Database
from core.jobs.kinds import JobCancelled, JsonDict
from core.jobs.models import JobStatus
from core.jobs.runner import run_job
from core.jobs.service import JobRefused, claim_next_job, get_job, submit_job
from tests.core.ai.conftest import seed_market

SINCE = "2025-05-20"  # the built-in analysts (no network) answer; seed_market ends on 1 June 2025


def _seed(database: Database) -> None:
    with database.session() as session:
        seed_market(session, end=datetime(2025, 6, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": SINCE}, "give the instrument symbol"),
        ({"symbol": "BTC/EUR"}, "give since"),
        ({"symbol": "BTC/EUR", "since": "yesterday-ish"}, "not a date or ISO time"),
        ({"symbol": "BTC/EUR", "since": SINCE, "every_hours": 0}, "every_hours must be positive"),
        ({"symbol": "BTC/EUR", "since": SINCE, "max_cost_eur": "lots"}, "max_cost_eur must be a number"),
        ({"symbol": "BTC/EUR", "since": "2025-05-30", "until": "2025-05-20"}, "since ≤ until"),
    ],
)
def test_a_job_that_cannot_run_is_refused_and_nothing_is_stored(
    database: Database, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(JobRefused, match=message):
        database.run(lambda session: submit_job(session, "ai.history", params))
    assert database.run(lambda session: get_job(session, 1)) is None


def test_the_runner_carries_out_the_history_run_and_stores_its_report(database: Database) -> None:
    _seed(database)
    job = database.run(
        lambda session: submit_job(session, "ai.history", {"symbol": "BTC/EUR", "since": SINCE, "until": "2025-06-01"})
    )
    assert job.label.startswith("AI history BTC/EUR from 2025-05-20")
    claimed = database.run(lambda session: claim_next_job(session, "test:1"))
    assert claimed is not None
    assert run_job(database, claimed[1]) is JobStatus.SUCCEEDED  # what the jobs worker does
    done = database.run(lambda session: get_job(session, job.id))
    assert done is not None and done.result is not None
    assert done.result["points_done"] == 13 and done.result["status"] == "done"  # 20 May .. 1 June, daily
    assert done.progress_done == done.progress_total == 13
    with database.session() as session:
        run = session.get(AIHistoryRun, done.result["run_id"])
        assert run is not None and run.status is HistoryRunStatus.DONE and run.points_done == 13


class _CancelAfter:
    """A job context whose user cancels after ``steps`` decision times."""

    def __init__(self, database: Database, params: Mapping[str, Any], steps: int) -> None:
        self.database, self._params, self._steps, self._cancelled = database, params, steps, False

    @property
    def params(self) -> Mapping[str, Any]:
        return self._params

    @property
    def checkpoint_state(self) -> JsonDict | None:
        return None

    def progress(self, done: int, total: int, message: str = "") -> None:
        if self._cancelled:
            raise JobCancelled("cancelled")
        self._cancelled = done >= self._steps

    def cancelled(self) -> bool:
        return self._cancelled

    def checkpoint(self, state: JsonDict) -> None:
        raise AssertionError("the AI history run is not resumable")


def test_a_cancelled_job_stops_between_decision_times_and_keeps_what_was_asked(database: Database) -> None:
    _seed(database)
    context = _CancelAfter(database, {"symbol": "BTC/EUR", "since": SINCE, "until": "2025-06-01"}, steps=3)
    with pytest.raises(JobCancelled, match="cancelled after 3 decision times"):
        history_job(context)
    with database.session() as session:
        (run,) = session.query(AIHistoryRun).all()
        assert run.status is HistoryRunStatus.STOPPED and run.stop_reason == "cancelled" and run.points_done == 3
