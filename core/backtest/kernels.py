"""Compiled (numba) kernels: causal indicators and the fast-path trade simulator.

Every indicator kernel is causal: the value at bar ``i`` depends only on bars ``0..i``. Both the
event loop and the fast path read the same indicator arrays, so they see the same numbers.

The simple moving average and the rolling standard deviation sum their windows with an exact
port of CPython's ``math.fsum`` (Shewchuk's algorithm with correct rounding), the same summation
backtrader uses; this makes our averages bit-identical to backtrader's, so crossovers on flat
prices (where the two averages are exactly equal) are decided the same way.

``simulate_long_only`` is the fast path's fill simulation. It reproduces
``core.execution.fill_model`` for float prices (market fill at the next open with slippage,
stop-loss / trailing stop first, then take-profit, gaps fill at the open, the trailing stop
advanced after the bar was checked); ``tests/core/backtest`` proves it gives the same trades as
the event loop, which calls the fill model itself.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

from core.backtest.kernel_codes import (  # re-exported: callers have always found the codes here
    EXIT_OPEN,
    EXIT_SIGNAL,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    EXIT_TRAILING_STOP,
    SIGNAL_BUY,
    SIGNAL_NONE,
    SIGNAL_SELL,
)

__all__ = [
    "EXIT_OPEN",
    "EXIT_SIGNAL",
    "EXIT_STOP_LOSS",
    "EXIT_TAKE_PROFIT",
    "EXIT_TRAILING_STOP",
    "SIGNAL_BUY",
    "SIGNAL_NONE",
    "SIGNAL_SELL",
    "fsum_window",
    "rolling_std",
    "rsi_wilder",
    "simulate_long_only",
    "sma",
]

FloatArray = NDArray[np.float64]

_MAX_PARTIALS = 64


@numba.njit(cache=True)
def _partials_add(partials: FloatArray, count: int, value: float) -> int:
    """Add ``value`` exactly to the non-overlapping ``partials`` (Shewchuk); return the new count."""
    x = value
    kept = 0
    for j in range(count):
        y = partials[j]
        if abs(x) < abs(y):
            x, y = y, x
        high = x + y
        y_rounded = high - x
        low = y - y_rounded
        if low != 0.0:
            partials[kept] = low
            kept += 1
        x = high
    count = kept
    if x != 0.0:
        partials[count] = x
        count += 1
    return count


@numba.njit(cache=True)
def _partials_round(partials: FloatArray, count: int) -> float:
    """Return the exact sum held in ``partials`` correctly rounded (the last step of ``math.fsum``)."""
    high = 0.0
    low = 0.0
    if count > 0:
        count -= 1
        high = partials[count]
        while count > 0:
            x = high
            count -= 1
            y = partials[count]
            high = x + y
            y_rounded = high - x
            low = y - y_rounded
            if low != 0.0:
                break
        if count > 0 and ((low < 0.0 and partials[count - 1] < 0.0) or (low > 0.0 and partials[count - 1] > 0.0)):
            y = low * 2.0
            x = high + y
            y_rounded = x - high
            if y == y_rounded:
                high = x
    return high


@numba.njit(cache=True)
def _fsum_window(values: FloatArray, start: int, stop: int, partials: FloatArray) -> float:
    """Return the correctly rounded sum of ``values[start:stop]`` (CPython ``math.fsum``)."""
    count = 0
    for k in range(start, stop):
        count = _partials_add(partials, count, values[k])
    return _partials_round(partials, count)


@numba.njit(cache=True)
def fsum_window(values: FloatArray, start: int, stop: int) -> float:
    """Exact sum of a slice (a test entry point for ``_fsum_window``)."""
    partials = np.empty(_MAX_PARTIALS)
    return _fsum_window(values, start, stop, partials)


@numba.njit(cache=True)
def sma(values: FloatArray, period: int) -> FloatArray:
    """Simple moving average: ``fsum(window) / period``; NaN before ``period`` bars.

    The window's exact sum is kept as Shewchuk partials (add the new close, subtract the one
    leaving, both exactly), so each bar costs a few operations yet rounds exactly like
    ``math.fsum`` over the whole window.
    """
    size = values.shape[0]
    result = np.full(size, np.nan)
    partials = np.empty(_MAX_PARTIALS)
    count = 0
    for i in range(size):
        count = _partials_add(partials, count, values[i])
        if i >= period:
            count = _partials_add(partials, count, -values[i - period])
        if i >= period - 1:
            result[i] = _partials_round(partials, count) / period
    return result


@numba.njit(cache=True)
def rolling_std(values: FloatArray, means: FloatArray, period: int) -> FloatArray:
    """Population standard deviation over ``period`` bars around the given rolling ``means``."""
    size = values.shape[0]
    result = np.full(size, np.nan)
    partials = np.empty(_MAX_PARTIALS)
    squares = np.empty(period)
    for i in range(period - 1, size):
        mean = means[i]
        for k in range(period):
            deviation = values[i - period + 1 + k] - mean
            squares[k] = deviation * deviation
        result[i] = math.sqrt(_fsum_window(squares, 0, period, partials) / period)
    return result


@numba.njit(cache=True)
def rsi_wilder(values: FloatArray, period: int) -> FloatArray:
    """Relative strength index with Wilder's smoothing, seeded by the mean of the first ``period`` changes."""
    size = values.shape[0]
    result = np.full(size, np.nan)
    if size <= period:
        return result
    gain_sum = 0.0
    loss_sum = 0.0
    for i in range(1, period + 1):
        change = values[i] - values[i - 1]
        if change > 0.0:
            gain_sum += change
        else:
            loss_sum -= change
    average_gain = gain_sum / period
    average_loss = loss_sum / period
    result[period] = _rsi_value(average_gain, average_loss)
    for i in range(period + 1, size):
        change = values[i] - values[i - 1]
        gain = change if change > 0.0 else 0.0
        loss = -change if change < 0.0 else 0.0
        average_gain = (average_gain * (period - 1) + gain) / period
        average_loss = (average_loss * (period - 1) + loss) / period
        result[i] = _rsi_value(average_gain, average_loss)
    return result


