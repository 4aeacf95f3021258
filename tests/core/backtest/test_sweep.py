from __future__ import annotations

import math

import pytest

from core.backtest.engine import BacktestConfig, EngineKind
from core.backtest.results import run_backtest
from core.backtest.strategies import build_strategy
from core.backtest.strategy import StrategyError
from core.backtest.sweep import overfitting_warning, parse_values, run_sweep

from .conftest import real_series


def test_parse_values() -> None:
    assert parse_values("fast", "5:20:5") == [5, 10, 15, 20]
    assert parse_values("width", "1.5,2,2.5") == [1.5, 2.0, 2.5]
    with pytest.raises(StrategyError, match="start:stop:step"):
        parse_values("fast", "5:1:1")


def test_sweep_reports_progress_and_builds_a_heatmap() -> None:
    bars = real_series("SPY_1d.csv")
    seen: list[tuple[int, int]] = []
    sweep = run_sweep(
        "sma-cross",
        {"fast": [5, 10, 20], "slow": [10, 50]},
        bars,
        BacktestConfig(fee_bps=10.0),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(1, 6), (2, 6), (3, 6), (4, 6), (5, 6), (6, 6)]
    assert sweep.engine is EngineKind.FAST
    heatmap = sweep.heatmap("fast", "slow", "total_return")
    assert list(heatmap.columns) == [5, 10, 20] and list(heatmap.index) == [50, 10]
    assert math.isnan(heatmap.loc[10, 10]) and math.isnan(heatmap.loc[10, 20])  # fast >= slow is invalid
    single = run_backtest(build_strategy("sma-cross", {"fast": 10, "slow": 50}), bars, BacktestConfig(fee_bps=10.0))
    assert heatmap.loc[50, 10] == pytest.approx(single.metrics["total_return"])
    best = sweep.best("total_return")
    assert best is not None and best.metrics["total_return"] == heatmap.max().max()
    assert sum(row.error is not None for row in sweep.rows) == 2


def test_sweep_refuses_unknown_parameters_and_huge_grids() -> None:
    bars = real_series("GOOG_1d.csv")
    with pytest.raises(StrategyError, match="no parameter"):
        run_sweep("sma-cross", {"speed": [1]}, bars)
    with pytest.raises(StrategyError, match="too many"):
        run_sweep("sma-cross", {"fast": list(range(2, 100)), "slow": list(range(3, 100))}, bars)


def test_a_sweep_warns_that_its_best_combination_is_in_sample() -> None:
    bars = real_series("SPY_1d.csv")
    sweep = run_sweep("sma-cross", {"fast": [5, 10, 20], "slow": [50, 100]}, bars, BacktestConfig(fee_bps=10.0))
    warning = sweep.overfitting_warning("sharpe")
    assert warning is not None
    assert "In-sample" in warning and "of 6 combinations" in warning and "beat buy-and-hold" in warning
    best = sweep.best("sharpe")
    assert best is not None and f"({best.metrics['sharpe']:.3g})" in warning


def test_overfitting_warning_needs_a_choice_and_counts_what_beats_the_baseline() -> None:
    assert overfitting_warning([1.0], "sharpe") is None
    assert overfitting_warning([1.0, None, math.nan], "sharpe") is None
    warning = overfitting_warning([0.2, 1.4, 0.6, None], "sharpe", 0.5)
    assert warning is not None
    assert "best sharpe (1.4)" in warning and "of 3 combinations" in warning and "median 0.6" in warning
    assert "2 of 3 beat buy-and-hold's 0.5" in warning


def test_every_sweep_carries_the_deflated_sharpe_and_pbo() -> None:
    from core.backtest.engine import BacktestConfig
    from core.backtest.sweep import run_sweep
    from tests.core.lab.conftest import random_walk

    sweep = run_sweep(
        "sma-cross", {"fast": [3, 5, 8, 13], "slow": [21, 34, 55]}, random_walk(3000, "1h"), BacktestConfig()
    )
    assert sweep.overfitting is not None
    dsr, pbo = sweep.overfitting.deflated_sharpe, sweep.overfitting.pbo
    assert dsr is not None and dsr.trials == 12 and 0.0 <= dsr.dsr <= 1.0
    assert pbo is not None and pbo.trials == 12
    best = sweep.best("sharpe")
    assert best is not None and dsr.sharpe * (365**0.5) == pytest.approx(best.metrics["sharpe"], rel=1e-9)
