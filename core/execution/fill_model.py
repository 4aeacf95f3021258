"""The one fill model: how an order fills against a bar of prices.

Paper trading, backtests and historical replay all call these functions, so the three agree.
They are pure and generic over the number type: pass ``Decimal`` (paper, replay) or ``float``
(backtest hot loops) consistently for one call.

Conventions
- A market order fills at the open of the next bar it sees (the "next available price"),
  moved against the trader by ``slippage`` (a fraction, e.g. 0.0005 = 5 bp).
- A limit buy fills when the bar's low reaches the limit: at the open if the bar opened at or
  below the limit (a gap in the trader's favour), else at the limit. Sells mirror this.
- A stop (stop-market) sell triggers when the bar's low reaches the stop: at the open if the bar
  gapped through it, else at the stop; slippage applies. Buy stops mirror this.
- A stop-limit triggers like a stop and then fills like a limit at the trigger price, if the
  limit allows it in that bar; otherwise it rests as a limit order.
- Exits on one bar: when a bar touches both the stop-loss and the take-profit, the stop is
  assumed to have come first (the conservative choice).
- A trailing stop moves only in the trader's favour, after the bar has been checked against the
  previous stop, so a bar never triggers a stop that it raised itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.execution.enums import ExitReason, OrderSide, OrderType


@dataclass(frozen=True)
class BarPrices[T]:
    """The prices of one bar the fill model needs."""

    open: T
    high: T
    low: T
    close: T


def apply_slippage[T: (Decimal, float)](price: T, side: OrderSide, slippage: T) -> T:
    """Move ``price`` against the trader by the fraction ``slippage``."""
    one = price * 0 + 1  # a 1 of the same number type
    factor = one + slippage if side is OrderSide.BUY else one - slippage
    return price * factor


def fill_price[T: (Decimal, float)](
    side: OrderSide,
    order_type: OrderType,
    bar: BarPrices[T],
    *,
    slippage: T,
    limit_price: T | None = None,
    stop_price: T | None = None,
) -> T | None:
    """Return the price at which the order fills in ``bar``, or None if it does not fill."""
    if order_type is OrderType.MARKET:
        return apply_slippage(bar.open, side, slippage)
    if order_type is OrderType.LIMIT:
        if limit_price is None:
            raise ValueError("a limit order needs a limit price")
        return _limit_fill(side, bar.open, bar.high, bar.low, limit_price)
    if stop_price is None:
        raise ValueError(f"a {order_type.value} order needs a stop price")
    trigger = _stop_trigger(side, bar, stop_price)
    if trigger is None:
        return None
    if order_type is OrderType.STOP_MARKET:
        return apply_slippage(trigger, side, slippage)
    if limit_price is None:
        raise ValueError("a stop-limit order needs a limit price")
    # After the trigger the order is a limit order for the rest of the bar.
    if side is OrderSide.BUY:
        return trigger if trigger <= limit_price else None
    return trigger if limit_price <= trigger else None


def _limit_fill[T: (Decimal, float)](side: OrderSide, open_: T, high: T, low: T, limit: T) -> T | None:
    if side is OrderSide.BUY:
        if open_ <= limit:
            return open_
        return limit if low <= limit else None
    if limit <= open_:
        return open_
    return limit if limit <= high else None


def stop_triggered[T: (Decimal, float)](side: OrderSide, bar: BarPrices[T], stop: T) -> bool:
    """Return True if a stop at ``stop`` triggers in ``bar`` (the same rule :func:`fill_price` applies)."""
    return _stop_trigger(side, bar, stop) is not None


def _stop_trigger[T: (Decimal, float)](side: OrderSide, bar: BarPrices[T], stop: T) -> T | None:
    """Return the price at which a stop triggers in ``bar`` (open on a gap), or None."""
    if side is OrderSide.SELL:
        if bar.open <= stop:
            return bar.open
        return stop if bar.low <= stop else None
    if stop <= bar.open:
        return bar.open
    return stop if stop <= bar.high else None


@dataclass(frozen=True)
class ExitLevels[T]:
    """The protective exits of an open long or short position."""

    stop_loss: T | None = None
    take_profit: T | None = None
    trailing_distance: T | None = None  # absolute price distance
    trailing_stop: T | None = None  # the current trailing stop level


@dataclass(frozen=True)
class ExitFill[T]:
    reason: ExitReason
    price: T


def check_exits[T: (Decimal, float)](
    position_side: OrderSide, bar: BarPrices[T], levels: ExitLevels[T], *, slippage: T
) -> ExitFill[T] | None:
    """Return the exit that fills in ``bar`` for a position, stops first; None if none does."""
    exit_side = position_side.opposite
    stops: list[tuple[ExitReason, T]] = []
    if levels.stop_loss is not None:
        stops.append((ExitReason.STOP_LOSS, levels.stop_loss))
    if levels.trailing_stop is not None:
        stops.append((ExitReason.TRAILING_STOP, levels.trailing_stop))
    if stops:
        # The stop nearest to the market triggers first: highest for a long, lowest for a short.
        reason, stop = (max if position_side is OrderSide.BUY else min)(stops, key=lambda item: item[1])
        trigger = _stop_trigger(exit_side, bar, stop)
        if trigger is not None:
            return ExitFill(reason, apply_slippage(trigger, exit_side, slippage))
    if levels.take_profit is not None:
        price = _limit_fill(exit_side, bar.open, bar.high, bar.low, levels.take_profit)
        if price is not None:
            return ExitFill(ExitReason.TAKE_PROFIT, price)
    return None


def advance_trailing_stop[T: (Decimal, float)](
    position_side: OrderSide, bar: BarPrices[T], levels: ExitLevels[T]
) -> ExitLevels[T]:
    """Return ``levels`` with the trailing stop moved after ``bar`` (only ever in the trader's favour)."""
    if levels.trailing_distance is None:
        return levels
    if position_side is OrderSide.BUY:
        candidate = bar.high - levels.trailing_distance
        current = levels.trailing_stop
        new_stop = candidate if current is None or current < candidate else current
    else:
        candidate = bar.low + levels.trailing_distance
        current = levels.trailing_stop
        new_stop = candidate if current is None or candidate < current else current
    return ExitLevels(levels.stop_loss, levels.take_profit, levels.trailing_distance, new_stop)


def fee_for[T: (Decimal, float)](notional: T, fee_rate: T) -> T:
    """Return the fee of a fill: ``notional × fee_rate`` (fee_rate as a fraction, 10 bp = 0.001)."""
    return notional * fee_rate
