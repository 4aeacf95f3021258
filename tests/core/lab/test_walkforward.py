"""Walk-forward: fold bounds never let a test bar into its training window; folds and stitched equity."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.backtest.engine import BacktestConfig
from core.backtest.strategies import SmaCross
from core.lab.evaluate import TrialEvaluator
from core.lab.search import parse_space
from core.lab.walkforward import WalkForwardError, WindowKind, fold_bounds, run_walk_forward
from tests.core.lab.conftest import random_walk


@settings(max_examples=300, deadline=None)
@given(
    bars=st.integers(200, 2_000_000),
    folds=st.integers(1, 40),
    ratio=st.sampled_from([0.5, 1.0, 2.0, 3.0, 4.5, 8.0]),
    kind=st.sampled_from(list(WindowKind)),
)
def test_no_test_bar_is_ever_in_its_training_window(bars: int, folds: int, ratio: float, kind: WindowKind) -> None:
    try:
        layout = fold_bounds(bars, folds, kind=kind, train_ratio=ratio)
    except WalkForwardError:
        return
    assert len(layout) == folds
    for fold in layout:
        assert 0 <= fold.train_start < fold.train_stop == fold.test_start < fold.test_stop <= bars
        # training bars are train_start..train_stop-1, test bars test_start..test_stop-1: disjoint, training older
        assert max(range(fold.train_start, fold.train_stop)[-1:]) < fold.test_start
    for earlier, later in itertools.pairwise(layout):
        assert earlier.test_stop == later.test_start  # test windows follow each other without gaps or overlap
    assert layout[-1].test_stop == bars
    if kind is WindowKind.ANCHORED:
        assert len({fold.train_start for fold in layout}) == 1
    else:
        assert len({fold.train_stop - fold.train_start for fold in layout}) == 1


def test_layout_of_a_small_example() -> None:
    rolling = fold_bounds(1000, 4, train_ratio=2.0)  # test 166, train 332, 4 bars dropped at the start
    assert [(f.train_start, f.train_stop, f.test_stop) for f in rolling] == [
        (4, 336, 502), (170, 502, 668), (336, 668, 834), (502, 834, 1000),
    ]  # fmt: skip
    anchored = fold_bounds(1000, 4, kind=WindowKind.ANCHORED, train_ratio=2.0)
    assert [(f.train_start, f.train_stop) for f in anchored] == [(4, 336), (4, 502), (4, 668), (4, 834)]
    with pytest.raises(WalkForwardError, match="too few"):
        fold_bounds(100, 10)


def test_walk_forward_picks_on_training_bars_and_trades_the_next_window() -> None:
    evaluator = TrialEvaluator("sma-cross", random_walk(6000, "1h"), BacktestConfig())
    space = parse_space(SmaCross.parameters, ["fast=3:20", "slow=25:100:5"])
    seen: list[tuple[int, int]] = []
    result = run_walk_forward(evaluator, space, folds=4, trials=20, seed=1, progress=lambda d, t: seen.append((d, t)))
    assert len(result.folds) == 4 and seen[-1] == (80, 80)
    for fold in result.folds:
        search_best = evaluator.score(fold.parameters, fold.bounds.train_start, fold.bounds.train_stop)
        assert fold.in_sample["sharpe"] == pytest.approx(search_best.metrics["sharpe"])
        test = evaluator.score(fold.parameters, fold.bounds.test_start, fold.bounds.test_stop)
        assert fold.out_of_sample["total_return"] == pytest.approx(test.metrics["total_return"])
    # the stitched equity compounds the test windows' returns
    growth = 1.0
    for fold in result.folds:
        growth *= 1.0 + fold.out_of_sample["total_return"]
    assert result.oos_equity.iloc[-1] == pytest.approx(10_000.0 * growth)
    assert result.oos_equity.index[0] == evaluator.bars.index[result.folds[0].bounds.test_start]
    assert result.summary()["oos_total_return"] == pytest.approx(growth - 1.0)
    assert "test windows made money" in result.verdict()


def test_walk_forward_resumes_from_finished_folds() -> None:
    evaluator = TrialEvaluator("sma-cross", random_walk(4000, "1h"), BacktestConfig())
    space = parse_space(SmaCross.parameters, ["fast=3:20", "slow=25:100:5"])
    saved: list[dict[str, object]] = []
    partial = run_walk_forward(
        evaluator,
        space,
        folds=3,
        trials=10,
        seed=2,
        on_fold=lambda f: saved.append(f.to_dict()),
        should_stop=lambda: len(saved) >= 2,
    )
    assert partial.stopped and len(partial.folds) == 2
    resumed = run_walk_forward(evaluator, space, folds=3, trials=10, seed=2, previous=saved)
    full = run_walk_forward(evaluator, space, folds=3, trials=10, seed=2)
    assert [fold.to_dict() for fold in resumed.folds] == [fold.to_dict() for fold in full.folds]
