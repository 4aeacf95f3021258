"""Score one parameter set fast, over all bars or a window of them: the inner loop of searches.

A search or walk-forward scores thousands of parameter sets on the same bars. :class:`TrialEvaluator`
does what ``run_fast`` + ``assemble_result`` do, without building ``Trade`` objects or pandas
frames:

- indicator lines are computed once per distinct indicator over the *whole* series and kept in a
  bounded cache (indicators are causal, so the lines of a window are the window's slice of them:
  a window's first bars see their real history, never a later bar);
- signals are computed over the bars up to the window's end and sliced, so the first bar of a
  window decides as it would have live;
- the compiled simulator (``core.backtest.engine.simulate_codes``, the fast path's own) trades the
  window from flat with the configured cash, and a compiled kernel marks the account at each
  UTC day's last bar; the metrics then come from ``core.risk.metrics`` over those daily returns,
  so a trial's Sharpe is the Sharpe a stored backtest of the same bars would report (tested).

Strategies without a fast path are run by the event loop over the window's bars.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from core.backtest.engine import equity_curve, run_event_loop, simulate_codes
from core.backtest.protections import ProtectionClock, protection_clock
from core.backtest.results import periods_per_year
from core.backtest.series import PriceSeries
from core.backtest.strategies import build_strategy, strategy_class
from core.backtest.strategy import Indicator, Strategy, StrategyError
from core.backtest.trades import BacktestConfig, TradeLog
from core.risk import metrics as risk

FloatArray = NDArray[np.float64]

DEFAULT_CACHE_BYTES = 768 * 1024 * 1024
OBJECTIVES = ("sharpe", "sortino", "total_return", "calmar")


@numba.njit(cache=True)
def marked_equity(
    close: FloatArray,
    entry_bar: NDArray[np.int64],
    exit_bar: NDArray[np.int64],
    quantity: FloatArray,
    entry_price: FloatArray,
    exit_price: FloatArray,
    entry_fee: FloatArray,
    exit_fee: FloatArray,
    initial_cash: float,
) -> FloatArray:
    """The account value at each bar's close, exactly as ``engine.equity_curve`` computes it."""
    size = close.shape[0]
    cash_change = np.zeros(size)
    quantity_change = np.zeros(size)
    for trade in range(entry_bar.shape[0]):
        cash_change[entry_bar[trade]] -= entry_price[trade] * quantity[trade] + entry_fee[trade]
        quantity_change[entry_bar[trade]] += quantity[trade]
        if exit_bar[trade] >= 0:
            cash_change[exit_bar[trade]] += exit_price[trade] * quantity[trade] - exit_fee[trade]
            quantity_change[exit_bar[trade]] -= quantity[trade]
    equity = np.empty(size)
    cash = initial_cash
    held = 0.0
    for i in range(size):
        cash += cash_change[i]
        held += quantity_change[i]
        position = 0.0 if abs(held) < 1e-12 else held
        equity[i] = cash + position * close[i]
    return equity


@numba.njit(cache=True)
def equity_marks(
    close: FloatArray,
    entry_bar: NDArray[np.int64],
    exit_bar: NDArray[np.int64],
    quantity: FloatArray,
    entry_price: FloatArray,
    exit_price: FloatArray,
    entry_fee: FloatArray,
    exit_fee: FloatArray,
    initial_cash: float,
    marks: NDArray[np.int64],
) -> tuple[FloatArray, float]:
    """The account value at the bars ``marks`` (ascending) and the deepest drawdown at any bar's close.

    The same bookkeeping as :func:`marked_equity` (trades in order, one at a time) without the
    per-bar arrays; the drawdown is measured from the running peak, which starts at the cash.
    """
    size = close.shape[0]
    values = np.empty(marks.shape[0])
    cash = initial_cash
    held = 0.0
    peak = initial_cash
    deepest = 0.0
    trade = 0
    trades = entry_bar.shape[0]
    in_position = False
    mark = 0
    for i in range(size):
        if trade < trades:
            if not in_position and entry_bar[trade] == i:
                cash -= entry_price[trade] * quantity[trade] + entry_fee[trade]
                held += quantity[trade]
                in_position = True
            if in_position and exit_bar[trade] == i:
                cash += exit_price[trade] * quantity[trade] - exit_fee[trade]
                held -= quantity[trade]
                in_position = False
                trade += 1
                if trade < trades and entry_bar[trade] == i:
                    cash -= entry_price[trade] * quantity[trade] + entry_fee[trade]
                    held += quantity[trade]
                    in_position = True
        position = 0.0 if abs(held) < 1e-12 else held
        value = cash + position * close[i]
        if value > peak:
            peak = value
        drawdown = value / peak - 1.0
        if drawdown < deepest:
            deepest = drawdown
        while mark < marks.shape[0] and marks[mark] == i:
            values[mark] = value
            mark += 1
    return values, deepest


