"""Benchmark: the strategy lab's optuna search and walk-forward of ``sma-cross`` on 1,000,000 candles.

Run: ``PYTHONPATH=$PWD python bench/strategy_lab.py [--candles 1000000] [--trials 1000] [--folds 10]
[--fold-trials 100]``

Targets (issue 16): a 1,000-trial search ≤ 60 s; a walk-forward of 10 folds × 100 trials ≤ 60 s,
both on the fast path, on this (shared, 2-core) machine. The candles are the seeded 1-minute random
walk of ``bench/backtest.py``. Compilation (numba, cached on disk) is warmed up before timing. The
baseline measured in the same run is one complete fast-path backtest of the same million candles
(``run_fast`` + ``assemble_result``: indicators, signals, simulation, trades, equity, metrics), so
each figure is also given as "backtests' worth" of time. Wall time, CPU time of this process and
the load average are printed for each.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from backtest import random_walk  # bench/backtest.py

from core.backtest.engine import BacktestConfig, run_fast
from core.backtest.results import assemble_result
from core.backtest.strategies import SmaCross, build_strategy
from core.lab.evaluate import TrialEvaluator
from core.lab.search import parse_space, run_search
from core.lab.walkforward import run_walk_forward

TARGET_SECONDS = 60.0
SPACE = ("fast=2:60", "slow=20:300:4")
CACHE_BYTES = 1536 * 1024 * 1024  # room for every line of SPACE on a million candles (130 × 8 MB)


def timed[T](work: Callable[[], T]) -> tuple[float, float, T]:
    began, cpu = time.perf_counter(), time.process_time()
    result = work()
    return time.perf_counter() - began, time.process_time() - cpu, result


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min, {os.cpu_count()} cores)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=1_000_000)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--fold-trials", type=int, default=100)
    parser.add_argument("--seed", type=int, default=42)
    arguments = parser.parse_args()

    bars = random_walk(arguments.candles)
    config = BacktestConfig(fee_bps=10)
    space = parse_space(SmaCross.parameters, SPACE)
    warm = TrialEvaluator("sma-cross", random_walk(5000), config)
    run_search(warm, space, trials=15, seed=1)  # compile and warm up
    strategy = build_strategy("sma-cross", {"fast": 10, "slow": 30})
    run_fast(strategy, random_walk(5000), config)

    baseline_wall, baseline_cpu, _ = timed(
        lambda: assemble_result(strategy, bars, config, run_fast(strategy, bars, config))
    )
    print(
        f"baseline: one full fast-path backtest of {len(bars):,} candles: {baseline_wall:.2f} s wall, "
        f"{baseline_cpu:.2f} s CPU; {load()}"
    )

    evaluator = TrialEvaluator("sma-cross", bars, config, cache_bytes=CACHE_BYTES)
    wall, cpu, search = timed(lambda: run_search(evaluator, space, trials=arguments.trials, seed=arguments.seed))
    counts = search.counts()
    best = search.best
    print(
        f"search: {arguments.trials} optuna trials (TPE, median pruning, seed {arguments.seed}) of sma-cross "
        f"{' '.join(SPACE)} on {len(bars):,} candles: {wall:.1f} s wall, {cpu:.1f} s CPU "
        f"= {wall / baseline_wall:.1f} backtests' worth; {counts['complete']} complete, {counts['pruned']} pruned, "
        f"{counts['invalid']} invalid, {search.evaluations} evaluations, line cache {evaluator.lines.hits} hits / "
        f"{evaluator.lines.misses} misses; best {best.parameters if best else None} sharpe "
        f"{best.value if best else float('nan'):.3f}; {load()} -> {'OK' if wall <= TARGET_SECONDS else 'MISSED'} "
        f"(target ≤ {TARGET_SECONDS:.0f} s)"
    )
    dsr = search.overfitting.deflated_sharpe
    pbo = search.overfitting.pbo
    print(f"  overfitting: DSR {dsr.dsr if dsr else float('nan'):.3f}, PBO {pbo.pbo if pbo else float('nan'):.3f}")

    evaluator = TrialEvaluator("sma-cross", bars, config, cache_bytes=CACHE_BYTES)
    wall, cpu, walk = timed(
        lambda: run_walk_forward(
            evaluator, space, folds=arguments.folds, trials=arguments.fold_trials, seed=arguments.seed
        )
    )
    summary = walk.summary()
    print(
        f"walk-forward: {arguments.folds} rolling folds × {arguments.fold_trials} trials on {len(bars):,} candles: "
        f"{wall:.1f} s wall, {cpu:.1f} s CPU = {wall / baseline_wall:.1f} backtests' worth; mean IS sharpe "
        f"{summary['mean_in_sample']:.2f}, mean OOS sharpe {summary['mean_out_of_sample']:.2f}; {load()} -> "
        f"{'OK' if wall <= TARGET_SECONDS else 'MISSED'} (target ≤ {TARGET_SECONDS:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
