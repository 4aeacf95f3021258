"""The risk guard's rules as pure functions and names, shared by the live guard and backtests.

No database, no SQLAlchemy: ``core.backtest.protections`` applies the same rules to a simulated
account, and a backtest from a CSV file must not load the ORM.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from core.execution.enums import ExitReason

STOP_OUT_REASONS = (ExitReason.STOP_LOSS, ExitReason.TRAILING_STOP)


class RiskRule(StrEnum):
    """The rules that can block an order or move the trading state."""

    DAILY_LOSS = "daily_loss"
    MAX_DRAWDOWN = "max_drawdown"
    KILL_SWITCH = "kill_switch"
    HALTED = "halted"
    REDUCING = "reducing"
    ORDER_RATE = "order_rate"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    EQUITY_UNKNOWN = "equity_unknown"
    MAX_INSTRUMENT_EXPOSURE = "max_instrument_exposure"
    MAX_TOTAL_EXPOSURE = "max_total_exposure"
    STOPLOSS_GUARD = "stoploss_guard"
    COOLDOWN = "cooldown"
    INVALID_LIMITS = "invalid_limits"


def account_breach[N: (Decimal, float)](
    daily_loss: N, drawdown: N, daily_loss_limit: N, max_drawdown: N
) -> RiskRule | None:
    """Which account breaker a loss and drawdown trip: MAX_DRAWDOWN (→ HALTED) before DAILY_LOSS (→ REDUCING).

    Fractions (0.05 = 5 %); shared by the live guard and the backtest protections
    (``core.backtest.protections``), which apply the same rules to a simulated account.
    """
    if drawdown >= max_drawdown:
        return RiskRule.MAX_DRAWDOWN
    if daily_loss >= daily_loss_limit:
        return RiskRule.DAILY_LOSS
    return None


def stoploss_lock_from[T: (datetime, int)](
    stop_outs: Sequence[T], count: int, lookback: Any, lock: Any, now: T
) -> T | None:
    """The stop-loss guard's rule over stop-out times (oldest first): the latest lock still in force, or None.

    ``count`` stop-outs with at most ``lookback`` between the first and the last lock new entries
    until ``lock`` after the last. Times are datetimes (with timedeltas) or integers (seconds, as
    the backtest protections use them).
    """
    latest_lock: T | None = None
    for index in range(count - 1, len(stop_outs)):
        first, last = stop_outs[index - count + 1], stop_outs[index]
        if last - first <= lookback:
            until = last + lock
            if until > now and (latest_lock is None or until > latest_lock):
                latest_lock = until
    return latest_lock