@dataclass(frozen=True)
class TrialScore:
    """The metrics of one parameter set on one window, and its daily returns (for DSR and PBO)."""

    parameters: dict[str, int | float]
    metrics: dict[str, float]
    daily_returns: FloatArray = field(repr=False)
    error: str | None = None

    def value(self, objective: str) -> float:
        return self.metrics.get(objective, math.nan)


class LineCache:
    """Indicator lines over the whole series by indicator, least recently used dropped past a byte budget."""

    def __init__(self, bars: PriceSeries, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.bars = bars
        self.max_bytes = max_bytes
        self._lines: OrderedDict[Indicator, FloatArray] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, indicator: Indicator) -> FloatArray:
        line = self._lines.get(indicator)
        if line is not None:
            self._lines.move_to_end(indicator)
            self.hits += 1
            return line
        self.misses += 1
        line = np.ascontiguousarray(indicator.compute(self.bars), dtype=np.float64)
        self._lines[indicator] = line
        self._bytes += line.nbytes
        while self._bytes > self.max_bytes and len(self._lines) > 1:
            _, dropped = self._lines.popitem(last=False)
            self._bytes -= dropped.nbytes
        return line


def _slice(bars: PriceSeries, start: int, stop: int) -> PriceSeries:
    """Bars ``start..stop-1`` without re-validating them (they were validated once)."""
    if start == 0 and stop == len(bars):
        return bars
    return PriceSeries(
        label=bars.label,
        timeframe=bars.timeframe,
        index=bars.index[start:stop],
        open=bars.open[start:stop],
        high=bars.high[start:stop],
        low=bars.low[start:stop],
        close=bars.close[start:stop],
        volume=bars.volume[start:stop],
        instrument_id=bars.instrument_id,
        extras={name: values[start:stop] for name, values in bars.extras.items()},
    )


