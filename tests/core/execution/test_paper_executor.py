from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.audit import AuditAction, AuditEntry, verify_audit_chain
from core.db.engine import Database
from core.execution.accounting import asset_balance
from core.execution.enums import ExitReason, OrderSide, OrderType, TimeInForce
from core.execution.executor import Executor
from core.execution.models import ExitPlan, Fill, Order, OrderEvent, OrderStatus
from core.execution.orders import AttachedExits, ExitKind, ExitSpec, OrderRequest
from core.execution.pretrade import ExposureClosed, OrderIntent, PreTradeVerdict
from core.execution.service import place_order, request_cancel
from core.portfolio.models import LedgerEntry, LedgerOrigin, Position
from core.timeutil import utc_now
from tests.core.execution.conftest import add_quote

D = Decimal


def q(value: Decimal | None) -> Decimal | None:
    """Round to 10 places: SQLite keeps NUMERIC as REAL, so the 17th digit may differ."""
    return None if value is None else value.quantize(D("1e-10"))


def _place(database: Database, **kwargs: object) -> str:
    with database.session() as session:
        order = place_order(session, OrderRequest(**kwargs), actor="tester")  # type: ignore[arg-type]
        return order.client_order_id


def _order(database: Database, client_order_id: str) -> Order:
    with database.session() as session:
        order = session.scalar(select(Order).where(Order.client_order_id == client_order_id))
        assert order is not None
        session.expunge(order)
        return order


def test_market_buy_fills_at_the_next_price_with_ledger_position_and_audit(
    database: Database, market: dict[str, int], make_executor: Callable[..., Executor]
) -> None:
    client_id = _place(database, symbol="BTC/EUR", side=OrderSide.BUY, quantity=D("0.1"))
    with database.session() as session:
        add_quote(session, market["BTC/EUR"], "51000", utc_now() + timedelta(milliseconds=5))
    make_executor().run_pass(until_idle=True)
    order = _order(database, client_id)
    assert order.status is OrderStatus.FILLED
    assert q(order.average_fill_price) == D("51051")  # next price 51 000 + 0.1 % slippage
    with database.session() as session:
        fill = session.scalar(select(Fill).where(Fill.order_id == order.id))
        assert fill is not None and fill.fill_id == f"paper-{client_id}"
        entry = session.scalar(select(LedgerEntry).where(LedgerEntry.external_id == fill.fill_id))
        assert entry is not None and entry.origin is LedgerOrigin.PAPER and entry.order_ref == client_id
        assert q(entry.received_quantity) == D("0.1") and entry.sent_asset == "EUR"
        position = session.get(Position, ("paper", market["BTC/EUR"]))
        assert position is not None and q(position.quantity) == D("0.1")
        # fee: 0.25 % taker of 5105.10
        assert q(fill.fee) == D("12.76275")
        assert q(asset_balance(session, "paper", "EUR")) == D("10000") - D("5105.1") - D("12.76275")
        statuses = [
            e.to_status
            for e in session.scalars(select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id))
        ]
        assert statuses == [OrderStatus.NEW, OrderStatus.SUBMITTING, OrderStatus.OPEN, OrderStatus.FILLED]
        actions = [
            row.action for row in session.scalars(select(AuditEntry).where(AuditEntry.subject == f"order:{client_id}"))
        ]
        assert actions == [AuditAction.ORDER_CREATED, AuditAction.FILL]
        assert verify_audit_chain(session).ok


@pytest.mark.parametrize(
    ("ticket", "reason_part"),
    [
        ({"symbol": "BTC/EUR", "side": OrderSide.BUY, "quantity": D(0)}, "quantity must be positive"),
        ({"symbol": "BTC/EUR", "side": OrderSide.BUY, "quantity": D("-1")}, "quantity must be positive"),
        ({"symbol": "DOGE/EUR", "side": OrderSide.BUY, "quantity": D(1)}, "unknown instrument"),
        (
            {
                "symbol": "BTC/EUR",
                "side": OrderSide.BUY,
                "quantity": D(1),
                "order_type": OrderType.LIMIT,
                "limit_price": D("NaN"),
            },
            "not a finite number",
        ),
        (
            {
                "symbol": "BTC/EUR",
                "side": OrderSide.BUY,
                "quantity": D(1),
                "order_type": OrderType.LIMIT,
                "limit_price": float("nan"),
            },
            "not a finite number",
        ),
        (
            {"symbol": "BTC/EUR", "side": OrderSide.BUY, "quantity": D(1), "order_type": OrderType.LIMIT},
            "needs a limit price",
        ),
        ({"symbol": "BTC/EUR", "side": OrderSide.BUY, "quantity": D(1)}, "insufficient funds"),
        ({"symbol": "ETH/EUR", "side": OrderSide.SELL, "quantity": D(1)}, "insufficient ETH"),
    ],
)
def test_bad_orders_are_denied_with_the_reason_recorded(
    database: Database, market: dict[str, int], make_executor: Callable[..., Executor], ticket: dict, reason_part: str
) -> None:
    client_id = _place(database, **ticket)
    make_executor().run_pass(until_idle=True)
    order = _order(database, client_id)
    assert order.status is OrderStatus.DENIED
    assert reason_part in (order.reject_reason or "")
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Fill)) == 0
        assert session.scalar(select(func.count()).select_from(Position)) == 0
        rejected = session.scalar(select(AuditEntry).where(AuditEntry.action == AuditAction.ORDER_DENIED))
        assert rejected is not None and reason_part in rejected.details["reason"]


