"""Enums of the order domain shared by execution, risk and backtests.

They import nothing (no SQLAlchemy): ``core.execution.models`` uses them for its columns, and the
read models of the CLI use them without the ORM.
"""

from __future__ import annotations

from enum import StrEnum


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell."""
        return 1 if self is OrderSide.BUY else -1

    @property
    def opposite(self) -> OrderSide:
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP_LIMIT = "stop_limit"
    STOP_MARKET = "stop_market"  # used for stop-loss and trailing exits


class TimeInForce(StrEnum):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class ExitReason(StrEnum):
    SIGNAL = "signal"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    TRAILING_STOP = "trailing_stop"
    MANUAL = "manual"


class OrderStatus(StrEnum):
    """The life of an order. Allowed moves: ``core.execution.orders.TRANSITIONS``."""

    NEW = "new"  # created, waiting for the executor
    SUBMITTING = "submitting"  # claimed by an executor; sent or about to be sent (fate unknown after a crash)
    OPEN = "open"  # accepted by the venue, resting
    TRIGGERED = "triggered"  # a stop order whose stop price was reached; now working as a limit/market order
    PARTIALLY_FILLED = "partially_filled"
    PENDING_CANCEL = "pending_cancel"  # the cancel was sent to the venue, not yet confirmed
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"  # refused by the venue
    DENIED = "denied"  # refused by Konsens' own checks (ticket, venue rules, risk, balance) before it was sent
    EXPIRED = "expired"


class TradingMode(StrEnum):
    PAPER = "paper"
    LIVE = "live"
