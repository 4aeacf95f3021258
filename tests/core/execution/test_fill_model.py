from __future__ import annotations

from decimal import Decimal

import pytest

from core.execution.enums import ExitReason, OrderSide, OrderType
from core.execution.fill_model import BarPrices, ExitLevels, advance_trailing_stop, check_exits, fill_price

D = Decimal
BAR = BarPrices(open=D(100), high=D(110), low=D(90), close=D(105))
NO_SLIP = D(0)


def test_market_buy_fills_at_the_open_plus_slippage() -> None:
    assert fill_price(OrderSide.BUY, OrderType.MARKET, BAR, slippage=D("0.001")) == D("100.100")
    assert fill_price(OrderSide.SELL, OrderType.MARKET, BAR, slippage=D("0.001")) == D("99.900")


@pytest.mark.parametrize(
    ("side", "limit", "expected"),
    [
        (OrderSide.BUY, D(95), D(95)),  # touched inside the bar
        (OrderSide.BUY, D(101), D(100)),  # open already below the limit: filled at the open
        (OrderSide.BUY, D(89), None),  # never reached
        (OrderSide.SELL, D(108), D(108)),
        (OrderSide.SELL, D(99), D(100)),
        (OrderSide.SELL, D(111), None),
    ],
)
def test_limit_orders_fill_when_price_crosses(side: OrderSide, limit: Decimal, expected: Decimal | None) -> None:
    assert fill_price(side, OrderType.LIMIT, BAR, slippage=NO_SLIP, limit_price=limit) == expected


def test_stop_limit_triggers_then_respects_its_limit() -> None:
    assert fill_price(
        OrderSide.BUY, OrderType.STOP_LIMIT, BAR, slippage=NO_SLIP, stop_price=D(108), limit_price=D(109)
    ) == D(108)
    gap_up = BarPrices(open=D(112), high=D(115), low=D(111), close=D(114))
    assert fill_price(OrderSide.BUY, OrderType.STOP_LIMIT, gap_up, slippage=NO_SLIP, stop_price=D(108), limit_price=D(109)) is None  # fmt: skip


def test_stop_loss_is_assumed_first_when_a_bar_touches_both_exits() -> None:
    levels = ExitLevels(stop_loss=D(92), take_profit=D(108))
    exit_fill = check_exits(OrderSide.BUY, BAR, levels, slippage=NO_SLIP)
    assert exit_fill is not None
    assert exit_fill.reason is ExitReason.STOP_LOSS
    assert exit_fill.price == D(92)


def test_gap_through_the_stop_fills_at_the_open() -> None:
    gap_down = BarPrices(open=D(85), high=D(88), low=D(80), close=D(82))
    exit_fill = check_exits(OrderSide.BUY, gap_down, ExitLevels(stop_loss=D(92)), slippage=NO_SLIP)
    assert exit_fill is not None and exit_fill.price == D(85)


def test_trailing_stop_only_moves_up_and_never_triggers_on_the_bar_that_raised_it() -> None:
    levels = ExitLevels(trailing_distance=D(10), trailing_stop=D(80))
    assert check_exits(OrderSide.BUY, BAR, levels, slippage=NO_SLIP) is None
    raised = advance_trailing_stop(OrderSide.BUY, BAR, levels)
    assert raised.trailing_stop == D(100)
    lower_bar = BarPrices(open=D(103), high=D(104), low=D(99), close=D(100))
    assert advance_trailing_stop(OrderSide.BUY, lower_bar, raised).trailing_stop == D(100)
    exit_fill = check_exits(OrderSide.BUY, lower_bar, raised, slippage=NO_SLIP)
    assert exit_fill is not None and exit_fill.reason is ExitReason.TRAILING_STOP and exit_fill.price == D(100)


def test_fill_model_works_on_floats_too() -> None:
    bar = BarPrices(open=100.0, high=110.0, low=90.0, close=105.0)
    assert fill_price(OrderSide.BUY, OrderType.LIMIT, bar, slippage=0.0, limit_price=95.0) == 95.0