def test_limit_order_rests_until_the_price_crosses(
    database: Database, market: dict[str, int], make_executor: Callable[..., Executor]
) -> None:
    client_id = _place(
        database, symbol="ETH/EUR", side=OrderSide.BUY, quantity=D(1), order_type=OrderType.LIMIT, limit_price=D(1900)
    )
    executor = make_executor()
    with database.session() as session:
        add_quote(session, market["ETH/EUR"], "1950", utc_now() + timedelta(milliseconds=1))
    executor.run_pass(until_idle=True)
    assert _order(database, client_id).status is OrderStatus.OPEN
    with database.session() as session:
        add_quote(session, market["ETH/EUR"], "1890", utc_now() + timedelta(milliseconds=2))
    executor.run_pass(until_idle=True)
    order = _order(database, client_id)
    assert order.status is OrderStatus.FILLED
    assert q(order.average_fill_price) == D(1890)  # gapped below the limit: filled at the observation


def test_ioc_limit_that_does_not_fill_expires(
    database: Database, market: dict[str, int], make_executor: Callable[..., Executor]
) -> None:
    client_id = _place(
        database,
        symbol="ETH/EUR",
        side=OrderSide.BUY,
        quantity=D(1),
        order_type=OrderType.LIMIT,
        limit_price=D(1000),
        time_in_force=TimeInForce.IOC,
    )
    make_executor().run_pass(until_idle=True)
    assert _order(database, client_id).status is OrderStatus.EXPIRED


def test_cancel_request_is_carried_out_by_the_executor(
    database: Database, market: dict[str, int], make_executor: Callable[..., Executor]
) -> None:
    client_id = _place(
        database, symbol="ETH/EUR", side=OrderSide.BUY, quantity=D(1), order_type=OrderType.LIMIT, limit_price=D(1000)
    )
    executor = make_executor()
    executor.run_pass(until_idle=True)
    with database.session() as session:
        request_cancel(session, client_id, actor="tester")
    assert _order(database, client_id).status is OrderStatus.OPEN  # only an intent so far
    executor.run_pass(until_idle=True)
    assert _order(database, client_id).status is OrderStatus.CANCELLED


def test_market_order_waits_for_a_price_when_the_latest_is_stale(
    database: Database, market: dict[str, int], make_executor: Callable[..., Executor]
) -> None:
    with database.session() as session:
        add_quote(session, market["ETH/EUR"], "2000", utc_now() - timedelta(minutes=10))
    executor = make_executor()
    executor.settings = executor.settings.model_copy(update={"paper_price_max_age_seconds": 1.0})
    client_id = _place(database, symbol="ETH/EUR", side=OrderSide.BUY, quantity=D(1))
    import time

    time.sleep(1.1)
    executor.run_pass(until_idle=True)
    assert _order(database, client_id).status is OrderStatus.OPEN
    with database.session() as session:
        add_quote(session, market["ETH/EUR"], "2010", utc_now())
    executor.run_pass(until_idle=True)
    order = _order(database, client_id)
    assert order.status is OrderStatus.FILLED and q(order.average_fill_price) == D("2012.01")


class _RecordingHook:
    def __init__(self) -> None:
        self.events: list[ExposureClosed] = []

    def on_exposure_closed(self, session, event: ExposureClosed) -> None:
        self.events.append(event)


class _BlockBigOrders:
    name = "max_notional"

    def check(self, session, intent: OrderIntent) -> PreTradeVerdict:
        if intent.notional_eur > 3000:
            return PreTradeVerdict.block("max_notional", f"notional {intent.notional_eur:.0f} EUR > 3000 EUR")
        return PreTradeVerdict.allow()


