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

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.backtest.engine import BacktestConfig, run_event_loop
from core.backtest.lookahead import check_lookahead
from core.backtest.series import PriceSeries
from core.backtest.strategies import build_strategy
from core.backtest.strategy import Strategy
from core.backtest.user_strategies import load_strategy_file

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "ema_trend.py"


def random_walk(candles: int, seed: int = 7) -> PriceSeries:
    """Seeded 1-minute OHLCV random walk (the same generator as ``bench/backtest.py``)."""
    generator = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(generator.normal(0.0, 0.002, candles)))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(generator.normal(0.0, 0.0003, candles))
    spread = np.abs(generator.normal(0.0, 0.001, candles))
    high = np.maximum(open_, close) * (1.0 + spread)
    low = np.minimum(open_, close) * (1.0 - spread)
    index = pd.date_range("2020-01-01", periods=candles, freq="1min", tz="UTC")
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": np.ones(candles)}, index=index
    )
    return PriceSeries.from_frame(frame, label="random walk", timeframe="1m")


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
