"""The backtest engine: the event loop (reference, on the fill model) and the compiled fast path.

Both run a long-only strategy over ``PriceSeries`` bars with the same rules:

- ``on_bar`` decides at a bar's close; the order executes at the next bar's open as a market
  order through ``core.execution.fill_model.fill_price`` (slippage against the trader).
- The quantity is fixed when the signal is given: ``cash × position_fraction / (close × (1 + fee))``;
  if a gap up at the next open makes the fill cost more than the cash, the entry is rejected
  (as a broker would, and as backtrader does).
- Fees are ``fee_bps`` basis points of each fill's notional (``fill_model.fee_for``).
- With a position open, stop-loss / take-profit / trailing stop (fractions of the entry price)
  are checked inside every bar after the entry bar with ``fill_model.check_exits`` (a bar that
  touches both is taken as a stop), then the trailing stop is advanced
  (``fill_model.advance_trailing_stop``). Like the executor's exit plans, which watch the price
  observations after the entry fill, the entry bar itself is not checked.
- A buy while long, or a sell while flat, is ignored; a signal on the last bar has no next open.

The event loop calls the fill model for real; the fast path (``kernels.simulate_long_only``)
reproduces it in compiled code and must give the same trades (tested on real data).
"""

from __future__ import annotations

import logging
import math
import operator
import time
from typing import Any, NamedTuple, cast

import numpy as np

from core.backtest import kernel_codes as kernels
from core.backtest import native
from core.backtest.protections import BLOCK_RULES, ProtectionClock, ProtectionState, protection_clock
from core.backtest.series import PriceSeries, read_only
from core.backtest.strategy import (
    Signal,
    Strategy,
    StrategyError,
    check_signal,
    check_signal_codes,
    failure_from,
    guarded,
    with_strategy_exits,
)
from core.backtest.trades import BacktestConfig, EngineKind, Trade, TradeLog, TradeRow, build_trades
from core.execution.enums import ExitReason, OrderSide, OrderType
from core.execution.fill_model import BarPrices, ExitLevels, advance_trailing_stop, check_exits, fee_for, fill_price
from core.risk.rules import STOP_OUT_REASONS

logger = logging.getLogger(__name__)


# The result types live in ``core.backtest.trades`` (shared with the backtrader bridge, which this
# module loads lazily); they are re-exported here, where callers have always found them.
__all__ = [
    "BacktestConfig",
    "EngineKind",
    "Trade",
    "TradeLog",
    "TradeRow",
    "build_trades",
    "buy_and_hold_trades",
    "equity_curve",
    "run_event_loop",
    "run_fast",
    "simulate",
    "simulate_codes",
    "trade_columns",
    "warm_up",
]


