"""Average-cost arithmetic (Decimal): the one implementation portfolio, tax and risk use.

- :func:`cost_of_part`: the cost that leaves an average-cost holding when part of it goes
  (``cost × part / quantity``) — used by the executor's positions (:class:`PositionState`), the
  portfolio valuation (``core.portfolio.valuation``) and the tax engine's pools
  (``core.tax.engine``), so a sale's cost basis is the same figure everywhere.
- :func:`average_cost`: cost per unit of a holding (None when it is empty).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.execution.enums import OrderSide

ZERO = Decimal(0)


def cost_of_part(quantity: Decimal, cost: Decimal, part: Decimal) -> Decimal:
    """Return the share of ``cost`` that ``part`` of ``quantity`` units carries (average cost)."""
    return cost * part / quantity


def average_cost(quantity: Decimal, cost: Decimal) -> Decimal | None:
    """Return the cost per unit, or None for an empty holding."""
    return cost / quantity if quantity > 0 else None


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
        held_cost = self.quantity * self.average_price
        if side is OrderSide.BUY:
            new_quantity = self.quantity + quantity
            cost = held_cost + quantity * price + fee
            return PositionState(new_quantity, average_cost(new_quantity, cost) or ZERO, self.realised_pnl)
        if quantity > self.quantity:
            raise ValueError(f"cannot sell {quantity}: position holds only {self.quantity}")
        gain = quantity * price - cost_of_part(self.quantity, held_cost, quantity) - fee
        remaining = self.quantity - quantity
        return PositionState(remaining, self.average_price if remaining else ZERO, self.realised_pnl + gain)

    def unrealised_pnl(self, market_price: Decimal) -> Decimal:
        """Return the gain of the open quantity at ``market_price``."""
        return self.quantity * (market_price - self.average_price)
