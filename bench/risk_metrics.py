"""Benchmark: every risk metric for 50 instruments × 10 years of daily returns (target ≤ 100 ms).

Run: ``PYTHONPATH=$PWD python bench/risk_metrics.py``. Prints the best and median wall time of
``metrics_table`` (all metrics, VaR/CVaR at 95 % and 99 %, historical and Gaussian) over
repeated runs, and the time of the same work done series by series with the public functions,
the baseline measured in the same run: the ratio and the CPU time of both are printed, with the load.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import load_line, measure
from core.risk.metrics import (
    annual_volatility,
    cagr,
    calmar_ratio,
    conditional_value_at_risk,
    max_drawdown,
    metrics_table,
    sharpe_ratio,
    sortino_ratio,
    value_at_risk,
)

INSTRUMENTS = 50
DAYS = 3650
REPEATS = 20
TARGET_MS = 100.0


def _returns() -> tuple[pd.DataFrame, dict[str, int]]:
    generator = np.random.default_rng(42)
    values = generator.standard_t(df=4, size=(DAYS, INSTRUMENTS)) * 0.02 + 0.0004
    values[generator.random(values.shape) < 0.002] = np.nan  # a few missing days
    columns = [f"I{number:02d}" for number in range(INSTRUMENTS)]
    index = pd.date_range("2015-01-01", periods=DAYS, freq="D", tz="UTC")
    periods = {name: (365 if number % 2 == 0 else 252) for number, name in enumerate(columns)}
    return pd.DataFrame(values, index=index, columns=columns), periods


def _series_by_series(frame: pd.DataFrame, periods: dict[str, int]) -> None:
    for name in frame.columns:
        series = frame[name]
        ppy = periods[name]
        sharpe_ratio(series, ppy)
        sortino_ratio(series, ppy)
        annual_volatility(series, ppy)
        max_drawdown(series)
        cagr(series, ppy)
        calmar_ratio(series, ppy)
        for level in (0.95, 0.99):
            for method in ("historical", "gaussian"):
                value_at_risk(series, level, method)
                conditional_value_at_risk(series, level, method)


def _timed(work: object, repeats: int) -> list[float]:
    timings = []
    for _ in range(repeats):
        began = time.perf_counter()
        work()  # type: ignore[operator]
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def main() -> None:
    frame, periods = _returns()
    metrics_table(frame, periods)  # warm-up
    table_times = _timed(lambda: metrics_table(frame, periods), REPEATS)
    loop_times = _timed(lambda: _series_by_series(frame, periods), 5)
    best = min(table_times)
    print(f"risk metrics: {INSTRUMENTS} instruments x {DAYS} daily returns, 14 metrics each")
    table_median = statistics.median(table_times)
    loop_median = statistics.median(loop_times)
    print(f"metrics_table: best {best:.1f} ms, median {table_median:.1f} ms (target <= {TARGET_MS:.0f} ms)")
    print(f"series by series (public functions): best {min(loop_times):.1f} ms, median {loop_median:.1f} ms")
    table_cpu = measure(lambda: metrics_table(frame, periods), repeats=REPEATS)
    loop_cpu = measure(lambda: _series_by_series(frame, periods), repeats=5)
    print(
        f"CPU: metrics_table best {table_cpu.cpu * 1000:.1f} ms, series by series best {loop_cpu.cpu * 1000:.1f} ms; "
        f"metrics_table takes {table_cpu.cpu / loop_cpu.cpu:.3f}x the CPU time of the series-by-series baseline "
        f"({loop_cpu.cpu / table_cpu.cpu:.0f}x faster)"
    )
    print(load_line())
    # judged by CPU time (all threads of this process), which a busy machine changes far less than wall time
    print(f"target <= {TARGET_MS:.0f} ms of CPU: {'PASS' if table_cpu.cpu * 1000 <= TARGET_MS else 'FAIL'}")


if __name__ == "__main__":
    main()
