"""The result types of a backtest, shared by the engines: config, trades and the trade log.

Kept apart from ``core.backtest.engine`` so the backtrader bridge can use them without importing
the engine that loads the bridge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from core.execution.enums import ExitReason, OrderSide

if TYPE_CHECKING:  # this module imports neither pandas nor numba (the CLI reads ``EngineKind`` from it)
    from core.backtest.protections import Protections
    from core.backtest.series import PriceSeries

BASIS_POINT = 1e-4


class EngineKind(StrEnum):
    EVENT = "event"  # Python event loop on the fill model (the reference)
    FAST = "fast"  # compiled signals + simulation
    BACKTRADER = "backtrader"  # the cross-check bridge


@dataclass(frozen=True)
class BacktestConfig:
    """How orders are sized and filled in a backtest."""

    initial_cash: float = 10_000.0
    fee_bps: float = 10.0
    slippage_bps: float = 0.0
    position_fraction: float = 0.98
    stop_loss: float | None = None  # fraction below the entry price, e.g. 0.05
    take_profit: float | None = None  # fraction above the entry price
    trailing_stop: float | None = None  # trailing distance as a fraction of the entry price
    protections: Protections | None = None  # the live guard's protections (core.backtest.protections)

    def __post_init__(self) -> None:
        if not self.initial_cash > 0:
            raise ValueError("initial cash must be positive")
        if not 0 <= self.fee_bps < 1000:
            raise ValueError("fee must be between 0 and 1000 bp")
        if not 0 <= self.slippage_bps < 1000:
            raise ValueError("slippage must be between 0 and 1000 bp")
        if not 0 < self.position_fraction <= 1:
            raise ValueError("position fraction must be in (0, 1]")
        for name in ("stop_loss", "take_profit", "trailing_stop"):
            value = getattr(self, name)
            if value is not None and not 0 < value < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be a fraction between 0 and 1")

    @property
    def fee_rate(self) -> float:
        return self.fee_bps * BASIS_POINT

    @property
    def slippage(self) -> float:
        return self.slippage_bps * BASIS_POINT

    @property
    def protected(self) -> bool:
        """True when any of the live guard's protections is switched on."""
        return self.protections is not None and self.protections.active

    @property
    def has_exit_levels(self) -> bool:
        return self.stop_loss is not None or self.take_profit is not None or self.trailing_stop is not None


@dataclass(frozen=True)
class Trade:
    """One round trip (long): entry fill, and exit fill unless still open at the end of the data."""

    side: OrderSide
    entry_index: int
    entry_time: datetime
    entry_price: float
    quantity: float
    entry_fee: float
    exit_index: int | None = None
    exit_time: datetime | None = None
    exit_price: float | None = None
    exit_fee: float = 0.0
    exit_reason: ExitReason | None = None

    @property
    def is_open(self) -> bool:
        return self.exit_index is None

    def pnl(self, mark_price: float | None = None) -> float:
        """Profit after both fees; an open trade is valued at ``mark_price``."""
        exit_price = self.exit_price if self.exit_price is not None else mark_price
        if exit_price is None:
            return -self.entry_fee
        return (exit_price - self.entry_price) * self.quantity * self.side.sign - self.entry_fee - self.exit_fee

    def return_fraction(self, mark_price: float | None = None) -> float:
        """Profit after fees as a fraction of the entry notional."""
        return self.pnl(mark_price) / (self.entry_price * self.quantity)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view (ISO times)."""
        return {
            "side": self.side.value,
            "entry_time": self.entry_time.isoformat(),
            "entry_price": self.entry_price,
            "exit_time": self.exit_time.isoformat() if self.exit_time else None,
            "exit_price": self.exit_price,
            "quantity": self.quantity,
            "entry_fee": self.entry_fee,
            "exit_fee": self.exit_fee,
            "exit_reason": self.exit_reason.value if self.exit_reason else None,
            "pnl": self.pnl() if not self.is_open else None,
        }


@dataclass
class TradeLog:
    """What a simulation produced: the trades, the cash left, and how long it took."""

    engine: EngineKind
    trades: list[Trade]
    final_cash: float
    seconds: float = 0.0
    signals: int = 0
    rejected_orders: int = 0  # entries refused at the fill because the cash did not cover them
    blocked: dict[str, int] = field(default_factory=dict)  # signals refused by the protections, by rule


TradeRow = tuple[int, float, float, float, "int | None", "float | None", float, "ExitReason | None"]


def build_trades(bars: PriceSeries, rows: list[TradeRow]) -> list[Trade]:
    """Turn raw trade rows (bar numbers) into ``Trade`` objects with their UTC times."""
    if not rows:
        return []
    entry_times = bars.index[[row[0] for row in rows]].to_pydatetime()
    exit_positions = [row[4] if row[4] is not None else 0 for row in rows]
    exit_times = bars.index[exit_positions].to_pydatetime()
    trades = []
    for row, entry_time, exit_time in zip(rows, entry_times, exit_times, strict=True):
        entry_index, entry_price, quantity, entry_fee, exit_index, exit_price, exit_fee, reason = row
        trades.append(
            Trade(
                OrderSide.BUY,
                entry_index,
                entry_time,
                entry_price,
                quantity,
                entry_fee,
                exit_index,
                exit_time if exit_index is not None else None,
                exit_price,
                exit_fee,
                reason,
            )
        )
    return trades
