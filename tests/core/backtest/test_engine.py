from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from core.backtest.compare import first_difference
from core.backtest.engine import BacktestConfig, run_event_loop, run_fast
from core.backtest.series import PriceSeries
from core.backtest.strategies import STRATEGIES, build_strategy
from core.backtest.strategy import FloatArray, Indicator, Signal, SignalArray, Strategy
from core.execution.enums import ExitReason, OrderSide

from .conftest import make_bars, real_series

NO_FEES = BacktestConfig(fee_bps=0.0, position_fraction=1.0)


class Scripted(Strategy):
    """Gives the signals of a script {bar index: signal}; records every bar it was shown."""

    name = "scripted"
    title = "Scripted"

    def __init__(self, script: dict[int, Signal]) -> None:
        self.script = script
        self.seen: list[Any] = []
        super().__init__()

    def indicators(self) -> dict[str, Indicator]:
        return {}

    def on_bar(self, bar: Any) -> Signal | None:
        self.seen.append(bar)
        return self.script.get(bar.index)

    def signals(self, bars: PriceSeries, lines: dict[str, FloatArray]) -> SignalArray:
        codes = np.zeros(len(bars), dtype=np.int8)
        for index, signal in self.script.items():
            codes[index] = int(signal)
        return codes


FLAT = [(100.0, 101.0, 99.0, 100.0)] * 3


def both_engines(strategy: Strategy, bars: PriceSeries, config: BacktestConfig) -> Any:
    event = run_event_loop(strategy, bars, config)
    fast = run_fast(strategy, bars, config)
    assert first_difference(event.trades, fast.trades) is None
    assert event.final_cash == pytest.approx(fast.final_cash, rel=1e-12)
    assert event.rejected_orders == fast.rejected_orders
    return event


def test_signal_at_a_close_fills_at_the_next_open_with_fees_and_slippage() -> None:
    bars = make_bars([*FLAT, (102.0, 104.0, 101.0, 103.0), (105.0, 106.0, 104.0, 105.0), (107.0, 108.0, 106.0, 107.0)])
    config = BacktestConfig(initial_cash=10_000.0, fee_bps=10.0, slippage_bps=5.0, position_fraction=0.5)
    log = both_engines(Scripted({2: Signal.BUY, 4: Signal.SELL}), bars, config)
    (trade,) = log.trades
    assert trade.entry_index == 3 and trade.entry_time == bars.index[3]
    assert trade.entry_price == pytest.approx(102.0 * 1.0005)
    assert trade.quantity == pytest.approx(10_000.0 * 0.5 / (100.0 * 1.001))  # sized at the signal close
    assert trade.entry_fee == pytest.approx(trade.quantity * trade.entry_price * 0.001)
    assert trade.exit_index == 5 and trade.exit_price == pytest.approx(107.0 * 0.9995)
    assert trade.exit_reason is ExitReason.SIGNAL and trade.side is OrderSide.BUY
    expected_cash = 10_000.0 - trade.quantity * trade.entry_price - trade.entry_fee
    expected_cash += trade.quantity * trade.exit_price - trade.exit_fee
    assert log.final_cash == pytest.approx(expected_cash)


def test_stop_loss_comes_first_when_a_bar_touches_both_exits() -> None:
    bars = make_bars([*FLAT, (100.0, 106.0, 94.0, 100.0), (100.0, 101.0, 99.0, 100.0)])
    config = BacktestConfig(fee_bps=0.0, stop_loss=0.05, take_profit=0.05)
    log = both_engines(Scripted({1: Signal.BUY}), bars, config)
    assert log.trades[0].exit_reason is ExitReason.STOP_LOSS
    assert log.trades[0].exit_price == pytest.approx(95.0)


def test_take_profit_and_gap_through_the_stop() -> None:
    bars = make_bars([*FLAT, (100.0, 106.0, 99.0, 100.0)])
    log = both_engines(Scripted({1: Signal.BUY}), bars, BacktestConfig(fee_bps=0.0, take_profit=0.05))
    assert (log.trades[0].exit_reason, log.trades[0].exit_price) == (ExitReason.TAKE_PROFIT, pytest.approx(105.0))
    gap = make_bars([*FLAT, (90.0, 92.0, 88.0, 91.0)])
    log = both_engines(Scripted({1: Signal.BUY}), gap, BacktestConfig(fee_bps=0.0, stop_loss=0.05, slippage_bps=10))
    assert log.trades[0].exit_index == 3
    assert log.trades[0].exit_price == pytest.approx(90.0 * 0.999)  # at the open, with slippage


def test_trailing_stop_follows_the_high_and_exits_below_it() -> None:
    rows = [*FLAT, (100.0, 110.0, 99.0, 109.0), (109.0, 120.0, 108.0, 118.0), (118.0, 119.0, 107.0, 108.0)]
    log = both_engines(Scripted({1: Signal.BUY}), make_bars(rows), BacktestConfig(fee_bps=0.0, trailing_stop=0.1))
    (trade,) = log.trades
    # Entry at 100: trailing distance 10; raised to 100 after the 110 high, to 110 after the 120 high.
    assert trade.exit_reason is ExitReason.TRAILING_STOP
    assert trade.exit_index == 5 and trade.exit_price == pytest.approx(110.0)


def test_an_entry_the_cash_no_longer_covers_after_a_gap_is_rejected() -> None:
    bars = make_bars([*FLAT, (110.0, 111.0, 109.0, 110.0), (110.0, 111.0, 109.0, 110.0)])
    log = both_engines(Scripted({2: Signal.BUY}), bars, BacktestConfig(fee_bps=10.0, position_fraction=0.98))
    assert log.trades == [] and log.rejected_orders == 1
    assert log.final_cash == 10_000.0


