"""Run one of our strategies inside backtrader, to cross-check the engine against an outside one.

The same ``Strategy`` object decides: backtrader calls it bar by bar with a bar tuple built from
backtrader's own lines, and its signals become backtrader market orders. Moving averages are
backtrader's own ``SMA`` indicator (so our averages are checked too); other indicators are fed
in as extra data lines computed by our kernels.

Settings that make backtrader fill like our fill model:
- market orders execute at the next bar's open (``cheat_on_open`` off, ``coc`` off);
- commission ``fee_bps`` as a percentage of the fill's value (``setcommission``);
- slippage as a percentage applied to the open, not capped to the bar's range;
- the order size is fixed at the signal close as in our engine; backtrader's cash check at
  submission is off (``set_checksubmit(False)``) and it refuses at execution an entry the cash no
  longer covers after a gap up ("Margin"), as our engine does.

Stop-loss, take-profit and trailing exits are not bridged (backtrader orders them differently);
the bridge refuses a configuration with them.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import pandas as pd

from core.backtest.series import PriceSeries
from core.backtest.strategy import Signal, Sma, Strategy, StrategyError, _bar_type
from core.backtest.trades import BacktestConfig, EngineKind, TradeLog, TradeRow, build_trades
from core.execution.enums import ExitReason

logger = logging.getLogger(__name__)


def run_backtrader(strategy: Strategy, bars: PriceSeries, config: BacktestConfig) -> TradeLog:
    """Run ``strategy`` over ``bars`` in backtrader; return its trades in our terms."""
    import backtrader as bt

    if config.has_exit_levels:
        raise StrategyError("the backtrader bridge covers signal orders only (no stop-loss/take-profit/trailing)")
    if config.protected:
        raise StrategyError("the backtrader bridge does not apply the risk guard's protections; use event or fast")
    began = time.perf_counter()
    strategy.reset()
    indicators = strategy.indicators()
    native = {name: indicator for name, indicator in indicators.items() if isinstance(indicator, Sma)}
    fed = {name: indicator.compute(bars) for name, indicator in indicators.items() if name not in native}
    frame = bars.to_frame()
    frame.index = frame.index.tz_convert("UTC").tz_localize(None)
    for name, values in fed.items():
        frame[name] = values
    feed_class = type(
        "KonsensFeed",
        (bt.feeds.PandasData,),
        {"lines": tuple(fed), "params": tuple((name, -1) for name in fed)},
    )
    names = tuple(indicators)
    bar_type = _bar_type(names)
    last_index = len(bars) - 1
    fee_rate, fraction = config.fee_rate, config.position_fraction
    executions: list[tuple[Any, float, float, float]] = []  # (datetime, signed size, price, commission)
    rejected: list[int] = []  # orders backtrader refused at execution for lack of cash

    class Bridge(bt.Strategy):
        def __init__(self) -> None:
            self.lines_by_name: dict[str, Any] = {}
            for name in names:
                if name in native:
                    self.lines_by_name[name] = bt.indicators.SMA(self.data.close, period=native[name].period)
                else:
                    self.lines_by_name[name] = getattr(self.data.lines, name)
            self.pending: Any = None

        def _decide(self) -> None:
            index = len(self) - 1
            values = [_value(line) for line in self.lines_by_name.values()]
            data = self.data
            bar: Any = tuple.__new__(
                bar_type,
                (index, data.open[0], data.high[0], data.low[0], data.close[0], data.volume[0], *values),
            )
            signal = strategy.on_bar(bar)
            if signal is None or index >= last_index or self.pending is not None:
                return
            size = self.position.size
            if signal is Signal.BUY and size == 0:
                quantity = self.broker.getcash() * fraction / (data.close[0] * (1.0 + fee_rate))
                self.pending = self.buy(size=quantity, exectype=bt.Order.Market)
            elif signal is Signal.SELL and size > 0:
                self.pending = self.sell(size=size, exectype=bt.Order.Market)

        def prenext(self) -> None:
            self._decide()

        def next(self) -> None:
            self._decide()

        def notify_order(self, order: Any) -> None:
            if order.status in (order.Submitted, order.Accepted):
                return
            if order.status == order.Completed:
                executions.append(
                    (
                        bt.num2date(order.executed.dt),
                        float(order.executed.size),
                        float(order.executed.price),
                        float(order.executed.comm),
                    )
                )
            elif order.status == order.Margin:
                rejected.append(order.ref)
            else:
                logger.warning("backtrader order ended %s", order.getstatusname())
            self.pending = None

    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=False)
    cerebro.adddata(feed_class(dataname=frame))
    cerebro.addstrategy(Bridge)
    cerebro.broker.setcash(config.initial_cash)
    cerebro.broker.setcommission(commission=fee_rate)
    cerebro.broker.set_checksubmit(False)
    cerebro.broker.set_coc(False)
    if config.slippage:
        cerebro.broker.set_slippage_perc(config.slippage, slip_open=True, slip_match=True, slip_out=True)
    cerebro.run()
    cash = float(cerebro.broker.getcash())
    rows = _pair_executions(bars, executions)
    trades = build_trades(bars, rows)
    seconds = time.perf_counter() - began
    return TradeLog(EngineKind.BACKTRADER, trades, cash, seconds, len(executions), len(rejected))


def _value(line: Any) -> float:
    value = float(line[0])
    return value if not math.isnan(value) else math.nan


def _pair_executions(bars: PriceSeries, executions: list[tuple[Any, float, float, float]]) -> list[TradeRow]:
    """Pair backtrader's buy and sell executions into round trips (long only)."""
    naive_index = bars.index.tz_convert("UTC").tz_localize(None)
    rows: list[TradeRow] = []
    entry: tuple[int, float, float, float] | None = None
    for executed_at, size, price, commission in executions:
        position = int(naive_index.get_indexer([pd.Timestamp(executed_at)])[0])
        if position < 0:
            raise StrategyError(f"backtrader executed at {executed_at}, which is not a bar of the data")
        if size > 0:
            entry = (position, price, size, commission)
        elif entry is not None:
            rows.append((*entry, position, price, commission, ExitReason.SIGNAL))
            entry = None
    if entry is not None:
        rows.append((*entry, None, None, 0.0, None))
    return rows
