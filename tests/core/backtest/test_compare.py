"""The cross-check of two engines' trades."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from core.backtest.compare import first_difference, trades_match
from core.backtest.engine import Trade
from core.execution.enums import ExitReason, OrderSide

AT = datetime(2024, 1, 1, tzinfo=UTC)
TRADE = Trade(OrderSide.BUY, 3, AT, 100.0, 2.0, 0.2, 7, AT, 110.0, 0.22, ExitReason.SIGNAL)


def test_identical_trades_match() -> None:
    assert trades_match([TRADE], [replace(TRADE)])


def test_fees_are_compared_leg_by_leg() -> None:
    # The same total fee split differently between entry and exit is a different fill.
    shifted = replace(TRADE, entry_fee=0.3, exit_fee=0.12)
    difference = first_difference([TRADE], [shifted])
    assert difference is not None and "fees" in difference


def test_quantity_and_price_differences_are_named() -> None:
    quantity = first_difference([TRADE], [replace(TRADE, quantity=2.001)])
    assert quantity is not None and "quantity" in quantity
    price = first_difference([TRADE], [replace(TRADE, exit_price=110.0001)])
    assert price is not None and "prices" in price
    assert first_difference([TRADE], []) == "1 trades vs 0"
