from __future__ import annotations

from decimal import Decimal

import pytest

from core.execution.enums import OrderSide, OrderType
from core.execution.orders import OrderValidationError
from core.portfolio.actions import reduce_request


def test_closing_sells_exactly_the_quantity_held() -> None:
    request = reduce_request("BTC/EUR", Decimal("0.123456789012345678"), Decimal(1))
    assert (request.side, request.order_type, request.quantity) == (
        OrderSide.SELL, OrderType.MARKET, Decimal("0.123456789012345678")
    )  # fmt: skip


def test_reducing_by_a_quarter_sells_a_quarter() -> None:
    assert reduce_request("ETH/EUR", Decimal("2.4"), Decimal("0.25")).quantity == Decimal("0.6")


@pytest.mark.parametrize(("held", "fraction"), [(Decimal(0), Decimal(1)), (Decimal(1), Decimal(0)),
                                                 (Decimal(1), Decimal("1.5"))])  # fmt: skip
def test_bad_reduce_requests_are_refused(held: Decimal, fraction: Decimal) -> None:
    with pytest.raises(OrderValidationError):
        reduce_request("BTC/EUR", held, fraction)
