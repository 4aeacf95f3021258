"""The order state table, tested exhaustively: every legal move is allowed, every other one raises."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from core.db.engine import Database
from core.execution.accounting import apply_fill, set_status
from core.execution.broker import VenueFill
from core.execution.enums import OrderSide, OrderType
from core.execution.executor import Executor
from core.execution.models import Order, OrderEvent, OrderStatus
from core.execution.orders import (
    RESTING_STATUSES,
    TERMINAL_STATUSES,
    TRANSITIONS,
    IllegalTransition,
    OrderRequest,
    check_transition,
)
from core.execution.service import place_order
from core.market.models import Instrument
from core.timeutil import utc_now
from tests.core.execution.conftest import add_quote

S = OrderStatus
# The specification, written out independently of the code's table.
LEGAL_MOVES = {
    (S.NEW, S.SUBMITTING), (S.NEW, S.DENIED), (S.NEW, S.REJECTED), (S.NEW, S.CANCELLED),
    (S.SUBMITTING, S.NEW), (S.SUBMITTING, S.OPEN), (S.SUBMITTING, S.TRIGGERED),
    (S.SUBMITTING, S.PARTIALLY_FILLED), (S.SUBMITTING, S.FILLED), (S.SUBMITTING, S.DENIED),
    (S.SUBMITTING, S.REJECTED), (S.SUBMITTING, S.CANCELLED), (S.SUBMITTING, S.EXPIRED),
    (S.OPEN, S.TRIGGERED), (S.OPEN, S.PARTIALLY_FILLED), (S.OPEN, S.FILLED), (S.OPEN, S.PENDING_CANCEL),
    (S.OPEN, S.CANCELLED), (S.OPEN, S.EXPIRED),
    (S.TRIGGERED, S.PARTIALLY_FILLED), (S.TRIGGERED, S.FILLED), (S.TRIGGERED, S.PENDING_CANCEL),
    (S.TRIGGERED, S.CANCELLED), (S.TRIGGERED, S.EXPIRED),
    (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED), (S.PARTIALLY_FILLED, S.FILLED),
    (S.PARTIALLY_FILLED, S.PENDING_CANCEL), (S.PARTIALLY_FILLED, S.CANCELLED), (S.PARTIALLY_FILLED, S.EXPIRED),
    (S.PENDING_CANCEL, S.PARTIALLY_FILLED), (S.PENDING_CANCEL, S.FILLED), (S.PENDING_CANCEL, S.CANCELLED),
    (S.PENDING_CANCEL, S.EXPIRED),
    (S.CANCELLED, S.FILLED),  # a fill reported after the cancel confirmation
}  # fmt: skip
ALL_MOVES = list(itertools.product(OrderStatus, OrderStatus))


def test_the_table_is_the_specification() -> None:
    table = {(source, target) for source, targets in TRANSITIONS.items() for target in targets}
    assert table == LEGAL_MOVES
    assert set(TRANSITIONS) == set(OrderStatus)


@pytest.mark.parametrize(("source", "target"), sorted(LEGAL_MOVES), ids=lambda s: s.value)
def test_every_legal_move_is_allowed(source: OrderStatus, target: OrderStatus) -> None:
    check_transition(source, target)


@pytest.mark.parametrize(
    ("source", "target"), [move for move in ALL_MOVES if move not in LEGAL_MOVES], ids=lambda s: s.value
)
def test_every_other_move_raises(source: OrderStatus, target: OrderStatus) -> None:
    with pytest.raises(IllegalTransition, match=f"{source.value} → {target.value}"):
        check_transition(source, target)


def test_final_states_have_no_way_out_except_a_late_fill_after_a_cancel() -> None:
    assert {status for status in TERMINAL_STATUSES if TRANSITIONS[status]} == {S.CANCELLED}
    assert S.DENIED in TERMINAL_STATUSES and S.REJECTED in TERMINAL_STATUSES
    assert S.TRIGGERED in RESTING_STATUSES


def _order_at(database: Database, market: dict[str, int], path: list[OrderStatus]) -> int:
    with database.session() as session:
        order = place_order(session, OrderRequest("BTC/EUR", OrderSide.BUY, quantity=D("0.1")), actor="tester")
        for status in path:
            set_status(session, order, status, actor="tester")
        return order.id


def _fill(fill_id: str, quantity: str) -> VenueFill:
    return VenueFill(fill_id, utc_now(), D(quantity), D("50000"), D("0"), "EUR")


def test_a_late_fill_after_the_cancel_completes_the_order(database: Database, market: dict[str, int]) -> None:
    order_id = _order_at(database, market, [S.SUBMITTING, S.OPEN, S.PENDING_CANCEL, S.CANCELLED])
    with database.session() as session:
        order = session.get(Order, order_id)
        assert order is not None
        instrument = session.get(Instrument, market["BTC/EUR"])
        assert instrument is not None
        assert apply_fill(session, order, _fill("late-1", "0.1"), instrument, actor="venue") is not None
        assert order.status is S.FILLED and order.filled_quantity == D("0.1")
        events = [
            event.to_status for event in session.scalars(select(OrderEvent).where(OrderEvent.order_id == order_id))
        ]
        assert events[-2:] == [S.CANCELLED, S.FILLED]


def test_a_late_partial_fill_after_the_cancel_is_recorded_and_the_order_stays_cancelled(
    database: Database, market: dict[str, int]
) -> None:
    order_id = _order_at(database, market, [S.SUBMITTING, S.OPEN, S.CANCELLED])
    with database.session() as session:
        order = session.get(Order, order_id)
        instrument = session.get(Instrument, market["BTC/EUR"])
        assert order is not None and instrument is not None
        assert apply_fill(session, order, _fill("late-2", "0.04"), instrument, actor="venue") is not None
        assert order.status is S.CANCELLED and order.filled_quantity == D("0.04")
        assert apply_fill(session, order, _fill("late-2", "0.04"), instrument, actor="venue") is None  # never twice


def test_a_fill_on_a_denied_order_raises(database: Database, market: dict[str, int]) -> None:
    order_id = _order_at(database, market, [S.DENIED])
    with database.session() as session:
        order = session.get(Order, order_id)
        instrument = session.get(Instrument, market["BTC/EUR"])
        assert order is not None and instrument is not None
        with pytest.raises(IllegalTransition, match="denied → filled"):
            apply_fill(session, order, _fill("ghost", "0.1"), instrument, actor="venue")


def test_a_paper_stop_limit_is_triggered_then_fills_as_a_limit(
    database: Database, market: dict[str, int], make_executor: Callable[..., Executor]
) -> None:
    executor = make_executor()
    with database.session() as session:
        place_order(session, OrderRequest("BTC/EUR", OrderSide.BUY, quantity=D("0.1")), actor="tester")
    executor.run_pass(until_idle=True)
    with database.session() as session:
        stop = place_order(
            session,
            OrderRequest(
                "BTC/EUR",
                OrderSide.SELL,
                OrderType.STOP_LIMIT,
                quantity=D("0.1"),
                limit_price=D("49500"),
                stop_price=D("49000"),
            ),
            actor="tester",
        )
        client_id = stop.client_order_id
    executor.run_pass(until_idle=True)
    assert _status(database, client_id) is S.OPEN
    with database.session() as session:
        add_quote(session, market["BTC/EUR"], "48800", utc_now() + timedelta(milliseconds=10))
    executor.watch()
    assert _status(database, client_id) is S.TRIGGERED  # stop crossed, the limit of 49 500 not reached
    with database.session() as session:
        add_quote(session, market["BTC/EUR"], "49600", utc_now() + timedelta(milliseconds=20))
    executor.watch()
    assert _status(database, client_id) is S.FILLED
    with database.session() as session:
        order = session.scalar(select(Order).where(Order.client_order_id == client_id))
        assert order is not None
        events = [e.to_status for e in session.scalars(select(OrderEvent).where(OrderEvent.order_id == order.id))]
        assert events == [S.NEW, S.SUBMITTING, S.OPEN, S.TRIGGERED, S.FILLED]
        assert order.average_fill_price is not None and order.average_fill_price >= D("49500")


def _status(database: Database, client_id: str) -> OrderStatus:
    with database.session() as session:
        order = session.scalar(select(Order).where(Order.client_order_id == client_id))
        assert order is not None
        return order.status