def run_event_loop(strategy: Strategy, bars: PriceSeries, config: BacktestConfig) -> TradeLog:
    """Run ``strategy`` bar by bar through the fill model (the reference engine)."""
    began = time.perf_counter()
    guarded(strategy, "reset", strategy.reset)
    lines = strategy.compute_lines(bars)
    on_bar = strategy.on_bar
    fee_rate, slippage, fraction = config.fee_rate, config.slippage, config.position_fraction
    stop_loss_fraction, take_profit_fraction = config.stop_loss, config.take_profit
    trailing_fraction = config.trailing_stop
    protective = config.has_exit_levels
    last_index = len(bars) - 1
    buy, sell, long = OrderSide.BUY, OrderSide.SELL, OrderSide.BUY

    # One raw row per trade: entry bar, price, quantity, fee; exit bar, price, fee, reason.
    rows: list[tuple[int, float, float, float, int | None, float | None, float, ExitReason | None]] = []
    cash = config.initial_cash
    quantity = 0.0
    pending: Signal | None = None
    pending_quantity = 0.0
    levels: ExitLevels[float] | None = None
    arming: ExitLevels[float] | None = None
    entry: tuple[int, float, float, float] | None = None
    signal_count = 0
    rejected = 0
    guard = (
        ProtectionState(config.protections, protection_clock(bars), config.initial_cash)
        if config.protections is not None and config.protections.active
        else None
    )

    for bar in strategy.bar_stream(bars, lines):
        if pending is not None:
            prices = BarPrices(bar.open, bar.high, bar.low, bar.close)
            if pending is Signal.BUY:
                price = _market_price(buy, prices, slippage)
                notional = pending_quantity * price
                fee = _fee(notional, fee_rate)
                remaining = cash - notional - fee
                if remaining < 0.0:  # a gap up made it unaffordable: the broker rejects it
                    rejected += 1
                else:
                    cash = remaining
                    quantity = pending_quantity
                    entry = (bar.index, price, quantity, fee)
                    if protective:
                        arming = _entry_levels(price, stop_loss_fraction, take_profit_fraction, trailing_fraction)
            else:
                price = _market_price(sell, prices, slippage)
                notional = quantity * price
                fee = _fee(notional, fee_rate)
                cash = cash + notional - fee
                rows.append((*entry, bar.index, price, fee, ExitReason.SIGNAL))  # type: ignore[misc]
                entry, quantity, levels = None, 0.0, None
                if guard is not None:
                    guard.exited(bar.index, stop_out=False)
            pending = None
        if levels is not None and not (guard is not None and guard.halted):
            prices = BarPrices(bar.open, bar.high, bar.low, bar.close)
            exit_fill = check_exits(long, cast(Any, prices), levels, slippage=cast(Any, slippage))
            if exit_fill is not None:
                notional = quantity * exit_fill.price
                fee = _fee(notional, fee_rate)
                cash = cash + notional - fee
                rows.append((*entry, bar.index, exit_fill.price, fee, exit_fill.reason))  # type: ignore[misc]
                entry, quantity, levels = None, 0.0, None
                if guard is not None:
                    guard.exited(bar.index, stop_out=exit_fill.reason in STOP_OUT_REASONS)
            else:
                levels = advance_trailing_stop(long, cast(Any, prices), levels)
        if arming is not None:  # exits watch the bars after the entry bar, as the executor's exit plans do
            levels, arming = arming, None
        if guard is not None:
            guard.close(bar.index, cash + quantity * bar.close)
        try:
            signal = on_bar(bar)
        except StrategyError:
            raise
        except Exception as error:
            raise failure_from(
                strategy, f"on_bar at candle {bar.index} ({bars.index[bar.index].isoformat()})", error
            ) from error
        if signal is not None:
            if signal is not Signal.BUY and signal is not Signal.SELL:
                check_signal(strategy, signal, bar)
            signal_count += 1
            if bar.index < last_index:
                if signal is Signal.BUY and quantity == 0.0:
                    if guard is None or guard.allows_entry(bar.index):
                        pending = Signal.BUY
                        pending_quantity = cash * fraction / (bar.close * (1.0 + fee_rate))
                elif signal is Signal.SELL and quantity > 0.0 and (guard is None or guard.allows_exit()):
                    pending = Signal.SELL
    if entry is not None:
        rows.append((*entry, None, None, 0.0, None))
    trades = build_trades(bars, rows)
    blocked = guard.counts() if guard is not None else {}
    return TradeLog(EngineKind.EVENT, trades, cash, time.perf_counter() - began, signal_count, rejected, blocked)


def _market_price(side: OrderSide, bar: BarPrices[float], slippage: float) -> float:
    """The fill model's market fill (at the bar's open, slippage against the trader)."""
    price = fill_price(side, OrderType.MARKET, cast(Any, bar), slippage=cast(Any, slippage))
    assert price is not None  # a market order always fills
    return float(price)


def _fee(notional: float, fee_rate: float) -> float:
    return float(fee_for(cast(Any, notional), cast(Any, fee_rate)))


def _entry_levels(
    price: float, stop_loss: float | None, take_profit: float | None, trailing: float | None
) -> ExitLevels[float]:
    distance = price * trailing if trailing is not None else None
    return ExitLevels(
        stop_loss=price * (1.0 - stop_loss) if stop_loss is not None else None,
        take_profit=price * (1.0 + take_profit) if take_profit is not None else None,
        trailing_distance=distance,
        trailing_stop=price - distance if distance is not None else None,
    )


_REASONS = {
    kernels.EXIT_SIGNAL: ExitReason.SIGNAL,
    kernels.EXIT_STOP_LOSS: ExitReason.STOP_LOSS,
    kernels.EXIT_TAKE_PROFIT: ExitReason.TAKE_PROFIT,
    kernels.EXIT_TRAILING_STOP: ExitReason.TRAILING_STOP,
}


class SimulatedTrades(NamedTuple):
    """The compiled simulator's raw output: one array entry per trade (bars relative to the bars given)."""

    entry_bars: np.ndarray
    exit_bars: np.ndarray  # -1 while open
    quantities: np.ndarray
    entry_prices: np.ndarray
    exit_prices: np.ndarray
    entry_fees: np.ndarray
    exit_fees: np.ndarray
    reasons: np.ndarray
    final_cash: float
    rejected: int
    blocked: dict[str, int]


