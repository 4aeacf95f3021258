"""The backtest job kinds: parameters checked at submit, a resumed sweep equal to an uninterrupted one."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from core.backtest.engine import BacktestConfig, EngineKind
from core.backtest.job_kinds import JOB_KINDS, run_sweep_job
from core.backtest.sweep import run_sweep
from core.jobs.kinds import JobCancelled, JsonDict
from tests.core.backtest.conftest import real_series
from tests.shared_data import shared_data_path

KINDS = {kind.name: kind for kind in JOB_KINDS}


class Context:
    """A JobContext that keeps what the kind reports (the runner's storage is tested in tests/core/jobs)."""

    def __init__(self, params: Mapping[str, Any], checkpoint: JsonDict | None = None, *, stop_after: int | None = None):
        self.params = params
        self.checkpoint_state = checkpoint
        self.checkpoints: list[JsonDict] = []
        self.stop_after = stop_after

    def progress(self, done: int, total: int, message: str = "") -> None:
        if self.stop_after is not None and done >= self.stop_after:
            raise JobCancelled("stopped by the test")

    def cancelled(self) -> bool:
        return False

    def checkpoint(self, state: JsonDict) -> None:
        self.checkpoints.append(state)


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("backtest-sweep", {"strategy": "nope", "data": "BTC/EUR", "grid": {"fast": [5]}}, "unknown strategy 'nope'"),
        (
            "backtest-sweep",
            {"strategy": "sma-cross", "data": "BTC/EUR", "grid": {"fastest": [5]}},
            "sma-cross has no parameter fastest",
        ),
        ("backtest-sweep", {"strategy": "sma-cross", "data": "BTC/EUR", "grid": {}}, "grid must name at least one"),
        (
            "backtest-sweep",
            {"strategy": "sma-cross", "data": "BTC/EUR", "grid": {"fast": "2:61:1", "slow": "100:299:1"}},
            "12000 combinations is too many",
        ),
        (
            "backtest-sweep",
            {"strategy": "sma-cross", "data": "missing.csv", "grid": {"fast": [5]}},
            "no candle file 'missing.csv'",
        ),
        (
            "backtest-sweep",
            {"strategy": "sma-cross", "data": "BTC/EUR", "grid": {"fast": [5]}, "fee_bps": -1},
            "fee_bps must be a number of at least 0",
        ),
        ("backtest", {"strategy": "sma-cross", "data": "BTC/EUR", "timeframe": "7m"}, "unknown timeframe '7m'"),
        ("backtest", {"strategy": "sma-cross", "data": "BTC/EUR", "start": "soon"}, "start must be a date"),
        ("backtest", {"strategy": "sma-cross", "data": "BTC/EUR", "stop_loss": 2}, "stop loss must be a fraction"),
        ("replay", {"strategy": "sma-cross", "data": "BTC/EUR", "fraction": "1.5"}, "fraction must be in"),
        ("replay", {"strategy": "sma-cross", "data": "BTC/EUR", "cash": "lots"}, "cash must be a number"),
    ],
)
def test_parameters_that_cannot_run_are_refused_with_the_reason(
    kind: str, params: dict[str, Any], message: str
) -> None:
    validate = KINDS[kind].validate
    assert validate is not None
    with pytest.raises(ValueError, match=message):
        validate(params)


def test_a_valid_sweep_is_normalised_and_labelled(tmp_path: Path) -> None:
    csv = shared_data_path("ohlcv", "SPY_1d.csv")
    kind = KINDS["backtest-sweep"]
    assert kind.validate is not None and kind.describe is not None and kind.resumable
    params = kind.validate({"strategy": "sma-cross", "data": str(csv), "grid": {"fast": "5:15:5", "slow": [30, 40]}})
    assert params is not None and params["grid"] == {"fast": [5, 10, 15], "slow": [30, 40]}
    assert params["data"] == str(csv.resolve()) and params["fee_bps"] == 10.0
    assert kind.describe(params) == "Sweep sma-cross over fast (3) × slow (2) on SPY_1d.csv"
    symbol = kind.validate({"strategy": "sma-cross", "data": "BTC/EUR", "grid": {"fast": [5]}})
    assert symbol is not None and kind.describe(symbol).endswith("on BTC/EUR")


def test_a_sweep_stopped_and_resumed_from_its_checkpoint_equals_one_run_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("core.backtest.job_kinds.CHECKPOINT_SECONDS", 0.0)  # checkpoint every row
    csv = shared_data_path("ohlcv", "SPY_1d.csv")
    kind = KINDS["backtest-sweep"]
    assert kind.validate is not None
    params = kind.validate(
        {
            "strategy": "sma-cross",
            "data": str(csv),
            "engine": "event",
            "store": False,
            "grid": {"fast": [5, 10, 15], "slow": [30, 40, 50]},
        }
    )
    assert params is not None
    first = Context(params, stop_after=4)
    with pytest.raises(JobCancelled):
        run_sweep_job(first)
    done = first.checkpoints[-1]
    assert len(done["rows"]) == 4  # the 4th row is made, then progress(4, 9) stops the job
    full = run_sweep("sma-cross", params["grid"], real_series("SPY_1d.csv"), BacktestConfig(), engine=EngineKind.EVENT)
    second = Context(params, done)
    result = run_sweep_job(second)
    assert result["resumed_after"] == 4 and result["combinations"] == 9 and result["run_id"] is None
    final_rows = second.checkpoints[-1]["rows"]
    assert [row["parameters"] for row in final_rows] == [row.parameters for row in full.rows]
    assert [row["metrics"]["sharpe"] for row in final_rows[4:]] == pytest.approx(
        [row.metrics["sharpe"] for row in full.rows[4:]]
    )
    assert result["best"]["parameters"] == full.best("sharpe").parameters  # type: ignore[union-attr]
