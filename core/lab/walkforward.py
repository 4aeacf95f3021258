"""Walk-forward analysis: optimise on a training window, trade the next window with what was chosen.

The bars are cut into ``folds`` test windows of equal length that follow each other to the end of
the data. Each fold's training window ends where its test window starts:

- **rolling**: the training window has a fixed length (``train_ratio`` test windows) and moves
  with the test window;
- **anchored**: the training window always starts at the first bar and grows.

Bars left over because the data does not divide evenly are dropped from the start. In each fold
the optuna search (``core.lab.search``) picks parameters on the training bars only; those
parameters then trade the test bars from flat with the configured cash. Indicators are causal,
so the test window's first bars see their real history (training bars), never a later bar; no
test bar is ever part of its training window (tested).

The stitched out-of-sample equity chains the test windows: each starts from the previous one's
final value (the fold's returns compounded), so it shows what trading the walk-forward would have
earned.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from core.backtest.strategy import StrategyError
from core.lab.evaluate import TrialEvaluator
from core.lab.search import Progress, SearchRange, StopCheck, run_search

MIN_TRAIN_BARS = 50
MIN_TEST_BARS = 10
MAX_FOLDS = 100


class WindowKind(StrEnum):
    ROLLING = "rolling"
    ANCHORED = "anchored"


class WalkForwardError(StrategyError):
    """A walk-forward that cannot be laid out on the data as asked."""


@dataclass(frozen=True)
class FoldBounds:
    """Bar positions of one fold: training ``train_start..train_stop-1``, test ``test_start..test_stop-1``."""

    number: int
    train_start: int
    train_stop: int
    test_start: int
    test_stop: int


def fold_bounds(
    bars: int, folds: int, *, kind: WindowKind = WindowKind.ROLLING, train_ratio: float = 3.0
) -> list[FoldBounds]:
    """Lay out ``folds`` folds over ``bars`` bars (see the module docstring)."""
    if not 1 <= folds <= MAX_FOLDS:
        raise WalkForwardError(f"the number of folds must be between 1 and {MAX_FOLDS}, got {folds}")
    if not train_ratio > 0 or not math.isfinite(train_ratio):
        raise WalkForwardError(f"the training window must be a positive number of test windows, got {train_ratio}")
    test = int(bars // (folds + train_ratio))
    train = int(test * train_ratio)
    if test < MIN_TEST_BARS or train < MIN_TRAIN_BARS:
        raise WalkForwardError(
            f"{bars} bars are too few for {folds} folds with a training window of {train_ratio:g} test windows "
            f"(each test window needs {MIN_TEST_BARS} bars and each training window {MIN_TRAIN_BARS})"
        )
    offset = bars - (train + folds * test)
    layout = []
    for number in range(folds):
        test_start = offset + train + number * test
        train_start = offset if kind is WindowKind.ANCHORED else test_start - train
        layout.append(FoldBounds(number, train_start, test_start, test_start, test_start + test))
    return layout


@dataclass(frozen=True)
class FoldResult:
    """One fold: where it lies, what the search chose, and how that did in and out of sample."""

    bounds: FoldBounds
    train_period: tuple[str, str]
    test_period: tuple[str, str]
    parameters: dict[str, int | float]
    in_sample: dict[str, float]
    out_of_sample: dict[str, float]
    trials: int
    pbo: float | None = None
    dsr: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.bounds.number,
            "train": [self.bounds.train_start, self.bounds.train_stop],
            "test": [self.bounds.test_start, self.bounds.test_stop],
            "train_period": list(self.train_period),
            "test_period": list(self.test_period),
            "parameters": self.parameters,
            "in_sample": _finite(self.in_sample),
            "out_of_sample": _finite(self.out_of_sample),
            "trials": self.trials,
            "pbo": self.pbo,
            "dsr": self.dsr,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FoldResult:
        train, test = data["train"], data["test"]
        return cls(
            FoldBounds(int(data["number"]), int(train[0]), int(train[1]), int(test[0]), int(test[1])),
            (str(data["train_period"][0]), str(data["train_period"][1])),
            (str(data["test_period"][0]), str(data["test_period"][1])),
            dict(data["parameters"]),
            {key: (math.nan if value is None else float(value)) for key, value in data["in_sample"].items()},
            {key: (math.nan if value is None else float(value)) for key, value in data["out_of_sample"].items()},
            int(data["trials"]),
            data.get("pbo"),
            data.get("dsr"),
        )


@dataclass
class WalkForwardResult:
    """Every fold and the stitched out-of-sample equity."""

    strategy: str
    kind: WindowKind
    objective: str
    folds: list[FoldResult]
    oos_equity: pd.Series = field(repr=False)  # stitched, at each test bar's close
    initial_cash: float = 10_000.0
    seconds: float = 0.0
    stopped: bool = False

    def summary(self) -> dict[str, float]:
        """Mean in-sample and out-of-sample objective, the OOS total return and the efficiency (OOS / IS)."""
        in_sample = [fold.in_sample.get(self.objective, math.nan) for fold in self.folds]
        out_sample = [fold.out_of_sample.get(self.objective, math.nan) for fold in self.folds]
        mean_in = _nanmean(in_sample)
        mean_out = _nanmean(out_sample)
        total = float(self.oos_equity.iloc[-1]) / self.initial_cash - 1.0 if len(self.oos_equity) else math.nan
        profitable = sum(
            value > 0 for value in (fold.out_of_sample.get("total_return", math.nan) for fold in self.folds)
        )
        return {
            "mean_in_sample": mean_in,
            "mean_out_of_sample": mean_out,
            "efficiency": mean_out / mean_in if mean_in and math.isfinite(mean_in) and mean_in > 0 else math.nan,
            "oos_total_return": total,
            "profitable_folds": float(profitable),
        }

    def verdict(self) -> str:
        summary = self.summary()
        name = self.objective
        mean_in, mean_out = summary["mean_in_sample"], summary["mean_out_of_sample"]
        folds = len(self.folds)
        text = (
            f"Out of sample the chosen parameters averaged {name} {mean_out:.2f} against {mean_in:.2f} in sample; "
            f"{summary['profitable_folds']:.0f} of {folds} test windows made money."
        )
        if not math.isfinite(mean_out) or not math.isfinite(mean_in):
            return text
        if mean_out <= 0:
            return text + " The optimisation does not carry over to new data."
        if summary["efficiency"] >= 0.5:
            return text + " Most of the in-sample edge survived on data the search never saw."
        return text + " Much of the in-sample edge is lost on new data: expect less than the backtest shows."

    def to_dict(self) -> dict[str, Any]:
        thinned = self.oos_equity.iloc[:: max(1, len(self.oos_equity) // 2000)]
        return {
            "strategy": self.strategy,
            "kind": self.kind.value,
            "objective": self.objective,
            "folds": [fold.to_dict() for fold in self.folds],
            "summary": _finite(self.summary()),
            "verdict": self.verdict(),
            "oos_equity": {"ts": [ts.isoformat() for ts in thinned.index], "equity": thinned.tolist()},
            "seconds": self.seconds,
            "stopped": self.stopped,
        }


def _nanmean(values: Sequence[float]) -> float:
    finite = [value for value in values if math.isfinite(value)]
    return sum(finite) / len(finite) if finite else math.nan


def _finite(values: Mapping[str, float]) -> dict[str, float | None]:
    return {key: (value if math.isfinite(value) else None) for key, value in values.items()}


def run_walk_forward(
    evaluator: TrialEvaluator,
    space: Mapping[str, SearchRange],
    *,
    folds: int,
    trials: int,
    kind: WindowKind = WindowKind.ROLLING,
    train_ratio: float = 3.0,
    seed: int | None = None,
    objective: str = "sharpe",
    pruning: bool = True,
    progress: Progress | None = None,
    should_stop: StopCheck | None = None,
    previous: Sequence[Mapping[str, Any]] = (),
    on_fold: Callable[[FoldResult], None] | None = None,
) -> WalkForwardResult:
    """Run the walk-forward (see the module docstring); progress counts trials over all folds.

    ``previous`` holds finished folds of an earlier attempt (``FoldResult.to_dict()``): they are
    kept and not searched again. ``on_fold`` sees each new fold (e.g. to checkpoint).
    """
    began = time.perf_counter()
    bars = evaluator.bars
    layout = fold_bounds(len(bars), folds, kind=kind, train_ratio=train_ratio)
    results: list[FoldResult] = [FoldResult.from_dict(fold) for fold in previous][: len(layout)]
    for kept, bounds in zip(results, layout, strict=False):
        if kept.bounds != bounds:
            raise WalkForwardError("the checkpoint's folds do not match this walk-forward's layout")
    total = folds * trials
    stopped = False
    for bounds in layout[len(results) :]:
        if should_stop is not None and should_stop():
            stopped = True
            break
        done_before = bounds.number * trials

        def fold_progress(done: int, _total: int, base: int = done_before) -> None:
            if progress is not None:
                progress(base + done, total)

        search = run_search(
            evaluator,
            space,
            trials=trials,
            seed=None if seed is None else seed + bounds.number,
            objective=objective,
            pruning=pruning,
            start=bounds.train_start,
            stop=bounds.train_stop,
            progress=fold_progress,
            should_stop=should_stop,
        )
        if search.stopped:
            stopped = True
            break
        best = search.best
        if best is None:
            raise WalkForwardError(f"fold {bounds.number + 1}: no parameter set could be scored on its training window")
        test = evaluator.score(best.parameters, bounds.test_start, bounds.test_stop)
        fold = FoldResult(
            bounds=bounds,
            train_period=_period(evaluator, bounds.train_start, bounds.train_stop),
            test_period=_period(evaluator, bounds.test_start, bounds.test_stop),
            parameters=best.parameters,
            in_sample=dict(best.metrics),
            out_of_sample=dict(test.metrics),
            trials=len(search.trials),
            pbo=search.overfitting.pbo.pbo if search.overfitting.pbo else None,
            dsr=search.overfitting.deflated_sharpe.dsr if search.overfitting.deflated_sharpe else None,
        )
        results.append(fold)
        if on_fold is not None:
            on_fold(fold)
    equity = stitched_equity(evaluator, results)
    return WalkForwardResult(
        strategy=evaluator.strategy_name,
        kind=kind,
        objective=objective,
        folds=results,
        oos_equity=equity,
        initial_cash=float(evaluator.config.initial_cash),
        seconds=time.perf_counter() - began,
        stopped=stopped,
    )


def _period(evaluator: TrialEvaluator, start: int, stop: int) -> tuple[str, str]:
    index = evaluator.bars.index
    return index[start].isoformat(), index[stop - 1].isoformat()


def stitched_equity(evaluator: TrialEvaluator, folds: Sequence[FoldResult]) -> pd.Series:
    """The test windows' equity chained: each window's returns compounded onto the previous end value."""
    pieces: list[np.ndarray] = []
    positions: list[np.ndarray] = []
    value = float(evaluator.config.initial_cash)
    for fold in folds:
        strategy = evaluator.build(fold.parameters)
        equity = evaluator.equity(strategy, fold.bounds.test_start, fold.bounds.test_stop)
        scaled = equity * (value / float(evaluator.config.initial_cash))
        pieces.append(scaled)
        positions.append(np.arange(fold.bounds.test_start, fold.bounds.test_stop))
        value = float(scaled[-1])
    if not pieces:
        return pd.Series(dtype=float, name="oos_equity")
    index = evaluator.bars.index[np.concatenate(positions)]
    return pd.Series(np.concatenate(pieces), index=index, name="oos_equity")
