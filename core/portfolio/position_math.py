"""Average-cost position arithmetic (Decimal), shared by the paper broker, sync and the demo."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.execution.enums import OrderSide

ZERO = Decimal(0)


@dataclass(frozen=True)
class PositionState:
    """A long-only position at average cost; fees on buys are part of the cost."""

    quantity: Decimal = ZERO
    average_price: Decimal = ZERO
    realised_pnl: Decimal = ZERO

    def apply_fill(self, side: OrderSide, quantity: Decimal, price: Decimal, fee: Decimal = ZERO) -> PositionState:
        """Return the state after a fill of ``quantity`` at ``price`` with ``fee`` (all in EUR)."""
        if quantity <= 0:
            raise ValueError("fill quantity must be positive")
        if side is OrderSide.BUY:
            new_quantity = self.quantity + quantity
            cost = self.quantity * self.average_price + quantity * price + fee
            return PositionState(new_quantity, cost / new_quantity, self.realised_pnl)
        if quantity > self.quantity:
            raise ValueError(f"cannot sell {quantity}: position holds only {self.quantity}")
        gain = quantity * (price - self.average_price) - fee
        remaining = self.quantity - quantity
        return PositionState(remaining, self.average_price if remaining else ZERO, self.realised_pnl + gain)

    def unrealised_pnl(self, market_price: Decimal) -> Decimal:
        """Return the gain of the open quantity at ``market_price``."""
        return self.quantity * (market_price - self.average_price)