def test_redundant_signals_and_a_signal_on_the_last_bar_are_ignored() -> None:
    bars = make_bars(FLAT * 2)
    log = both_engines(Scripted({0: Signal.SELL, 1: Signal.BUY, 2: Signal.BUY, 5: Signal.SELL}), bars, NO_FEES)
    (trade,) = log.trades
    assert trade.entry_index == 2 and trade.is_open  # the sell on the last bar has no next open


def test_the_strategy_sees_only_the_current_bar() -> None:
    bars = real_series("GOOG_1d.csv")
    strategy = Scripted({})
    run_event_loop(strategy, bars, NO_FEES)
    assert len(strategy.seen) == len(bars)
    bar = strategy.seen[100]
    assert bar._fields == ("index", "open", "high", "low", "close", "volume")
    assert (bar.index, bar.close, bar.high) == (100, bars.close[100], bars.high[100])
    assert not any(isinstance(value, np.ndarray | list) for value in bar)


@pytest.mark.parametrize("name", ["sma-cross", "rsi-reversion", "bollinger-breakout"])
def test_decisions_do_not_change_when_the_future_is_cut_off(name: str) -> None:
    bars = real_series("SPY_1d.csv")
    prefix = bars.between(end=bars.index[3000])
    full = run_event_loop(build_strategy(name), bars, NO_FEES).trades
    cut = run_event_loop(build_strategy(name), prefix, NO_FEES).trades
    closed_in_prefix = [trade for trade in full if trade.exit_index is not None and trade.exit_index < 2999]
    assert first_difference(cut[: len(closed_in_prefix)], closed_in_prefix) is None


CONFIGS = [
    BacktestConfig(),
    BacktestConfig(fee_bps=25.0, slippage_bps=5.0, position_fraction=1.0),
    BacktestConfig(stop_loss=0.02, take_profit=0.04),
    BacktestConfig(stop_loss=0.03, trailing_stop=0.02, slippage_bps=3.0),
]


@pytest.mark.parametrize("name", ["sma-cross", "rsi-reversion", "bollinger-breakout"])
def test_fast_path_gives_the_same_trades_as_the_event_loop_on_real_data(real_bars: PriceSeries, name: str) -> None:
    for config in CONFIGS:
        strategy = build_strategy(name)
        event = run_event_loop(strategy, real_bars, config)
        fast = run_fast(strategy, real_bars, config)
        assert len(event.trades) > 3
        assert first_difference(event.trades, fast.trades) is None, (real_bars.label, config)
        assert event.final_cash == pytest.approx(fast.final_cash, rel=1e-12)


@pytest.mark.parametrize("name", ["sma-cross", "rsi-reversion", "bollinger-breakout"])
def test_vectorised_signals_equal_on_bar_decisions(real_bars: PriceSeries, name: str) -> None:
    strategy = build_strategy(name)
    lines = strategy.compute_lines(real_bars)
    strategy.reset()
    decided = [strategy.on_bar(bar) for bar in strategy.bar_stream(real_bars, lines)]
    expected = np.array([0 if signal is None else int(signal) for signal in decided], dtype=np.int8)
    signals = strategy.signals(real_bars, lines)
    assert signals is not None and np.array_equal(signals, expected)


def test_sma_cross_enters_on_the_cross_above_and_exits_on_the_cross_below() -> None:
    bars = real_series("ETH_BTC_5m.csv")
    strategy = build_strategy("sma-cross", {"fast": 5, "slow": 20})
    lines = strategy.compute_lines(bars)
    for trade in run_event_loop(strategy, bars, NO_FEES).trades[:20]:
        signal_bar = trade.entry_index - 1
        assert lines["fast"][signal_bar] > lines["slow"][signal_bar]
        assert lines["fast"][signal_bar - 1] <= lines["slow"][signal_bar - 1]
        assert trade.exit_index is not None
        exit_bar = trade.exit_index - 1
        assert lines["fast"][exit_bar] < lines["slow"][exit_bar]
        assert lines["fast"][exit_bar - 1] >= lines["slow"][exit_bar - 1]


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("sma-cross", {"fast": 30, "slow": 10}, "fast < slow"),
        ("sma-cross", {"fast": "x"}, "fast must be int"),
        ("sma-cross", {"fast": 2.5}, "fast must be int"),
        ("sma-cross", {"speed": 3}, "no parameter speed"),
        ("rsi-reversion", {"lower": 80, "upper": 70}, "lower < upper"),
        ("bollinger-breakout", {"width": 0}, "between 0.1 and 10.0"),
        ("macd", {}, "unknown strategy"),
    ],
)
def test_invalid_strategy_settings_are_refused(name: str, params: dict[str, object], message: str) -> None:
    from core.backtest.strategy import StrategyError

    with pytest.raises(StrategyError, match=message):
        build_strategy(name, params)


def test_every_shipped_strategy_is_registered() -> None:
    assert {"sma-cross", "rsi-reversion", "bollinger-breakout", "ai-consensus"} <= set(STRATEGIES)


def test_exits_are_not_checked_on_the_entry_bar_as_in_the_executor() -> None:
    # Entry at bar 2's open (100); bar 2's own low (90) is below the 5 % stop, bar 3's (96) is not.
    bars = make_bars([*FLAT[:2], (100.0, 101.0, 90.0, 100.0), (100.0, 101.0, 96.0, 100.0)])
    log = both_engines(Scripted({1: Signal.BUY}), bars, BacktestConfig(fee_bps=0.0, stop_loss=0.05))
    assert log.trades[0].is_open