def test_pretrade_refusal_and_stop_loss_exit_with_post_trade_hook(
    database: Database, market: dict[str, int], trading_settings
) -> None:
    hook = _RecordingHook()
    executor = Executor(database, settings=trading_settings, checks=[_BlockBigOrders()], hooks=[hook])
    big = _place(database, symbol="ETH/EUR", side=OrderSide.BUY, quantity=D(2))
    entry = _place(
        database,
        symbol="ETH/EUR",
        side=OrderSide.BUY,
        quantity=D(1),
        exits=AttachedExits(stop_loss=ExitSpec(ExitKind.PERCENT, D(5)), take_profit=ExitSpec(ExitKind.PRICE, D(2500))),
    )
    executor.run_pass(until_idle=True)
    blocked = _order(database, big)
    assert blocked.status is OrderStatus.DENIED and blocked.reject_rule == "max_notional"
    filled = _order(database, entry)
    assert filled.status is OrderStatus.FILLED
    with database.session() as session:
        plan = session.scalar(select(ExitPlan))
        assert plan is not None and plan.active
        assert filled.average_fill_price is not None
        assert q(plan.stop_loss) == q(filled.average_fill_price * D("0.95"))
        add_quote(session, market["ETH/EUR"], "1990", utc_now() + timedelta(milliseconds=1))
        add_quote(session, market["ETH/EUR"], "1850", utc_now() + timedelta(milliseconds=2))
    executor.run_pass(until_idle=True)
    with database.session() as session:
        exit_order = session.scalar(select(Order).where(Order.exit_reason == ExitReason.STOP_LOSS))
        assert exit_order is not None and exit_order.status is OrderStatus.FILLED
        assert exit_order.side is OrderSide.SELL and q(exit_order.quantity) == D(1)
        # a stop-market at the stop level: the 1850 quote gapped through it, so it fills there, minus slippage
        assert q(exit_order.average_fill_price) == D(1850) * D("0.999")
        position = session.get(Position, ("paper", market["ETH/EUR"]))
        assert position is not None and q(position.quantity) == 0
    assert len(hook.events) == 1
    assert hook.events[0].reason is ExitReason.STOP_LOSS and hook.events[0].realised_pnl_eur < 0


def test_a_waiting_market_buy_holds_cash_so_a_second_buy_cannot_overspend(
    database: Database, market: dict[str, int], make_executor: Callable[..., Executor]
) -> None:
    executor = make_executor()
    executor.settings = executor.settings.model_copy(update={"paper_price_max_age_seconds": 1.0})
    import time

    time.sleep(1.1)  # the 2 s old quotes are now too old: a market order waits for the next price
    waiting = _place(database, symbol="ETH/EUR", side=OrderSide.BUY, quantity=D(4))  # about 8,000 EUR
    executor.run_pass(until_idle=True)
    assert _order(database, waiting).status is OrderStatus.OPEN
    second = _place(
        database,
        symbol="BTC/EUR",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        quantity=D("0.1"),
        limit_price=D(50000),
    )
    executor.run_pass(until_idle=True)
    rejected = _order(database, second)
    assert rejected.status is OrderStatus.DENIED
    assert "insufficient" in (rejected.reject_reason or "")


def test_a_working_buy_holds_its_fee_too(
    database: Database, market: dict[str, int], make_executor: Callable[..., Executor]
) -> None:
    """10 000 EUR: a resting 5 000 EUR buy holds 5 012.50 with the 0.25 % taker fee, so 4 980 + fee no longer fits."""
    executor = make_executor()
    resting = _place(
        database,
        symbol="BTC/EUR",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        quantity=D("0.125"),
        limit_price=D(40000),
    )
    executor.run_pass(until_idle=True)
    assert _order(database, resting).status is OrderStatus.OPEN
    second = _place(
        database,
        symbol="ETH/EUR",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        quantity=D("4.98"),
        limit_price=D(1000),
    )
    executor.run_pass(until_idle=True)
    rejected = _order(database, second)
    assert rejected.status is OrderStatus.DENIED
    assert "needs 4992.45 EUR, 4987.50 available" in (rejected.reject_reason or "")
    smaller = _place(
        database,
        symbol="ETH/EUR",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        quantity=D("4.97"),
        limit_price=D(1000),
    )
    executor.run_pass(until_idle=True)
    assert _order(database, smaller).status is OrderStatus.OPEN  # 4 982.43 fits in 4 987.50