def simulate_codes(
    bars: PriceSeries, codes: np.ndarray, config: BacktestConfig, clock: ProtectionClock | None = None
) -> SimulatedTrades:
    """Trade signal codes (one per bar) with the compiled simulator under ``config``.

    ``clock`` (the protections' clock of ``bars``) saves computing it again when the caller keeps one.
    """
    protections = config.protections if config.protections is not None and config.protections.active else None
    # Every argument is passed, always with the same types: an omitted argument with an array default
    # gives numba a signature that differs per process, so its on-disk cache would never be hit.
    no_times = read_only(np.zeros(0, np.int64), np.int64)
    extra: tuple[Any, ...] = (False, no_times, no_times, no_times, np.inf, np.inf, -1, 0, 0, 0)
    if protections is not None:
        clock = clock if clock is not None else protection_clock(bars)
        extra = (
            True,
            read_only(clock.open_seconds, np.int64),
            read_only(clock.decision_seconds, np.int64),
            read_only(clock.day, np.int64),
            float(protections.daily_loss_limit) if protections.daily_loss_limit is not None else np.inf,
            float(protections.max_drawdown) if protections.max_drawdown is not None else np.inf,
            int(protections.cooldown_minutes * 60) if protections.cooldown_minutes is not None else -1,
            int(protections.stoploss_guard_count or 0),
            int(protections.stoploss_guard_lookback_minutes * 60),
            int(protections.stoploss_guard_lock_minutes * 60),
        )
    (entry_bars, exit_bars, quantities, entry_prices, exit_prices, entry_fees, exit_fees, reasons, cash) = (
        native.kernel("simulate_long_only")(
            bars.open,
            bars.high,
            bars.low,
            bars.close,
            read_only(codes, np.int8),
            float(config.initial_cash),
            float(config.position_fraction),
            config.fee_rate,
            config.slippage,
            float(config.stop_loss or 0.0),
            float(config.take_profit or 0.0),
            float(config.trailing_stop or 0.0),
            *extra,
        )
    )
    blocked = {rule.value: int(count) for rule, count in zip(BLOCK_RULES, cash[2:6], strict=True) if count}
    return SimulatedTrades(
        entry_bars,
        exit_bars,
        quantities,
        entry_prices,
        exit_prices,
        entry_fees,
        exit_fees,
        reasons,
        float(cash[0]),
        int(cash[1]),
        blocked,
    )


def run_fast(strategy: Strategy, bars: PriceSeries, config: BacktestConfig) -> TradeLog:
    """Run ``strategy`` through its vectorised signals and the compiled simulator."""
    began = time.perf_counter()
    guarded(strategy, "reset", strategy.reset)
    lines = strategy.compute_lines(bars)
    codes = guarded(strategy, "signals()", strategy.signals, bars, lines)
    if codes is None:
        raise StrategyError(f"{strategy.name} has no fast path (it needs the event loop)")
    codes = check_signal_codes(strategy, codes, bars)
    simulated = simulate_codes(bars, codes, config)
    # The rows from whole arrays (``tolist`` gives Python ints and floats, the same values).
    exit_bars = simulated.exit_bars.tolist()
    exit_prices = simulated.exit_prices.tolist()
    rows: list[TradeRow] = [
        (
            entry_bar,
            entry_price,
            quantity,
            entry_fee,
            None if exit_bar < 0 else exit_bar,
            None if exit_bar < 0 else exit_price,
            exit_fee,
            None if exit_bar < 0 else _REASONS[reason],
        )
        for entry_bar, entry_price, quantity, entry_fee, exit_bar, exit_price, exit_fee, reason in zip(
            simulated.entry_bars.tolist(),
            simulated.entry_prices.tolist(),
            simulated.quantities.tolist(),
            simulated.entry_fees.tolist(),
            exit_bars,
            exit_prices,
            simulated.exit_fees.tolist(),
            simulated.reasons.tolist(),
            strict=True,
        )
    ]
    trades = build_trades(bars, rows)
    seconds = time.perf_counter() - began
    signal_count = int(np.count_nonzero(codes))
    return TradeLog(
        EngineKind.FAST, trades, simulated.final_cash, seconds, signal_count, simulated.rejected, simulated.blocked
    )


def warm_up(strategy: Strategy, config: BacktestConfig, *, bars: int = 64) -> None:
    """Load the compiled kernels the fast path will call for ``strategy`` under ``config``.

    numba loads a cached kernel on its first call; this makes those calls on a few synthetic bars
    with the argument types of a real run (the built-in indicators' kernels and the simulator), so
    the real run finds them loaded. ``konsens backtest --engine fast`` calls it while its CSV file
    is still being parsed. No strategy code runs except ``indicators()``; an error there is left to
    the real run to report.
    """
    import pandas as pd

    from core.backtest.strategy import BollingerBand, Rsi, Sma

    close = 100.0 + np.arange(bars, dtype=np.float64)
    index = pd.date_range("2020-01-01", periods=bars, freq="1min", tz="UTC", name="ts")
    synthetic = PriceSeries("warm-up", "1m", index, close, close, close, close, np.ones(bars))
    try:
        declared = strategy.indicators()
    except Exception:  # the real run reports it, with the file and line
        declared = {}
    if isinstance(declared, dict):
        for indicator in declared.values():
            if isinstance(indicator, Sma | Rsi | BollingerBand):
                indicator.compute(synthetic)
    simulate_codes(synthetic, np.zeros(bars, dtype=np.int8), config)


