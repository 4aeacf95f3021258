"""The lab's fast trial scores equal what a stored backtest reports."""

from __future__ import annotations

import numpy as np
import pytest

from core.backtest.engine import BacktestConfig, EngineKind
from core.backtest.results import run_backtest
from core.backtest.series import PriceSeries
from core.backtest.strategies import build_strategy
from core.lab.evaluate import TrialEvaluator
from tests.core.lab.conftest import random_walk


@pytest.mark.parametrize(
    ("name", "parameters"),
    [("sma-cross", {"fast": 5, "slow": 20}), ("rsi-reversion", {"period": 10}), ("bollinger-breakout", {})],
)
def test_a_trial_scores_what_the_backtest_reports(name: str, parameters: dict[str, object]) -> None:
    bars = random_walk(6000, "1h")
    config = BacktestConfig(fee_bps=10, slippage_bps=5, stop_loss=0.03)
    evaluator = TrialEvaluator(name, bars, config)
    score = evaluator.score(parameters)
    result = run_backtest(build_strategy(name, parameters), bars, config, engine=EngineKind.FAST)
    for metric in ("sharpe", "sortino", "total_return", "cagr", "calmar", "final_equity"):
        assert score.metrics[metric] == pytest.approx(result.metrics[metric], rel=1e-12), metric
    assert score.metrics["max_drawdown"] == pytest.approx(result.metrics["max_drawdown"], rel=1e-9)


def test_a_window_is_the_full_run_cut_at_its_end_and_traded_from_flat() -> None:
    """A window that starts at bar 0 is the same as backtesting only those bars (everything is causal)."""
    bars = random_walk(5000, "1h")
    config = BacktestConfig()
    evaluator = TrialEvaluator("sma-cross", bars, config)
    prefix = PriceSeries.from_frame(bars.to_frame().iloc[:3000], label="prefix")
    score = evaluator.score({"fast": 8, "slow": 40}, 0, 3000)
    result = run_backtest(build_strategy("sma-cross", {"fast": 8, "slow": 40}), prefix, config, engine=EngineKind.FAST)
    assert score.metrics["sharpe"] == pytest.approx(result.metrics["sharpe"], rel=1e-12)
    later = evaluator.score({"fast": 8, "slow": 40}, 3000, 5000)
    assert later.daily_returns.shape[0] == len(np.unique(bars.index[3000:5000].normalize()))


def test_invalid_parameters_get_an_error_not_a_score() -> None:
    evaluator = TrialEvaluator("sma-cross", random_walk(500, "1h"), BacktestConfig())
    score = evaluator.score({"fast": 30, "slow": 20})
    assert score.error == "sma-cross needs fast < slow" and score.metrics == {}


def test_the_line_cache_stays_within_its_budget() -> None:
    bars = random_walk(10_000, "1m")
    evaluator = TrialEvaluator("sma-cross", bars, BacktestConfig(), cache_bytes=3 * 8 * 10_000)
    for fast in range(2, 12):
        evaluator.score({"fast": fast, "slow": 30})
    assert evaluator.lines.misses == 11 and evaluator.lines.hits == 9
    assert len(evaluator.lines._lines) == 3


def test_a_trial_with_protections_scores_what_the_backtest_reports() -> None:
    from core.backtest.protections import Protections

    bars = random_walk(6000, "1h")
    config = BacktestConfig(
        stop_loss=0.01, protections=Protections(daily_loss_limit=0.01, cooldown_minutes=600, stoploss_guard_count=2)
    )
    evaluator = TrialEvaluator("sma-cross", bars, config)
    for start, stop in ((0, 6000), (2000, 5000)):
        window = PriceSeries.from_frame(bars.to_frame().iloc[start:stop], label="window")
        score = evaluator.score({"fast": 5, "slow": 20}, start, stop)
        strategy = build_strategy("sma-cross", {"fast": 5, "slow": 20})
        result = run_backtest(strategy, window, config, engine=EngineKind.FAST)
        if start == 0:
            assert score.metrics["sharpe"] == pytest.approx(result.metrics["sharpe"], rel=1e-12)
        assert result.extra["blocked_orders"]