class TrialEvaluator:
    """Scores parameter sets of one strategy on one series (see the module docstring)."""

    def __init__(
        self,
        strategy_name: str,
        bars: PriceSeries,
        config: BacktestConfig,
        *,
        base_parameters: dict[str, object] | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self.strategy_name = strategy_name
        self.cls = strategy_class(strategy_name)
        self.bars = bars
        self.config = config
        self.base_parameters = dict(base_parameters or {})
        self.lines = LineCache(bars, cache_bytes)
        self.periods = periods_per_year(bars)
        days = bars.index.normalize().asi8
        self._day_end = np.empty(len(bars), dtype=bool)
        self._day_end[:-1] = days[1:] != days[:-1]
        self._day_end[-1] = True
        self.evaluations = 0
        self._day_ends: dict[tuple[int, int], NDArray[np.int64]] = {}
        self._clock: ProtectionClock | None = None

    def build(self, parameters: dict[str, Any]) -> Strategy:
        """The strategy with ``parameters`` over the base parameters (``StrategyError`` if invalid)."""
        return build_strategy(self.strategy_name, {**self.base_parameters, **parameters})

    def day_ends(self, start: int, stop: int) -> NDArray[np.int64]:
        """Positions (relative to ``start``) of the last bar of each UTC day within the window."""
        known = self._day_ends.get((start, stop))
        if known is None:
            ends = np.flatnonzero(self._day_end[start : stop - 1])
            known = self._day_ends[(start, stop)] = np.append(ends, stop - 1 - start).astype(np.int64)
        return known

    def _simulate(self, strategy: Strategy, start: int, stop: int) -> tuple[PriceSeries, Any]:
        if not 0 <= start < stop <= len(self.bars):
            raise ValueError(f"window {start}..{stop} is outside the {len(self.bars)} bars")
        strategy.reset()
        window = _slice(self.bars, start, stop)
        if not self.cls.has_fast_path():
            return window, run_event_loop(strategy, window, self.config)
        lines = {name: self.lines.get(indicator)[:stop] for name, indicator in strategy.indicators().items()}
        codes = strategy.signals(_slice(self.bars, 0, stop), lines)
        if codes is None:
            raise StrategyError(f"{strategy.name} has no fast path")
        clock = None
        if self.config.protected:
            if self._clock is None:
                self._clock = protection_clock(self.bars)
            clock = ProtectionClock(*(values[start:stop] for values in astuple_shallow(self._clock)))
        window_codes = np.ascontiguousarray(codes[start:stop], dtype=np.int8)
        return window, simulate_codes(window, window_codes, self.config, clock)

    def equity(self, strategy: Strategy, start: int = 0, stop: int | None = None) -> FloatArray:
        """The account value at each bar's close of the window, trading it from flat."""
        stop = len(self.bars) if stop is None else stop
        window, simulated = self._simulate(strategy, start, stop)
        if isinstance(simulated, TradeLog):
            return equity_curve(window, simulated.trades, self.config.initial_cash)
        return marked_equity(window.close, *simulated[:7], float(self.config.initial_cash))

    def score(self, parameters: dict[str, Any], start: int = 0, stop: int | None = None) -> TrialScore:
        """The metrics of ``parameters`` on bars ``start..stop-1``; an invalid set gets an error and no metrics."""
        stop = len(self.bars) if stop is None else stop
        try:
            strategy = self.build(parameters)
        except StrategyError as error:
            return TrialScore(dict(parameters), {}, np.empty(0), str(error))
        self.evaluations += 1
        window, simulated = self._simulate(strategy, start, stop)
        marks = self.day_ends(start, stop)
        if isinstance(simulated, TradeLog):
            equity = equity_curve(window, simulated.trades, self.config.initial_cash)
            peak = np.maximum.accumulate(np.concatenate([[self.config.initial_cash], equity]))
            daily, deepest = equity[marks], float(np.min(equity / peak[1:] - 1.0))
        else:
            daily, deepest = equity_marks(window.close, *simulated[:7], float(self.config.initial_cash), marks)
        return TrialScore(dict(strategy.params), *self.metrics_of(daily, float(deepest)))

    def metrics_of(self, daily: FloatArray, max_drawdown: float) -> tuple[dict[str, float], FloatArray]:
        """Metrics of a window from its day-end values (as ``results.performance_metrics``), and its daily returns."""
        initial = float(self.config.initial_cash)
        values = np.empty(daily.shape[0] + 1)
        values[0] = initial
        values[1:] = daily
        returns = values[1:] / values[:-1] - 1.0
        metrics = {
            "total_return": float(daily[-1] / initial - 1.0),
            "sharpe": risk.sharpe_ratio(returns, self.periods),
            "sortino": risk.sortino_ratio(returns, self.periods),
            "calmar": risk.calmar_ratio(returns, self.periods),
            "cagr": risk.cagr(returns, self.periods),
            "max_drawdown": max_drawdown,
            "final_equity": float(daily[-1]),
        }
        return metrics, returns


def astuple_shallow(clock: ProtectionClock) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    return clock.open_seconds, clock.decision_seconds, clock.day


def window_times(bars: PriceSeries, start: int, stop: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The open time of a window's first bar and of its last bar."""
    return bars.index[start], bars.index[stop - 1]
