"""The optuna search: reproducible with a seed, pruning, stop, resume, overfitting measures."""

from __future__ import annotations

import math

import pytest

from core.backtest.engine import BacktestConfig, EngineKind
from core.backtest.results import run_backtest
from core.backtest.strategies import SmaCross, build_strategy
from core.lab.evaluate import TrialEvaluator
from core.lab.search import SearchError, default_space, parse_space, run_search
from tests.core.lab.conftest import random_walk

SPACE = ["fast=3:30", "slow=20:120:5"]


def _evaluator(candles: int = 4000) -> TrialEvaluator:
    return TrialEvaluator("sma-cross", random_walk(candles, "1h"), BacktestConfig())


def test_the_same_seed_gives_the_same_trials() -> None:
    space = parse_space(SmaCross.parameters, SPACE)
    first = run_search(_evaluator(), space, trials=40, seed=3)
    second = run_search(_evaluator(), space, trials=40, seed=3)
    assert [trial.to_dict() for trial in first.trials] == [trial.to_dict() for trial in second.trials]
    other = run_search(_evaluator(), space, trials=40, seed=4)
    assert [trial.parameters for trial in other.trials] != [trial.parameters for trial in first.trials]


def test_the_best_trial_is_what_a_backtest_of_its_parameters_reports() -> None:
    evaluator = _evaluator()
    result = run_search(evaluator, parse_space(SmaCross.parameters, SPACE), trials=60, seed=1)
    best = result.best
    assert best is not None
    completed = [trial.value for trial in result.completed if trial.value is not None]
    assert best.value == max(completed)
    backtest = run_backtest(
        build_strategy("sma-cross", dict(best.parameters)), evaluator.bars, BacktestConfig(), engine=EngineKind.FAST
    )
    assert best.value == pytest.approx(backtest.metrics["sharpe"], rel=1e-12)
    assert result.overfitting.deflated_sharpe is not None and result.overfitting.pbo is not None
    assert result.overfitting.deflated_sharpe.trials >= len({tuple(t.parameters.items()) for t in result.completed})
    assert 0.0 <= result.overfitting.pbo.pbo <= 1.0
    assert result.to_dict()["verdict"]


def test_pruning_abandons_trials_and_invalid_sets_are_recorded() -> None:
    result = run_search(
        _evaluator(6000), parse_space(SmaCross.parameters, ["fast=3:60", "slow=10:80"]), trials=80, seed=2
    )
    counts = result.counts()
    assert counts["pruned"] > 0
    assert counts["invalid"] > 0  # fast >= slow
    invalid = next(trial for trial in result.trials if trial.state == "invalid")
    assert invalid.error == "sma-cross needs fast < slow"
    no_pruning = run_search(
        _evaluator(6000),
        parse_space(SmaCross.parameters, ["fast=3:60", "slow=10:80"]),
        trials=80,
        seed=2,
        pruning=False,
    )
    assert no_pruning.counts()["pruned"] == 0


def test_progress_stop_and_resume() -> None:
    space = parse_space(SmaCross.parameters, SPACE)
    seen: list[tuple[int, int]] = []
    checkpoint: list[dict[str, object]] = []
    partial = run_search(
        _evaluator(),
        space,
        trials=30,
        seed=5,
        progress=lambda done, total: seen.append((done, total)),
        should_stop=lambda: len(seen) >= 12,
        on_trial=lambda trial: checkpoint.append(trial.to_dict()),
    )
    assert partial.stopped and len(partial.trials) == 12 and seen[-1] == (12, 30)
    resumed = run_search(_evaluator(), space, trials=30, seed=5, previous=checkpoint)
    assert len(resumed.trials) == 30 and not resumed.stopped
    assert [trial.to_dict() for trial in resumed.trials[:12]] == checkpoint
    best_of_first = max(t.value for t in partial.completed if t.value is not None)
    assert resumed.best is not None and resumed.best.value is not None and resumed.best.value >= best_of_first


def test_bad_spaces_are_refused_with_a_reason() -> None:
    with pytest.raises(SearchError, match="unknown parameter 'speed'"):
        parse_space(SmaCross.parameters, ["speed=1:3"])
    with pytest.raises(SearchError, match="low < high"):
        parse_space(SmaCross.parameters, ["fast=9:3"])
    with pytest.raises(SearchError, match=r"within 2\.\.1000"):
        parse_space(SmaCross.parameters, ["fast=1:30"])
    with pytest.raises(SearchError, match="whole number"):
        parse_space(SmaCross.parameters, ["fast=2.5:30"])
    with pytest.raises(SearchError, match="objective"):
        run_search(_evaluator(500), default_space(SmaCross.parameters), trials=2, objective="luck")
    assert math.isclose(default_space(SmaCross.parameters)["slow"].high, 5000)
