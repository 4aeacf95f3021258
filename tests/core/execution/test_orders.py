"""Attached exits become prices: absolute, percent of the entry, ATR multiples, long and short."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.execution.enums import OrderSide
from core.execution.orders import AttachedExits, ExitKind, ExitResolutionError, ExitSpec, resolve_exit_levels

D = Decimal


def test_exit_levels_in_price_percent_and_atr() -> None:
    levels = resolve_exit_levels(
        OrderSide.BUY,
        D("100"),
        AttachedExits(
            stop_loss=ExitSpec(ExitKind.PERCENT, D("5")),
            take_profit=ExitSpec(ExitKind.ATR, D("3")),
            trailing_stop=ExitSpec(ExitKind.PRICE, D("4")),
        ),
        atr=D("2"),
    )
    assert levels.stop_loss == D("95")
    assert levels.take_profit == D("106")
    assert levels.trailing_distance == D("4")
    assert levels.trailing_stop == D("96")
    short = resolve_exit_levels(
        OrderSide.SELL,
        D("100"),
        AttachedExits(
            stop_loss=ExitSpec(ExitKind.PRICE, D("103")),
            take_profit=ExitSpec(ExitKind.PERCENT, D("10")),
            trailing_stop=ExitSpec(ExitKind.ATR, D("1.5")),
        ),
        atr=D("2"),
    )
    assert (short.stop_loss, short.take_profit, short.trailing_stop) == (D("103"), D("90"), D("103"))


@pytest.mark.parametrize(
    ("exits", "message"),
    [
        (AttachedExits(stop_loss=ExitSpec(ExitKind.PRICE, D("101"))), "losing side of the entry"),
        (AttachedExits(take_profit=ExitSpec(ExitKind.PRICE, D("99"))), "winning side of the entry"),
        (AttachedExits(stop_loss=ExitSpec(ExitKind.ATR, D("2"))), "ATR"),
        (AttachedExits(stop_loss=ExitSpec(ExitKind.PERCENT, D("120"))), "positive price"),
    ],
)
def test_exit_levels_refuse_the_wrong_side_and_a_missing_atr(exits: AttachedExits, message: str) -> None:
    with pytest.raises(ExitResolutionError, match=message):
        resolve_exit_levels(OrderSide.BUY, D("100"), exits)
