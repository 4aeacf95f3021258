"""The job state table, tested exhaustively: every legal move is allowed, every other one raises."""

from __future__ import annotations

import itertools

import pytest

from core.jobs.models import JobStatus
from core.jobs.service import TERMINAL_STATUSES, TRANSITIONS, IllegalJobTransition, check_transition

S = JobStatus
# The specification, written out independently of the code's table.
LEGAL_MOVES = {
    (S.QUEUED, S.RUNNING), (S.QUEUED, S.CANCELLED),
    (S.RUNNING, S.SUCCEEDED), (S.RUNNING, S.FAILED), (S.RUNNING, S.CANCELLED), (S.RUNNING, S.INTERRUPTED),
    (S.RUNNING, S.QUEUED),  # its worker stopped; a resumable kind waits to resume from its checkpoint
}  # fmt: skip
ALL_MOVES = list(itertools.product(JobStatus, JobStatus))


def test_the_table_is_the_specification() -> None:
    table = {(source, target) for source, targets in TRANSITIONS.items() for target in targets}
    assert table == LEGAL_MOVES
    assert set(TRANSITIONS) == set(JobStatus)
    assert {S.SUCCEEDED, S.FAILED, S.CANCELLED, S.INTERRUPTED} == TERMINAL_STATUSES


@pytest.mark.parametrize(("source", "target"), sorted(LEGAL_MOVES), ids=lambda s: s.value)
def test_every_legal_move_is_allowed(source: JobStatus, target: JobStatus) -> None:
    check_transition(source, target)


@pytest.mark.parametrize(
    ("source", "target"), [move for move in ALL_MOVES if move not in LEGAL_MOVES], ids=lambda s: s.value
)
def test_every_other_move_raises(source: JobStatus, target: JobStatus) -> None:
    with pytest.raises(IllegalJobTransition, match=f"{source.value} → {target.value}"):
        check_transition(source, target)