@numba.njit(cache=True)
def _rsi_value(average_gain: float, average_loss: float) -> float:
    if average_loss == 0.0:
        return 100.0 if average_gain > 0.0 else 50.0
    return 100.0 - 100.0 / (1.0 + average_gain / average_loss)


_NO_TIMES = np.zeros(0, np.int64)


@numba.njit(cache=True)
def simulate_long_only(
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    signals: NDArray[np.int8],
    initial_cash: float,
    position_fraction: float,
    fee_rate: float,
    slippage: float,
    stop_loss_fraction: float,
    take_profit_fraction: float,
    trailing_fraction: float,
    protect: bool = False,
    open_seconds: NDArray[np.int64] = _NO_TIMES,
    decision_seconds: NDArray[np.int64] = _NO_TIMES,
    day: NDArray[np.int64] = _NO_TIMES,
    daily_loss_limit: float = np.inf,
    max_drawdown: float = np.inf,
    cooldown_seconds: int = -1,
    guard_count: int = 0,
    guard_lookback_seconds: int = 0,
    guard_lock_seconds: int = 0,
) -> tuple[
    NDArray[np.int64],
    NDArray[np.int64],
    FloatArray,
    FloatArray,
    FloatArray,
    FloatArray,
    FloatArray,
    NDArray[np.int8],
    FloatArray,
]:
    """Simulate a long-only strategy from its signal codes; return the trades and the final cash.

    Returns arrays (one row per trade): entry bar, exit bar (-1 while open), quantity, entry
    price, exit price, entry fee, exit fee, exit reason code, and ``[final cash, rejected entries,
    blocked HALTED, blocked REDUCING, blocked stop-loss guard, blocked cooldown]``.
    Exit fractions of 0 mean "no such exit".

    With ``protect`` the live guard's protections apply as ``core.backtest.protections`` describes
    (per bar: open and decision times in seconds, the Vienna day number; limits: ``inf`` / -1 / 0
    mean off); ``ProtectionState`` is the reference the event loop uses.
    """
    size = open_.shape[0]
    capacity = 16
    entry_bar = np.empty(capacity, np.int64)
    exit_bar = np.empty(capacity, np.int64)
    quantity_out = np.empty(capacity)
    entry_price_out = np.empty(capacity)
    exit_price_out = np.empty(capacity)
    entry_fee_out = np.empty(capacity)
    exit_fee_out = np.empty(capacity)
    reason_out = np.empty(capacity, np.int8)
    trades = 0
    cash = initial_cash
    quantity = 0.0
    pending = 0  # +1 entry at the next open, -1 exit at the next open
    pending_quantity = 0.0
    rejected = 0
    stop_loss = np.nan
    take_profit = np.nan
    trailing_distance = np.nan
    trailing_stop = np.nan
    halted = False
    reducing_day = -1  # REDUCING until this Vienna day ends (-1: not reducing)
    peak = initial_cash
    opening = initial_cash
    current_day = -1
    previous_equity = initial_cash
    stop_outs = np.empty(max(guard_count, 1), np.int64)  # the newest stop-out times, a ring
    stop_out_count = 0
    lock_until = -1
    last_exit = -1
    blocked = np.zeros(4, np.int64)
    for i in range(size):
        entered_now = False
        exit_reason_now = EXIT_OPEN
        if pending == 1:
            pending = 0
            price = open_[i] * (1.0 + slippage)
            fee = pending_quantity * price * fee_rate
            remaining = cash - pending_quantity * price - fee
            if remaining < 0.0:  # a gap up made it unaffordable: rejected, as a broker would
                rejected += 1
            else:
                cash = remaining
                quantity = pending_quantity
                entered_now = True
                if trades == capacity:
                    capacity *= 2
                    entry_bar = _grow_int(entry_bar, capacity)
                    exit_bar = _grow_int(exit_bar, capacity)
                    quantity_out = _grow(quantity_out, capacity)
                    entry_price_out = _grow(entry_price_out, capacity)
                    exit_price_out = _grow(exit_price_out, capacity)
                    entry_fee_out = _grow(entry_fee_out, capacity)
                    exit_fee_out = _grow(exit_fee_out, capacity)
                    reason_out = _grow_int8(reason_out, capacity)
                entry_bar[trades] = i
                exit_bar[trades] = -1
                quantity_out[trades] = quantity
                entry_price_out[trades] = price
                exit_price_out[trades] = np.nan
                entry_fee_out[trades] = fee
                exit_fee_out[trades] = 0.0
                reason_out[trades] = EXIT_OPEN
                trades += 1
                stop_loss = price * (1.0 - stop_loss_fraction) if stop_loss_fraction > 0.0 else np.nan
                take_profit = price * (1.0 + take_profit_fraction) if take_profit_fraction > 0.0 else np.nan
                trailing_distance = price * trailing_fraction if trailing_fraction > 0.0 else np.nan
                trailing_stop = price - trailing_distance if trailing_fraction > 0.0 else np.nan
        elif pending == -1:
            price = open_[i] * (1.0 - slippage)
            _close_trade(
                trades - 1,
                i,
                price,
                quantity,
                fee_rate,
                EXIT_SIGNAL,
                exit_bar,
                exit_price_out,
                exit_fee_out,
                reason_out,
            )
            cash = cash + quantity * price - quantity * price * fee_rate
            quantity = 0.0
            pending = 0
            exit_reason_now = EXIT_SIGNAL
        if (
            quantity > 0.0
            and not entered_now
            and not halted
            and (stop_loss == stop_loss or take_profit == take_profit or trailing_stop == trailing_stop)
        ):
            # Stops first: the nearest stop (the highest for a long) triggers first.
            stop = np.nan
            stop_reason = EXIT_STOP_LOSS
            if stop_loss == stop_loss:
                stop = stop_loss
            if trailing_stop == trailing_stop and (stop != stop or stop < trailing_stop):
                stop = trailing_stop
                stop_reason = EXIT_TRAILING_STOP
            exit_price = np.nan
            exit_reason = EXIT_OPEN
            if stop == stop:
                if open_[i] <= stop:
                    exit_price = open_[i] * (1.0 - slippage)
                    exit_reason = stop_reason
                elif low[i] <= stop:
                    exit_price = stop * (1.0 - slippage)
                    exit_reason = stop_reason
            if exit_reason == EXIT_OPEN and take_profit == take_profit:
                if take_profit <= open_[i]:
                    exit_price = open_[i]
                    exit_reason = EXIT_TAKE_PROFIT
                elif take_profit <= high[i]:
                    exit_price = take_profit
                    exit_reason = EXIT_TAKE_PROFIT
            if exit_reason != EXIT_OPEN:
                _close_trade(
                    trades - 1,
                    i,
                    exit_price,
                    quantity,
                    fee_rate,
                    exit_reason,
                    exit_bar,
                    exit_price_out,
                    exit_fee_out,
                    reason_out,
                )
                cash = cash + quantity * exit_price - quantity * exit_price * fee_rate
                quantity = 0.0
                exit_reason_now = exit_reason
            elif trailing_distance == trailing_distance:
                candidate = high[i] - trailing_distance
                if trailing_stop < candidate:
                    trailing_stop = candidate
        if protect:
            if exit_reason_now != EXIT_OPEN:
                last_exit = open_seconds[i]
                if guard_count > 0 and exit_reason_now in (EXIT_STOP_LOSS, EXIT_TRAILING_STOP):
                    stop_outs[stop_out_count % guard_count] = last_exit
                    stop_out_count += 1
                    if stop_out_count >= guard_count:  # the guard's rule (core.risk.guard.stoploss_lock_from)
                        first = stop_outs[stop_out_count % guard_count] if guard_count > 1 else last_exit
                        if last_exit - first <= guard_lookback_seconds and last_exit + guard_lock_seconds > lock_until:
                            lock_until = last_exit + guard_lock_seconds
            equity = cash + quantity * close[i]
            if day[i] != current_day:
                if current_day != -1:
                    opening = previous_equity
                current_day = day[i]
            if reducing_day != -1 and day[i] > reducing_day:
                reducing_day = -1
            previous_equity = equity
            if equity > peak:
                peak = equity
            if not halted:
                loss = (opening - equity) / opening if opening > 0.0 and equity < opening else 0.0
                drawdown = (peak - equity) / peak if peak > 0.0 and equity < peak else 0.0
                if drawdown >= max_drawdown:
                    halted = True
                elif loss >= daily_loss_limit:
                    reducing_day = day[i]
        signal = signals[i]
        if i + 1 < size:
            if signal == SIGNAL_BUY and quantity == 0.0:
                refused = -1
                if protect:
                    now = decision_seconds[i]
                    if halted:
                        refused = 0
                    elif reducing_day != -1:
                        refused = 1
                    elif guard_count > 0 and lock_until > now:
                        refused = 2
                    elif cooldown_seconds >= 0 and last_exit >= 0 and last_exit + cooldown_seconds > now:
                        refused = 3
                if refused >= 0:
                    blocked[refused] += 1
                else:
                    pending = 1
                    pending_quantity = cash * position_fraction / (close[i] * (1.0 + fee_rate))
            elif signal == SIGNAL_SELL and quantity > 0.0:
                if protect and halted:
                    blocked[0] += 1
                else:
                    pending = -1
    cash_out = np.empty(6)
    cash_out[0] = cash
    cash_out[1] = rejected
    for rule in range(4):
        cash_out[2 + rule] = blocked[rule]
    return (
        entry_bar[:trades],
        exit_bar[:trades],
        quantity_out[:trades],
        entry_price_out[:trades],
        exit_price_out[:trades],
        entry_fee_out[:trades],
        exit_fee_out[:trades],
        reason_out[:trades],
        cash_out,
    )


@numba.njit(cache=True)
def _close_trade(
    trade: int,
    bar: int,
    price: float,
    quantity: float,
    fee_rate: float,
    reason: int,
    exit_bar: NDArray[np.int64],
    exit_price: FloatArray,
    exit_fee: FloatArray,
    reason_out: NDArray[np.int8],
) -> None:
    exit_bar[trade] = bar
    exit_price[trade] = price
    exit_fee[trade] = quantity * price * fee_rate
    reason_out[trade] = reason


@numba.njit(cache=True)
def _grow(values: FloatArray, capacity: int) -> FloatArray:
    grown = np.empty(capacity)
    grown[: values.shape[0]] = values
    return grown


@numba.njit(cache=True)
def _grow_int(values: NDArray[np.int64], capacity: int) -> NDArray[np.int64]:
    grown = np.empty(capacity, np.int64)
    grown[: values.shape[0]] = values
    return grown


@numba.njit(cache=True)
def _grow_int8(values: NDArray[np.int8], capacity: int) -> NDArray[np.int8]:
    grown = np.empty(capacity, np.int8)
    grown[: values.shape[0]] = values
    return grown