def simulate(strategy: Strategy, bars: PriceSeries, config: BacktestConfig, engine: EngineKind) -> TradeLog:
    """Run one of the engines (the strategy's own exits apply where ``config`` sets none)."""
    config = with_strategy_exits(config, strategy)
    if engine is EngineKind.EVENT:
        return run_event_loop(strategy, bars, config)
    if engine is EngineKind.FAST:
        return run_fast(strategy, bars, config)
    from core.backtest.backtrader_bridge import run_backtrader

    return run_backtrader(strategy, bars, config)


class TradeColumns(NamedTuple):
    """The fields of a list of trades as arrays (one entry per trade, in trade order)."""

    entry_index: np.ndarray  # int64
    entry_price: np.ndarray
    quantity: np.ndarray
    entry_fee: np.ndarray
    exit_index: np.ndarray  # int64, -1 while open
    exit_price: np.ndarray  # NaN while open
    exit_fee: np.ndarray
    sign: np.ndarray  # +1 long, -1 short

    @property
    def closed(self) -> np.ndarray:
        """True for a trade with an exit (an exit bar and an exit price)."""
        return (self.exit_index >= 0) & ~np.isnan(self.exit_price)


_TRADE_FIELDS = operator.attrgetter(
    "entry_index", "entry_price", "quantity", "entry_fee", "exit_index", "exit_price", "exit_fee", "side"
)


def trade_columns(trades: list[Trade]) -> TradeColumns:
    """The trades' fields as arrays, read in one pass (the same values as reading each attribute)."""
    if not trades:
        empty, no_bars = np.zeros(0), np.zeros(0, np.int64)
        return TradeColumns(no_bars, empty, empty, empty, no_bars, empty, empty, empty)
    entry_index, entry_price, quantity, entry_fee, exit_index, exit_price, exit_fee, side = zip(
        *map(_TRADE_FIELDS, trades), strict=True
    )
    count = len(trades)
    return TradeColumns(
        np.array(entry_index, np.int64),
        np.array(entry_price, np.float64),
        np.array(quantity, np.float64),
        np.array(entry_fee, np.float64),
        np.fromiter((-1 if bar is None else bar for bar in exit_index), np.int64, count),
        np.fromiter((math.nan if price is None else price for price in exit_price), np.float64, count),
        np.array(exit_fee, np.float64),
        np.fromiter((value.sign for value in side), np.float64, count),
    )


def equity_curve(bars: PriceSeries, trades: list[Trade], initial_cash: float) -> np.ndarray:
    """Return the account value at each bar's close (cash plus the position marked at the close)."""
    size = len(bars)
    cash_change = np.zeros(size)
    quantity_change = np.zeros(size)
    if trades:
        # Each trade's entry, then its exit, accumulated in that order (``np.add.at`` is unbuffered
        # and sequential), so every bar gets the same sums as adding trade by trade.
        columns = trade_columns(trades)
        count = len(trades)
        closed = columns.closed
        quantities = columns.quantity
        entry_cash = columns.entry_price * quantities
        entry_cash += columns.entry_fee
        exit_cash = np.where(closed, columns.exit_price, 0.0)
        exit_cash *= quantities
        exit_cash -= columns.exit_fee
        bars_at = np.empty(2 * count, np.int64)
        bars_at[0::2] = columns.entry_index
        bars_at[1::2] = np.maximum(columns.exit_index, 0)
        cash_steps = np.empty(2 * count)
        cash_steps[0::2] = -entry_cash
        cash_steps[1::2] = exit_cash
        quantity_steps = np.empty(2 * count)
        quantity_steps[0::2] = quantities
        quantity_steps[1::2] = -quantities
        keep = np.ones(2 * count, dtype=bool)
        keep[1::2] = closed
        np.add.at(cash_change, bars_at[keep], cash_steps[keep])
        np.add.at(quantity_change, bars_at[keep], quantity_steps[keep])
    cash = initial_cash + np.cumsum(cash_change)
    held = np.cumsum(quantity_change)
    held[np.abs(held) < 1e-12] = 0.0
    return cash + held * bars.close


def buy_and_hold_trades(bars: PriceSeries, config: BacktestConfig) -> list[Trade]:
    """The baseline: buy at the first bar's open with the same sizing and fees, hold to the end."""
    first = BarPrices(float(bars.open[0]), float(bars.high[0]), float(bars.low[0]), float(bars.close[0]))
    price = _market_price(OrderSide.BUY, first, config.slippage)
    quantity = config.initial_cash * config.position_fraction / (price * (1.0 + config.fee_rate))
    fee = _fee(quantity * price, config.fee_rate)
    return [Trade(OrderSide.BUY, 0, bars.index[0].to_pydatetime(), price, quantity, fee)]
