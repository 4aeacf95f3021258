"""Benchmark: the look-ahead check (8 truncations + 2 warm-up starts) against one event-loop backtest.

Run: ``PYTHONPATH=$PWD python bench/lookahead.py [--candles 200000]``

Prints, for ``sma-cross`` (declared kernels) and the documented example ``ema-trend`` (a pandas
``populate_indicators`` hook): the wall time of ``check_lookahead`` with the default cut points, the
wall time of one ``run_event_loop`` over the same candles measured in the same run, their ratio and
the CPU time of the check. Both strategies must come out clean. There is no speed target; the figure
tells the robustness report (which calls the check) what it costs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.backtest import random_walk  # the seeded 1-minute random walk of the backtest benchmark
from core.backtest.engine import BacktestConfig, run_event_loop
from core.backtest.lookahead import check_lookahead
from core.backtest.strategies import build_strategy
from core.backtest.strategy import Strategy
from core.backtest.user_strategies import load_strategy_file

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "ema_trend.py"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candles", type=int, default=200_000)
    args = parser.parse_args()
    bars = random_walk(args.candles)
    (example,) = load_strategy_file(EXAMPLE)
    strategies: list[Strategy] = [build_strategy("sma-cross", {"fast": 10, "slow": 30}), example.cls()]
    run_event_loop(build_strategy("sma-cross"), bars.head(1000), BacktestConfig())  # warm the kernels
    ok = True
    for strategy in strategies:
        began = time.perf_counter()
        run_event_loop(strategy, bars, BacktestConfig())
        baseline = time.perf_counter() - began
        began, cpu = time.perf_counter(), time.process_time()
        report = check_lookahead(strategy, bars)
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
        ok &= report.clean
        print(
            f"{strategy.describe()} on {len(bars):,} candles: look-ahead check {wall:.2f} s (CPU {cpu:.2f} s, "
            f"{len(report.cuts)} cuts + {len({len(bars) // 10, len(bars) // 4})} warm-up starts), "
            f"one event-loop backtest {baseline:.2f} s, ratio {wall / baseline:.1f}×, clean={report.clean}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
