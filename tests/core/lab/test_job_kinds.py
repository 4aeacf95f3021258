"""The lab's job kinds against the job contract, with a small in-memory JobContext."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from core.db.engine import get_database, reset_database_cache
from core.db.migrate import upgrade_database
from core.jobs.kinds import JobCancelled, JsonDict, job_kinds
from core.lab.models import LabKind
from core.lab.service import LabRequestError
from core.lab.store import list_lab_results, load_lab_result
from tests.core.lab.conftest import random_walk


class MemoryContext:
    """A JobContext kept in memory: progress and checkpoints recorded, cancel after N progress calls."""

    def __init__(
        self, params: Mapping[str, Any], *, checkpoint: JsonDict | None = None, cancel_after: int | None = None
    ) -> None:
        self._params = dict(params)
        self._checkpoint = checkpoint
        self.cancel_after = cancel_after
        self.progress_calls: list[tuple[int, int, str]] = []
        self.checkpoints: list[JsonDict] = []

    @property
    def params(self) -> Mapping[str, Any]:
        return self._params

    @property
    def checkpoint_state(self) -> JsonDict | None:
        return self._checkpoint

    def cancelled(self) -> bool:
        return self.cancel_after is not None and len(self.progress_calls) >= self.cancel_after

    def progress(self, done: int, total: int, message: str = "") -> None:
        if self.cancelled():
            raise JobCancelled("cancelled by the user")
        self.progress_calls.append((done, total, message))

    def checkpoint(self, state: JsonDict) -> None:
        self.checkpoints.append(state)
        self._checkpoint = state


@pytest.fixture
def lab_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("KONSENS_HOME", str(tmp_path))
    monkeypatch.setenv("KONSENS_DATABASE_URL", f"sqlite:///{tmp_path / 'lab.db'}")
    reset_database_cache()
    upgrade_database(get_database())
    csv = tmp_path / "walk.csv"
    random_walk(3000, "1h").to_frame().to_csv(csv, index_label="timestamp")
    yield str(csv)
    reset_database_cache()


def _params(data: str, **extra: Any) -> dict[str, Any]:
    return {
        "strategy": "sma-cross",
        "data": data,
        "space": ["fast=3:20", "slow=25:100:5"],
        "trials": 12,
        "seed": 3,
        "folds": 3,
        **extra,
    }


def test_the_lab_declares_its_three_kinds() -> None:
    kinds = job_kinds()
    assert {"lab.walk_forward", "lab.search", "lab.robustness"} <= set(kinds)
    assert kinds["lab.walk_forward"].resumable and kinds["lab.search"].resumable
    assert not kinds["lab.robustness"].resumable


def test_walk_forward_job_reports_progress_checkpoints_and_stores(lab_database: str) -> None:
    context = MemoryContext(_params(lab_database))
    answer = job_kinds()["lab.walk_forward"].run(context)
    assert answer["folds"] == 3 and len(context.checkpoints) == 3
    assert context.progress_calls[-1][0] == context.progress_calls[-1][1] == 36
    with get_database().session() as session:
        stored = load_lab_result(session, answer["result_id"])
    assert stored is not None and stored.kind is LabKind.WALK_FORWARD and len(stored.result["folds"]) == 3
    assert stored.request["trials"] == 12 and stored.verdict == answer["verdict"]


def test_a_cancelled_walk_forward_stops_and_resumes_from_its_checkpoint(lab_database: str) -> None:
    first = MemoryContext(_params(lab_database), cancel_after=20)
    with pytest.raises(JobCancelled):
        job_kinds()["lab.walk_forward"].run(first)
    assert len(first.checkpoints[-1]["folds"]) == 1  # one fold (12 trials) finished before the cancel
    resumed = MemoryContext(_params(lab_database), checkpoint=first.checkpoints[-1])
    answer = job_kinds()["lab.walk_forward"].run(resumed)
    assert answer["folds"] == 3
    assert resumed.progress_calls[0][0] == 13  # the first fold was not searched again
    uninterrupted = job_kinds()["lab.walk_forward"].run(MemoryContext(_params(lab_database)))
    assert answer["summary"] == uninterrupted["summary"]


def test_search_job_resumes_from_checkpointed_trials(lab_database: str) -> None:
    first = MemoryContext(_params(lab_database, trials=60), cancel_after=30)
    with pytest.raises(JobCancelled):
        job_kinds()["lab.search"].run(first)
    saved = first.checkpoints[-1]["trials"]
    assert len(saved) == 30  # checkpointed at 25 trials, and again when the cancel stopped it
    resumed = MemoryContext(_params(lab_database, trials=60), checkpoint=first.checkpoints[-1])
    answer = job_kinds()["lab.search"].run(resumed)
    assert answer["counts"]["complete"] + answer["counts"]["pruned"] + answer["counts"]["invalid"] == 60
    assert resumed.progress_calls[0][0] == 31
    with get_database().session() as session:
        assert [item.kind for item in list_lab_results(session)] == [LabKind.SEARCH]


def test_robustness_job_stores_every_section(lab_database: str) -> None:
    context = MemoryContext(_params(lab_database, config={"fee_bps": 10, "slippage_bps": 5}))
    answer = job_kinds()["lab.robustness"].run(context)
    with get_database().session() as session:
        stored = load_lab_result(session, answer["result_id"])
    assert stored is not None
    keys = [section["key"] for section in stored.result["sections"]]
    assert keys == ["lookahead", "walk_forward", "overfitting", "costs", "benchmark"]
    costs = stored.result["sections"][3]["figures"]["rows"]
    assert [row["fee_bps"] for row in costs] == [0, 10, 20, 30]
    assert costs[0]["total_return"] >= costs[1]["total_return"] >= costs[3]["total_return"]


def test_bad_job_parameters_are_refused_before_any_work(lab_database: str) -> None:
    with pytest.raises(LabRequestError, match="unknown lab request field colour"):
        job_kinds()["lab.search"].run(MemoryContext({**_params(lab_database), "colour": "red"}))
    with pytest.raises(LabRequestError, match="objective"):
        job_kinds()["lab.search"].run(MemoryContext(_params(lab_database, objective="luck")))
