"""The real executor enforces the risk guard: a blocked order is rejected with its rule, and the
stop-outs it executes trip the stop-loss guard so the next entry is refused."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from core.db.engine import Database
from core.execution.enums import ExitReason, OrderSide
from core.execution.executor import Executor
from core.execution.models import Order, OrderStatus
from core.execution.orders import AttachedExits, ExitKind, ExitSpec, OrderRequest
from core.execution.service import place_order
from core.execution.settings import TradingSettings
from core.risk.alerts import list_alerts
from core.risk.guard import RiskGuard, RiskPostTradeHook
from core.risk.models import AlertKind, RiskExitEvent, RiskOrderCheck
from core.risk.settings import save_limits
from core.timeutil import utc_now
from tests.core.execution.conftest import add_quote

D = Decimal


def _place(database: Database, **kwargs: object) -> str:
    with database.session() as session:
        return place_order(session, OrderRequest(**kwargs), actor="tester").client_order_id  # type: ignore[arg-type]


def _order(database: Database, client_order_id: str) -> Order:
    with database.session() as session:
        order = session.scalar(select(Order).where(Order.client_order_id == client_order_id))
        assert order is not None
        session.expunge(order)
        return order


def test_the_default_executor_loads_the_risk_guard(database: Database, trading_settings: TradingSettings) -> None:
    executor = Executor(database, settings=trading_settings)
    assert [type(check) for check in executor.checks or []] == [RiskGuard]
    assert [type(hook) for hook in executor.hooks or []] == [RiskPostTradeHook]


def test_executor_rejects_an_order_blocked_by_the_guard(
    database: Database, market: dict[str, int], trading_settings: TradingSettings
) -> None:
    with database.session() as session:
        save_limits(session, {"max_order_notional_eur": "3000"}, actor="tester")
    executor = Executor(database, settings=trading_settings)
    big = _place(database, symbol="ETH/EUR", side=OrderSide.BUY, quantity=D(2))  # about € 4,000
    small = _place(database, symbol="ETH/EUR", side=OrderSide.BUY, quantity=D("0.5"))
    executor.run_pass(until_idle=True)
    blocked = _order(database, big)
    assert blocked.status is OrderStatus.DENIED
    assert blocked.reject_rule == "max_order_notional"
    assert "exceeds the limit of € 3,000.00" in (blocked.reject_reason or "")
    assert _order(database, small).status is OrderStatus.FILLED
    with database.session() as session:
        verdicts = {row.client_order_id: row.allowed for row in session.scalars(select(RiskOrderCheck))}
        assert verdicts == {big: False, small: True}
        assert [alert.kind for alert in list_alerts(session)] == [AlertKind.ORDER_BLOCKED]


def test_stop_outs_executed_by_the_executor_trip_the_stoploss_guard(
    database: Database, market: dict[str, int], trading_settings: TradingSettings
) -> None:
    with database.session() as session:
        save_limits(session, {"stoploss_guard_count": 2, "cooldown_minutes": 0}, actor="tester")
    executor = Executor(database, settings=trading_settings)
    price = 2000
    for round_number in range(2):
        _place(
            database,
            symbol="ETH/EUR",
            side=OrderSide.BUY,
            quantity=D("0.5"),
            exits=AttachedExits(stop_loss=ExitSpec(ExitKind.PERCENT, D(5))),
        )
        with database.session() as session:
            add_quote(session, market["ETH/EUR"], str(price), utc_now() + timedelta(milliseconds=1))
        executor.run_pass(until_idle=True)
        with database.session() as session:
            add_quote(session, market["ETH/EUR"], str(price - 200), utc_now() + timedelta(milliseconds=2))
        executor.run_pass(until_idle=True)
        with database.session() as session:
            stop_outs = session.scalars(select(RiskExitEvent).where(RiskExitEvent.reason == ExitReason.STOP_LOSS)).all()
            assert len(stop_outs) == round_number + 1
            assert all(event.realised_pnl_eur < 0 for event in stop_outs)
        price -= 200
    entry = _place(database, symbol="BTC/EUR", side=OrderSide.BUY, quantity=D("0.01"))
    executor.run_pass(until_idle=True)
    refused = _order(database, entry)
    assert refused.status is OrderStatus.DENIED
    assert refused.reject_rule == "stoploss_guard"
    with database.session() as session:
        assert AlertKind.STOPLOSS_GUARD in [alert.kind for alert in list_alerts(session)]
