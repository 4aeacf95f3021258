"""Position sizing and protective exits, in Decimal.

Sizing methods (each returns a ``PositionSize``: quantity, notional and money at risk):

- fixed fraction: spend ``fraction`` of equity;
- fixed risk: lose at most ``risk_fraction`` of equity if the stop is hit
  (quantity = equity × risk_fraction / |entry − stop|);
- volatility (ATR): the same, with the stop distance ``atr_multiple`` × ATR;
- fractional Kelly: spend ``kelly_fraction`` × f* of equity, f* = W − (1 − W) / R from the
  tracked win rate W and win/loss ratio R, capped at ``max_fraction``.

Every method is capped so the notional never exceeds ``max_notional`` (default: the equity, no
leverage), and quantities are rounded *down* to ``quantity_step``. Money at risk is
quantity × |entry − stop| when there is a stop, else the whole notional (nothing limits the loss).

Exits: stop-loss, take-profit and trailing distance given as a price, a percent of the entry
or an ATR multiple become the prices of ``core.execution.fill_model.ExitLevels``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Context, Decimal, localcontext
from enum import StrEnum
from functools import wraps
from typing import ParamSpec, TypeVar

from core.errors import PermanentError
from core.execution.enums import OrderSide
from core.values import QUANTITY_STEP

DEFAULT_QUANTITY_STEP = QUANTITY_STEP  # the one 1e-8 step (core.values)
MONEY_STEP = Decimal("0.01")
ZERO = Decimal(0)


class SizingError(PermanentError, ValueError):
    """Inputs that cannot give a position size (non-positive price, stop on the wrong side...)."""


class SizingMethod(StrEnum):
    FIXED_FRACTION = "fixed_fraction"
    FIXED_RISK = "fixed_risk"
    VOLATILITY = "volatility"
    KELLY = "kelly"

    @property
    def label(self) -> str:
        return {
            SizingMethod.FIXED_FRACTION: "Fixed fraction of equity",
            SizingMethod.FIXED_RISK: "Fixed risk per trade",
            SizingMethod.VOLATILITY: "Volatility (ATR)",
            SizingMethod.KELLY: "Fractional Kelly",
        }[self]


@dataclass(frozen=True)
class PositionSize:
    """The result of one sizing method."""

    method: SizingMethod
    quantity: Decimal
    notional_eur: Decimal
    money_at_risk_eur: Decimal
    fraction_of_equity: Decimal
    stop_price: Decimal | None
    note: str | None = None  # why the size is capped or zero


@dataclass(frozen=True)
class TradeStatistics:
    """Win rate and win/loss ratio of closed trades (the Kelly inputs)."""

    trades: int
    wins: int
    losses: int
    win_rate: Decimal | None
    win_loss_ratio: Decimal | None  # average win / average loss (both positive)


def _positive(name: str, value: Decimal) -> Decimal:
    if not isinstance(value, Decimal):
        raise SizingError(f"{name} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite() or value <= 0:
        raise SizingError(f"{name} must be a positive number, not {value}")
    return value


def _round_down(value: Decimal, step: Decimal) -> Decimal:
    if value <= 0:
        return ZERO
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def _check_stop(side: OrderSide, entry: Decimal, stop: Decimal) -> Decimal:
    _positive("stop price", stop)
    if side is OrderSide.BUY and stop >= entry:
        raise SizingError(f"the stop of a long entry must lie below the entry ({stop} ≥ {entry})")
    if side is OrderSide.SELL and stop <= entry:
        raise SizingError(f"the stop of a short entry must lie above the entry ({stop} ≤ {entry})")
    return abs(entry - stop)


_P = ParamSpec("_P")
_R = TypeVar("_R")
# Sizing arithmetic runs in a fixed decimal context, whatever the caller's thread has set.
SIZING_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)  # Python's default precision


def _fixed_context(function: Callable[_P, _R]) -> Callable[_P, _R]:
    @wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with localcontext(SIZING_CONTEXT):
            return function(*args, **kwargs)

    return wrapper


def _result(
    method: SizingMethod,
    quantity: Decimal,
    *,
    entry: Decimal,
    equity: Decimal,
    stop: Decimal | None,
    max_notional: Decimal | None,
    quantity_step: Decimal,
    note: str | None = None,
) -> PositionSize:
    cap = equity if max_notional is None else max_notional
    if quantity * entry > cap:
        quantity = cap / entry
        note = note or f"capped at the maximum notional of € {cap:,.2f}"
    quantity = _round_down(quantity, quantity_step)
    notional = (quantity * entry).quantize(MONEY_STEP)
    at_risk = quantity * abs(entry - stop) if stop is not None else quantity * entry
    return PositionSize(
        method=method,
        quantity=quantity,
        notional_eur=notional,
        money_at_risk_eur=at_risk.quantize(MONEY_STEP),
        fraction_of_equity=(quantity * entry / equity).quantize(Decimal("0.0001")),
        stop_price=stop,
        note=note,
    )


def _risk_sized(
    method: SizingMethod,
    equity: Decimal,
    entry: Decimal,
    stop: Decimal,
    distance: Decimal,
    risk_fraction: Decimal,
    max_notional: Decimal | None,
    quantity_step: Decimal,
) -> PositionSize:
    """The size at which a move of ``distance`` against the position loses ``risk_fraction`` of equity."""
    _positive("equity", equity)
    _positive("risk fraction", risk_fraction)
    return _result(
        method,
        equity * risk_fraction / distance,
        entry=entry,
        equity=equity,
        stop=stop,
        max_notional=max_notional,
        quantity_step=quantity_step,
    )


@_fixed_context
def fixed_fraction_size(
    equity: Decimal,
    entry: Decimal,
    fraction: Decimal,
    *,
    side: OrderSide = OrderSide.BUY,
    stop: Decimal | None = None,
    max_notional: Decimal | None = None,
    quantity_step: Decimal = DEFAULT_QUANTITY_STEP,
) -> PositionSize:
    """Spend ``fraction`` of ``equity`` at ``entry``."""
    _positive("equity", equity)
    _positive("entry price", entry)
    _positive("fraction", fraction)
    if stop is not None:
        _check_stop(side, entry, stop)
    return _result(
        SizingMethod.FIXED_FRACTION,
        equity * fraction / entry,
        entry=entry,
        equity=equity,
        stop=stop,
        max_notional=max_notional,
        quantity_step=quantity_step,
    )


@_fixed_context
def fixed_risk_size(
    equity: Decimal,
    entry: Decimal,
    stop: Decimal,
    risk_fraction: Decimal,
    *,
    side: OrderSide = OrderSide.BUY,
    max_notional: Decimal | None = None,
    quantity_step: Decimal = DEFAULT_QUANTITY_STEP,
) -> PositionSize:
    """Size so that hitting ``stop`` loses ``risk_fraction`` of ``equity``."""
    _positive("entry price", entry)
    distance = _check_stop(side, entry, stop)
    return _risk_sized(
        SizingMethod.FIXED_RISK, equity, entry, stop, distance, risk_fraction, max_notional, quantity_step
    )


@_fixed_context
def volatility_size(
    equity: Decimal,
    entry: Decimal,
    atr: Decimal,
    risk_fraction: Decimal,
    *,
    atr_multiple: Decimal = Decimal(2),
    side: OrderSide = OrderSide.BUY,
    max_notional: Decimal | None = None,
    quantity_step: Decimal = DEFAULT_QUANTITY_STEP,
) -> PositionSize:
    """Size so that a move of ``atr_multiple`` × ATR against the position loses ``risk_fraction``."""
    _positive("entry price", entry)
    _positive("ATR", atr)
    _positive("ATR multiple", atr_multiple)
    distance = atr * atr_multiple
    stop = entry - distance if side is OrderSide.BUY else entry + distance
    if stop <= 0:
        raise SizingError(f"{atr_multiple} × ATR ({distance}) puts the stop at or below zero")
    return _risk_sized(
        SizingMethod.VOLATILITY, equity, entry, stop, distance, risk_fraction, max_notional, quantity_step
    )


@_fixed_context
def kelly_fraction(win_rate: Decimal, win_loss_ratio: Decimal) -> Decimal:
    """Return the full Kelly fraction f* = W − (1 − W) / R (negative: no edge)."""
    if not (ZERO <= win_rate <= 1):
        raise SizingError(f"the win rate must be between 0 and 1, not {win_rate}")
    _positive("win/loss ratio", win_loss_ratio)
    return win_rate - (1 - win_rate) / win_loss_ratio


@_fixed_context
def kelly_size(
    equity: Decimal,
    entry: Decimal,
    statistics: TradeStatistics,
    *,
    fraction_of_kelly: Decimal = Decimal("0.5"),
    max_fraction: Decimal = Decimal("0.25"),
    min_trades: int = 10,
    side: OrderSide = OrderSide.BUY,
    stop: Decimal | None = None,
    max_notional: Decimal | None = None,
    quantity_step: Decimal = DEFAULT_QUANTITY_STEP,
) -> PositionSize:
    """Spend ``fraction_of_kelly`` × f* of equity, capped at ``max_fraction``; zero without an edge.

    Fewer than ``min_trades`` closed trades, or no loss yet to measure the ratio, give zero: the
    statistics are not yet worth betting on.
    """
    _positive("equity", equity)
    _positive("entry price", entry)
    _positive("fraction of Kelly", fraction_of_kelly)
    _positive("maximum fraction", max_fraction)
    if stop is not None:
        _check_stop(side, entry, stop)

    def nothing(note: str) -> PositionSize:
        return _result(
            SizingMethod.KELLY,
            ZERO,
            entry=entry,
            equity=equity,
            stop=stop,
            max_notional=max_notional,
            quantity_step=quantity_step,
            note=note,
        )

    if statistics.trades < min_trades or statistics.win_rate is None or statistics.win_loss_ratio is None:
        return nothing(f"needs at least {min_trades} closed trades with wins and losses ({statistics.trades} so far)")
    full = kelly_fraction(statistics.win_rate, statistics.win_loss_ratio)
    if full <= 0:
        return nothing(f"no edge: Kelly fraction {full:.3f}")
    fraction = full * fraction_of_kelly
    note = None
    if fraction > max_fraction:
        fraction = max_fraction
        note = f"capped at {max_fraction:.0%} of equity (Kelly suggests {full * fraction_of_kelly:.1%})"
    return _result(
        SizingMethod.KELLY,
        equity * fraction / entry,
        entry=entry,
        equity=equity,
        stop=stop,
        max_notional=max_notional,
        quantity_step=quantity_step,
        note=note,
    )


@_fixed_context
def trade_statistics(realised_pnls: Sequence[Decimal]) -> TradeStatistics:
    """Return win rate and win/loss ratio of closed trades' realised P&L (zero P&L counts as neither)."""
    wins = [pnl for pnl in realised_pnls if pnl > 0]
    losses = [-pnl for pnl in realised_pnls if pnl < 0]
    decided = len(wins) + len(losses)
    win_rate = Decimal(len(wins)) / decided if decided else None
    ratio = None
    if wins and losses:
        ratio = (sum(wins, ZERO) / len(wins)) / (sum(losses, ZERO) / len(losses))
    return TradeStatistics(
        trades=len(realised_pnls), wins=len(wins), losses=len(losses), win_rate=win_rate, win_loss_ratio=ratio
    )
