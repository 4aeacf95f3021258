from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.audit import AuditAction, AuditEntry
from core.db.engine import Database
from core.execution.enums import ExitReason, OrderSide, OrderType
from core.execution.executor import Executor
from core.execution.models import ExitPlan, Order, OrderStatus
from core.execution.orders import OrderRequest, OrderValidationError
from core.execution.service import place_order
from core.portfolio.actions import ExitPlanError, plan_exit_change, reduce_request, set_holding_exits
from core.portfolio.models import Position
from core.timeutil import utc_now
from tests.core.execution.conftest import add_quote


def test_closing_sells_exactly_the_quantity_held() -> None:
    request = reduce_request("BTC/EUR", Decimal("0.123456789012345678"), Decimal(1))
    assert (request.side, request.order_type, request.quantity) == (
        OrderSide.SELL,
        OrderType.MARKET,
        Decimal("0.123456789012345678"),
    )


def test_reducing_by_a_quarter_sells_a_quarter() -> None:
    assert reduce_request("ETH/EUR", Decimal("2.4"), Decimal("0.25")).quantity == Decimal("0.6")


@pytest.mark.parametrize(
    ("held", "fraction"), [(Decimal(0), Decimal(1)), (Decimal(1), Decimal(0)), (Decimal(1), Decimal("1.5"))]
)
def test_bad_reduce_requests_are_refused(held: Decimal, fraction: Decimal) -> None:
    with pytest.raises(OrderValidationError):
        reduce_request("BTC/EUR", held, fraction)


D = Decimal


def _buy_one_eth(database: Database, executor: Executor) -> None:
    with database.session() as session:
        place_order(session, OrderRequest(symbol="ETH/EUR", side=OrderSide.BUY, quantity=D(1)), actor="tester")
    executor.run_pass(until_idle=True)


@pytest.mark.parametrize(
    ("symbol", "stop_loss", "take_profit", "message"),
    [
        ("ETH/EUR", None, None, "enter a stop-loss or a take-profit"),
        ("ETH/EUR", D(2100), None, "is not below the last price"),
        ("ETH/EUR", None, D(1900), "is not above the last price"),
        ("ETH/EUR", D(-5), None, "must be a positive price"),
        ("BTC/EUR", D(40000), None, "no long position in BTC/EUR"),
        ("XRP/EUR", D(1), None, "unknown instrument"),
    ],
)
def test_a_bad_exit_change_is_refused_and_writes_nothing(
    database: Database,
    market: dict[str, int],
    make_executor: Callable[..., Executor],
    symbol: str,
    stop_loss: Decimal | None,
    take_profit: Decimal | None,
    message: str,
) -> None:
    _buy_one_eth(database, make_executor())
    with database.session() as session, pytest.raises(ExitPlanError, match=message):
        plan_exit_change(session, account="paper", symbol=symbol, stop_loss=stop_loss, take_profit=take_profit)
    assert database.run(lambda session: session.scalars(select(ExitPlan)).all()) == []


def test_set_then_move_the_stop_of_a_holding_and_the_executor_sells_at_it(
    database: Database, market: dict[str, int], make_executor: Callable[..., Executor]
) -> None:
    executor = make_executor()
    _buy_one_eth(database, executor)
    with database.session() as session:
        change = plan_exit_change(session, account="paper", symbol="ETH/EUR", stop_loss=D(1900), take_profit=D(2300))
        assert (change.quantity, change.moves_existing, change.previous_stop_loss) == (D(1), False, None)
        (plan,) = set_holding_exits(session, change, actor="tester")
        entry = session.get(Order, plan.entry_order_id)
        assert entry is not None and entry.side is OrderSide.BUY and entry.status is OrderStatus.FILLED
        assert (plan.active, plan.stop_loss, plan.take_profit, plan.quantity) == (True, D(1900), D(2300), D(1))
        plan_id = plan.id
    with database.session() as session:  # move the stop up, drop the take-profit
        moved = plan_exit_change(session, account="paper", symbol="ETH/EUR", stop_loss=D(1950), take_profit=None)
        assert moved.moves_existing and (moved.previous_stop_loss, moved.previous_take_profit) == (D(1900), D(2300))
        (plan,) = set_holding_exits(session, moved, actor="tester")
        assert (plan.id, plan.stop_loss, plan.take_profit) == (plan_id, D(1950), None)
        audits = session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.EXIT_PLAN_SET)).all()
        assert [entry.details["stop_loss"] for entry in audits] == ["1900", "1950"]
    executor.run_pass(until_idle=True)  # no price below the stop yet: nothing happens
    assert database.run(lambda session: session.scalar(select(Order).where(Order.exit_reason.is_not(None)))) is None
    with database.session() as session:
        add_quote(session, market["ETH/EUR"], "1940", utc_now() + timedelta(milliseconds=5))
    executor.run_pass(until_idle=True)
    with database.session() as session:
        exit_order = session.scalar(select(Order).where(Order.exit_reason == ExitReason.STOP_LOSS))
        assert exit_order is not None and exit_order.status is OrderStatus.FILLED
        assert exit_order.side is OrderSide.SELL and exit_order.quantity == D(1)
        assert exit_order.parent_order_id == entry.id  # the same exit path as exits attached on the Trade page
        position = session.get(Position, ("paper", market["ETH/EUR"]))
        assert position is not None and position.quantity == 0
