"""Actions on a holding (close or reduce it), as order intents through the normal order path.

The Portfolio page never trades itself: it builds an ``OrderRequest`` here and hands it to
``core.execution.service.place_order`` — the same validation, risk checks (in the executor) and
audit as an order from the Trade page.
"""

from __future__ import annotations

from decimal import Decimal

from core.execution.enums import OrderSide, OrderType
from core.execution.orders import OrderRequest, OrderValidationError

REDUCE_FRACTIONS = (Decimal("0.25"), Decimal("0.5"), Decimal("0.75"), Decimal(1))


def reduce_request(symbol: str, quantity_held: Decimal, fraction: Decimal, *, live: bool = False) -> OrderRequest:
    """Return a market sell of ``fraction`` (0 < f ≤ 1) of a long holding; 1 closes it exactly."""
    if quantity_held <= 0:
        raise OrderValidationError(f"no long position in {symbol} to reduce")
    if not Decimal(0) < fraction <= 1:
        raise OrderValidationError(f"fraction must be in (0, 1], got {fraction}")
    quantity = quantity_held if fraction == 1 else (quantity_held * fraction).normalize()
    return OrderRequest(symbol=symbol, side=OrderSide.SELL, order_type=OrderType.MARKET, quantity=quantity, live=live)
