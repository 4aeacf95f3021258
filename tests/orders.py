"""Orders for tests, placed as the ticket places them (``core.execution.service.place_order``)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from core.execution.enums import OrderSide, OrderType
from core.execution.models import Order
from core.execution.orders import OrderRequest
from core.execution.service import place_order

TEST_ACTOR = "test"


def place_test_order(
    session: Session,
    symbol: str,
    side: OrderSide = OrderSide.BUY,
    order_type: OrderType = OrderType.LIMIT,
    *,
    quantity: Decimal | None = None,
    amount_eur: Decimal | None = None,
    limit_price: Decimal | None = None,
) -> Order:
    """Place an order (default a limit buy) through the real order service as the actor ``test``."""
    request = OrderRequest(
        symbol=symbol,
        side=side,
        order_type=order_type,
        quantity=quantity,
        amount_eur=amount_eur,
        limit_price=limit_price,
    )
    return place_order(session, request, actor=TEST_ACTOR)
