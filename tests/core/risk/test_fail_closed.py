"""The risk checks fail closed: a missing or crashing guard blocks orders; corrupted limits halt trading."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit import AuditAction, AuditEntry
from core.db.engine import Database
from core.execution.enums import OrderSide
from core.execution.executor import Executor
from core.execution.models import Fill, Order, OrderStatus
from core.execution.orders import OrderRequest
from core.execution.pretrade import OrderIntent, PreTradeVerdict
from core.execution.service import place_order
from core.execution.settings import TradingSettings
from core.risk.alerts import list_alerts
from core.risk.models import GLOBAL_SCOPE, AlertSeverity, RiskOrderCheck, TradingState
from core.risk.monitor import run_risk_pass
from core.risk.service import risk_snapshot
from core.risk.settings import (
    LIMITS_SETTING_KEY,
    InvalidRiskLimits,
    editable_limits,
    limits_problem,
    load_limits,
    save_limits,
)
from core.risk.state import effective_state, reset_trading, scope_state
from core.system.settings_store import set_setting

D = Decimal


def _place(database: Database, quantity: str = "0.5") -> str:
    with database.session() as session:
        request = OrderRequest(symbol="ETH/EUR", side=OrderSide.BUY, quantity=D(quantity))
        return place_order(session, request, actor="tester").client_order_id


def _order(database: Database, client_order_id: str) -> Order:
    with database.session() as session:
        order = session.scalar(select(Order).where(Order.client_order_id == client_order_id))
        assert order is not None
        session.expunge(order)
        return order


def _fills(database: Database) -> int:
    return int(database.run(lambda session: session.scalar(select(func.count()).select_from(Fill))) or 0)


class _CrashingGuard:
    """Writes a verdict row, then fails: the row must not survive, and the order must not leave."""

    name = "crashing"

    def check(self, session: Session, intent: OrderIntent) -> PreTradeVerdict:
        session.add(
            RiskOrderCheck(
                client_order_id=intent.client_order_id,
                ts=intent.ts,
                account=intent.account,
                instrument_id=intent.instrument_id,
                symbol=intent.symbol,
                side=intent.side.value,
                notional_eur=intent.notional_eur,
                reduces_exposure=False,
                allowed=True,
            )
        )
        session.flush()
        raise RuntimeError("exposure service exploded")


def test_an_executor_without_any_risk_check_denies_every_order(
    database: Database, market: dict[str, int], trading_settings: TradingSettings
) -> None:
    client_id = _place(database)
    Executor(database, settings=trading_settings, checks=[], hooks=[]).run_pass(until_idle=True)
    order = _order(database, client_id)
    assert order.status is OrderStatus.DENIED and order.reject_rule == "risk_unavailable"
    assert _fills(database) == 0
    alerts = database.run(lambda session: list_alerts(session))
    assert [alert.severity for alert in alerts if client_id in alert.subject] == [AlertSeverity.CRITICAL]


def test_a_crashing_risk_check_denies_the_order_and_leaves_nothing_half_written(
    database: Database, market: dict[str, int], trading_settings: TradingSettings
) -> None:
    client_id = _place(database)
    Executor(database, settings=trading_settings, checks=[_CrashingGuard()], hooks=[]).run_pass(until_idle=True)
    order = _order(database, client_id)
    assert order.status is OrderStatus.DENIED and order.reject_rule == "risk_check_failed"
    assert "exposure service exploded" in (order.reject_reason or "")
    assert _fills(database) == 0
    assert database.run(lambda session: session.get(RiskOrderCheck, client_id)) is None


def test_without_the_risk_module_the_executor_cannot_even_be_imported() -> None:
    code = "import sys; sys.modules['core.risk.guard'] = None; import core.execution.executor"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}, timeout=120, check=False
    )
    assert result.returncode != 0
    assert "ModuleNotFoundError: import of core.risk.guard halted" in result.stderr


def test_corrupted_saved_limits_are_never_replaced_by_the_defaults(database: Database) -> None:
    with database.session() as session:
        set_setting(session, LIMITS_SETTING_KEY, {"daily_loss_limit_pct": "lots", "max_order_notional_eur": "3000"})
        with pytest.raises(InvalidRiskLimits, match="daily_loss_limit_pct"):
            load_limits(session)
        assert "daily_loss_limit_pct" in (limits_problem(session) or "")
        # the Settings form offers the values that still validate, the defaults for the others
        assert editable_limits(session).max_order_notional_eur == D("3000")


def test_corrupted_saved_limits_halt_trading_with_one_alert_and_the_reason_on_the_risk_page(
    database: Database, market: dict[str, int], trading_settings: TradingSettings
) -> None:
    with database.session() as session:
        set_setting(session, LIMITS_SETTING_KEY, {"max_drawdown_pct": "-1"})
    first, second = _place(database), _place(database)
    Executor(database, settings=trading_settings).run_pass(until_idle=True)
    for client_id in (first, second):
        order = _order(database, client_id)
        assert order.status is OrderStatus.DENIED and order.reject_rule == "invalid_limits"
        assert "max_drawdown_pct" in (order.reject_reason or "")
    assert _fills(database) == 0
    with database.session() as session:
        run_risk_pass(session)  # the risk worker sees it too: still one halt, one alert
        state = scope_state(session, GLOBAL_SCOPE)
        assert state.state is TradingState.HALTED and state.rule == "invalid_limits"
        assert "max_drawdown_pct" in (state.reason or "")
        assert effective_state(session, "paper").state is TradingState.HALTED
        halts = [alert for alert in list_alerts(session) if alert.subject == f"trading_state:{GLOBAL_SCOPE}"]
        assert len(halts) == 1 and "invalid_limits" in halts[0].message
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.CIRCUIT_BREAKER)).all()
        assert len([entry for entry in audited if entry.details.get("rule") == "invalid_limits"]) == 1
        snapshot = risk_snapshot(session, "paper")
        assert snapshot.limits == [] and "max_drawdown_pct" in (snapshot.limits_problem or "")
        assert snapshot.state.reason == state.reason


def test_fixing_the_limits_and_resetting_lets_orders_through_again(
    database: Database, market: dict[str, int], trading_settings: TradingSettings
) -> None:
    with database.session() as session:
        set_setting(session, LIMITS_SETTING_KEY, {"max_drawdown_pct": "-1", "cooldown_minutes": 5})
    blocked = _place(database)
    executor = Executor(database, settings=trading_settings)
    executor.run_pass(until_idle=True)
    assert _order(database, blocked).status is OrderStatus.DENIED
    with database.session() as session:
        save_limits(session, {"max_drawdown_pct": D("0.25")}, actor="tester")
        assert limits_problem(session) is None
        assert load_limits(session).cooldown_minutes == 5  # the valid saved value was kept
        reset_trading(session, GLOBAL_SCOPE, actor="tester")
    allowed = _place(database)
    executor.run_pass(until_idle=True)
    assert _order(database, allowed).status is OrderStatus.FILLED
