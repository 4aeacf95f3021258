"""The live path against a loopback One Trading speaking its wire format (incl. its errors)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.audit import AuditAction, AuditEntry
from core.db.engine import Database
from core.execution.admin import LiveModeError, set_live_mode, store_api_key
from core.execution.enums import OrderSide, OrderType
from core.execution.executor import Executor
from core.execution.live import OneTradingBroker
from core.execution.models import Fill, Order, OrderStatus
from core.execution.orders import OrderRequest
from core.execution.service import place_order, request_cancel
from core.execution.settings import SECRET_ONETRADING_KEY, TradingSettings
from core.portfolio.models import LedgerEntry, LedgerOrigin, Position
from tests.core.execution.fake_onetrading import API_KEY, FakeOneTrading, start_fake_onetrading
from tests.core.execution.stubs import AllowEveryOrder

D = Decimal


@pytest.fixture
def fake_venue() -> Iterator[tuple[FakeOneTrading, str]]:
    server, venue, base_url = start_fake_onetrading()
    yield venue, base_url
    server.shutdown()


@pytest.fixture
def live_setup(database: Database, market: dict[str, int], fake_venue: tuple[FakeOneTrading, str]):
    venue, base_url = fake_venue
    with database.session() as session:
        store_api_key(session, SECRET_ONETRADING_KEY, API_KEY, actor="tester")
        set_live_mode(session, True, actor="tester")
    settings = TradingSettings(onetrading_base_url=base_url, live_timeout_seconds=1.0, executor_pass_seconds=0.2)

    def make(api_key: str = API_KEY) -> Executor:
        return Executor(
            database,
            settings=settings,
            checks=[AllowEveryOrder()],
            hooks=[],
            live_broker_factory=lambda s, c: OneTradingBroker(
                api_key, base_url=base_url, timeout_seconds=1.0, rate_limit=False
            ),
        )

    return venue, make


def _place_live(database: Database, **kwargs: object) -> str:
    with database.session() as session:
        order = place_order(
            session,
            OrderRequest(symbol="BTC/EUR", side=OrderSide.BUY, live=True, live_confirmed=True, **kwargs),  # type: ignore[arg-type]
            actor="tester",
        )
        assert order.status is OrderStatus.NEW, order.reject_reason
        return order.client_order_id


def _order(database: Database, client_id: str) -> Order:
    with database.session() as session:
        order = session.scalar(select(Order).where(Order.client_order_id == client_id))
        assert order is not None
        session.expunge(order)
        return order


def test_live_market_order_fills_into_the_ledger(database: Database, live_setup) -> None:
    venue, make = live_setup
    client_id = _place_live(database, quantity=D("0.1"))
    make().run_pass(until_idle=True)
    order = _order(database, client_id)
    assert order.status is OrderStatus.FILLED
    assert venue.create_requests[client_id] == 1
    with database.session() as session:
        fill = session.scalar(select(Fill).where(Fill.order_id == order.id))
        assert fill is not None and fill.fee_asset == "BTC"
        entry = session.get(LedgerEntry, fill.ledger_entry_id)
        assert entry is not None and entry.origin is LedgerOrigin.LIVE and entry.account == "onetrading"
        position = session.get(Position, ("onetrading", order.instrument_id))
        # the fee was charged in BTC: the position holds the net quantity
        assert position is not None and position.quantity.quantize(D("1e-10")) == D("0.09985")


def test_live_order_needs_confirmation_and_live_mode(database: Database, live_setup) -> None:
    with database.session() as session:
        unconfirmed = place_order(
            session, OrderRequest(symbol="BTC/EUR", side=OrderSide.BUY, quantity=D(1), live=True), actor="tester"
        )
        assert unconfirmed.status is OrderStatus.DENIED and "confirmation" in (unconfirmed.reject_reason or "")
        set_live_mode(session, False, actor="tester")
        disabled = place_order(
            session,
            OrderRequest(symbol="BTC/EUR", side=OrderSide.BUY, quantity=D(1), live=True, live_confirmed=True),
            actor="tester",
        )
        assert disabled.status is OrderStatus.DENIED and disabled.reject_rule == "live_disabled"
        actions = [row.action for row in session.scalars(select(AuditEntry))]
        assert AuditAction.KEY_CHANGED in actions and actions.count(AuditAction.LIVE_MODE_CHANGED) == 2


def test_live_mode_cannot_be_enabled_without_a_key(database: Database) -> None:
    with database.session() as session, pytest.raises(LiveModeError):
        set_live_mode(session, True, actor="tester")


def test_insufficient_funds_answer_rejects_with_the_reason(database: Database, live_setup) -> None:
    venue, make = live_setup
    venue.mode = "insufficient_funds"
    client_id = _place_live(database, quantity=D("0.1"))
    make().run_pass(until_idle=True)
    order = _order(database, client_id)
    assert order.status is OrderStatus.REJECTED
    assert order.reject_rule == "insufficient_funds" and "INSUFFICIENT_FUNDS" in (order.reject_reason or "")


def test_invalid_api_key_rejects_with_the_reason(database: Database, live_setup) -> None:
    _venue, make = live_setup
    client_id = _place_live(database, quantity=D("0.1"))
    make(api_key="wrong-key").run_pass(until_idle=True)
    order = _order(database, client_id)
    assert order.status is OrderStatus.REJECTED
    assert order.reject_rule == "venue_auth" and "INVALID_APIKEY" in (order.reject_reason or "")


def test_ratelimit_puts_the_order_back_and_it_is_sent_later(database: Database, live_setup) -> None:
    venue, make = live_setup
    venue.mode = "ratelimit"
    client_id = _place_live(database, quantity=D("0.1"))
    executor = make()
    executor.run_pass(until_idle=True)
    order = _order(database, client_id)
    assert order.status is OrderStatus.NEW  # not placed: back in the queue
    venue.mode = "normal"
    executor._backoff_until = 0.0
    executor.run_pass(until_idle=True)
    assert _order(database, client_id).status is OrderStatus.FILLED
    assert venue.create_requests[client_id] == 2  # the rate-limited attempt and the real one


def test_timeout_after_acceptance_is_reconciled_by_client_order_id(database: Database, live_setup) -> None:
    venue, make = live_setup
    venue.mode = "timeout_after_accept"
    venue.delay_seconds = 2.5  # longer than the client's 1 s timeout
    client_id = _place_live(database, quantity=D("0.1"))
    make().run_pass(until_idle=True)
    order = _order(database, client_id)
    # the timeout made the fate unknown; the lookup by client order id found the accepted, filled order
    assert order.status is OrderStatus.FILLED
    assert venue.create_requests[client_id] == 1


def test_crash_after_submission_is_reconciled_at_start(database: Database, live_setup) -> None:
    venue, make = live_setup
    venue.mode = "rest"
    resting = _place_live(database, quantity=D("0.1"), order_type=OrderType.LIMIT, limit_price=D(49000))
    lost = _place_live(database, quantity=D("0.2"))
    executor = make()
    executor.run_pass(until_idle=True)
    assert _order(database, resting).status is OrderStatus.OPEN
    # Simulate a crash between the claim commit and the venue call for `lost`, and one after
    # the venue accepted `resting2` but before its answer was recorded.
    assert _order(database, lost).status is OrderStatus.OPEN
    venue.fill(resting)  # filled while the executor was down
    with database.session() as session:
        ghost = place_order(
            session,
            OrderRequest(symbol="BTC/EUR", side=OrderSide.BUY, quantity=D("0.05"), live=True, live_confirmed=True),
            actor="tester",
        )
        ghost.status = OrderStatus.SUBMITTING
        ghost.claimed_by = "otherhost:1:dead"
        ghost_id = ghost.client_order_id
        accepted = place_order(
            session,
            OrderRequest(symbol="BTC/EUR", side=OrderSide.BUY, quantity=D("0.05"), live=True, live_confirmed=True),
            actor="tester",
        )
        accepted.status = OrderStatus.SUBMITTING
        accepted.claimed_by = "otherhost:1:dead"
        accepted_id = accepted.client_order_id
    venue.mode = "normal"
    venue.create(
        {"client_id": accepted_id, "instrument_code": "BTC_EUR", "side": "BUY", "type": "MARKET", "amount": "0.05"}
    )
    restarted = make()
    restarted.reconcile()
    assert _order(database, resting).status is OrderStatus.FILLED  # fills found at start
    assert _order(database, accepted_id).status is OrderStatus.FILLED  # found at the venue, not sent again
    assert _order(database, ghost_id).status is OrderStatus.NEW  # the venue never got it: queued again
    restarted.run_pass(until_idle=True)
    assert _order(database, ghost_id).status is OrderStatus.FILLED
    assert venue.create_requests[accepted_id] == 1 and venue.create_requests[ghost_id] == 1
    with database.session() as session:
        reconciled = session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.ORDER_RECONCILED)).all()
        assert {row.subject for row in reconciled} >= {f"order:{ghost_id}", f"order:{accepted_id}"}


def test_cancel_of_a_resting_live_order(database: Database, live_setup) -> None:
    venue, make = live_setup
    venue.mode = "rest"
    client_id = _place_live(database, quantity=D("0.1"), order_type=OrderType.LIMIT, limit_price=D(49000))
    executor = make()
    executor.run_pass(until_idle=True)
    with database.session() as session:
        request_cancel(session, client_id, actor="tester")
    executor.run_pass(until_idle=True)
    assert _order(database, client_id).status is OrderStatus.CANCELLED
    assert venue.orders[client_id]["status"] == "CANCELLED"
