"""Benchmark: SMA crossover over 1,000,000 candles — fast path, event loop and backtrader side by side.

Run: ``PYTHONPATH=$PWD python bench/backtest.py [--candles 1000000] [--backtrader-candles 100000]``

The candles are a seeded random walk (one instrument, 1-minute bars). The fast path and the
event loop run over all of them; backtrader runs over the first ``--backtrader-candles`` (it is
too slow for a million within a sensible time) and its rate is stated per candle. The trades of
all three over that same slice must be identical, and the fast path and the event loop must
agree over the full million. Compilation (numba, cached on disk) is warmed up before timing.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.backtest.backtrader_bridge import run_backtrader
from core.backtest.compare import trades_match
from core.backtest.engine import BacktestConfig, run_event_loop, run_fast
from core.backtest.series import PriceSeries
from core.backtest.strategies import build_strategy

TARGET_FAST = 1_000_000
TARGET_EVENT = 200_000
TARGET_RATIO = 50


def random_walk(candles: int, seed: int = 7) -> PriceSeries:
    """Seeded 1-minute OHLCV random walk."""
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


def best_of(runs: int, work: object) -> tuple[float, object]:
    best = math.inf
    result = None
    for _ in range(runs):
        began = time.perf_counter()
        result = work()  # type: ignore[operator]
        best = min(best, time.perf_counter() - began)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=1_000_000)
    parser.add_argument("--backtrader-candles", type=int, default=100_000)
    parser.add_argument("--fast", type=int, default=10)
    parser.add_argument("--slow", type=int, default=30)
    arguments = parser.parse_args()

    bars = random_walk(arguments.candles)
    strategy = build_strategy("sma-cross", {"fast": arguments.fast, "slow": arguments.slow})
    config = BacktestConfig(fee_bps=10.0)
    small = random_walk(2_000)
    run_fast(strategy, small, config)  # warm up the compiled kernels
    run_event_loop(strategy, small, config)

    fast_seconds, fast_log = best_of(3, lambda: run_fast(strategy, bars, config))
    event_seconds, event_log = best_of(2, lambda: run_event_loop(strategy, bars, config))
    full_match = trades_match(fast_log.trades, event_log.trades)  # type: ignore[attr-defined]

    slice_bars = bars.between(end=bars.index[min(arguments.backtrader_candles, len(bars)) - 1] + pd.Timedelta(1, "s"))
    backtrader_seconds, backtrader_log = best_of(1, lambda: run_backtrader(strategy, slice_bars, config))
    slice_event = run_event_loop(strategy, slice_bars, config)
    slice_fast = run_fast(strategy, slice_bars, config)
    slice_match = trades_match(slice_event.trades, backtrader_log.trades) and trades_match(  # type: ignore[attr-defined]
        slice_fast.trades,
        backtrader_log.trades,  # type: ignore[attr-defined]
    )

    fast_rate = len(bars) / fast_seconds
    event_rate = len(bars) / event_seconds
    backtrader_rate = len(slice_bars) / backtrader_seconds
    print(f"SMA crossover (fast={arguments.fast}, slow={arguments.slow}), fee 10 bp, one instrument")
    print(f"{'engine':<12} {'candles':>10} {'seconds':>9} {'candles/s':>12} {'trades':>8}")
    print(f"{'fast path':<12} {len(bars):>10,} {fast_seconds:>9.3f} {fast_rate:>12,.0f} {len(fast_log.trades):>8}")  # type: ignore[attr-defined]
    print(f"{'event loop':<12} {len(bars):>10,} {event_seconds:>9.3f} {event_rate:>12,.0f} {len(event_log.trades):>8}")  # type: ignore[attr-defined]
    print(
        f"{'backtrader':<12} {len(slice_bars):>10,} {backtrader_seconds:>9.3f} {backtrader_rate:>12,.0f} "
        f"{len(backtrader_log.trades):>8}  (timed on the first {len(slice_bars):,} candles; rate per candle)"  # type: ignore[attr-defined]
    )
    fast_ratio, event_ratio = fast_rate / backtrader_rate, event_rate / backtrader_rate
    print(f"fast path / backtrader:  {fast_ratio:,.0f} ×")
    print(f"event loop / backtrader: {event_ratio:,.0f} ×")
    print(f"identical trades: fast path = event loop over {len(bars):,} candles: {full_match}; "
          f"all three over {len(slice_bars):,} candles: {slice_match}")  # fmt: skip
    checks = {
        f"fast path ≥ {TARGET_FAST:,} candles/s": fast_rate >= TARGET_FAST,
        f"event loop ≥ {TARGET_EVENT:,} candles/s": event_rate >= TARGET_EVENT,
        f"both ≥ {TARGET_RATIO} × backtrader": min(fast_ratio, event_ratio) >= TARGET_RATIO,
        "identical trades": full_match and slice_match,
    }
    for label, passed in checks.items():
        print(f"  [{'ok' if passed else 'MISSED'}] {label}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
