"""Circuit breakers: every rule blocks with its name, states move, and every change is audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from core.audit import AuditAction, AuditEntry, verify_audit_chain
from core.execution.enums import ExitReason, OrderSide
from core.execution.executor import Executor
from core.execution.pretrade import ExposureClosed, run_pretrade_checks
from core.risk.alerts import list_alerts
from core.risk.guard import (
    RiskGuard,
    RiskPostTradeHook,
    RiskRule,
    account_risk,
    evaluate_account_breaches,
    post_trade_hooks,
    pretrade_checks,
)
from core.risk.models import AlertKind, RiskOrderCheck, TradingState
from core.risk.settings import save_limits
from core.risk.state import effective_state, engage_kill_switch, reset_trading, scope_state
from tests.core.risk.conftest import ACCOUNT, NOW, RiskWorld


def _check(world: RiskWorld, intent):
    with world.database.session() as session:
        return run_pretrade_checks(session, intent, pretrade_checks())


def _stop_out(world: RiskWorld, minutes_ago: int, reason: ExitReason = ExitReason.STOP_LOSS, pnl: str = "-100") -> None:
    with world.database.session() as session:
        for hook in post_trade_hooks():
            hook.on_exposure_closed(
                session,
                ExposureClosed(
                    account=ACCOUNT,
                    instrument_id=world.aapl_id,
                    reason=reason,
                    realised_pnl_eur=Decimal(pnl),
                    ts=NOW - timedelta(minutes=minutes_ago),
                ),
            )


def test_the_executor_has_the_risk_guard_built_in(world: RiskWorld) -> None:
    executor = Executor(world.database)
    assert [type(check) for check in executor.checks or []] == [RiskGuard]
    assert [type(hook) for hook in executor.hooks or []] == [RiskPostTradeHook]


def test_an_ordinary_order_is_allowed_and_recorded(world: RiskWorld) -> None:
    intent = world.intent("5000")
    verdict = _check(world, intent)
    assert verdict.allowed
    with world.database.session() as session:
        row = session.get(RiskOrderCheck, intent.client_order_id)
        assert row is not None and row.allowed and row.rule is None


def test_an_order_above_the_maximum_notional_is_rejected_with_its_rule(world: RiskWorld) -> None:
    intent = world.intent("20000")
    verdict = _check(world, intent)
    assert not verdict.allowed
    assert verdict.rule == RiskRule.MAX_ORDER_NOTIONAL
    assert "20,000.00" in (verdict.reason or "")
    with world.database.session() as session:
        row = session.get(RiskOrderCheck, intent.client_order_id)
        assert row is not None and not row.allowed and row.rule == "max_order_notional"
        alerts = list_alerts(session)
        assert [alert.kind for alert in alerts] == [AlertKind.ORDER_BLOCKED]


def test_reducing_orders_are_not_held_to_the_exposure_limits(world: RiskWorld) -> None:
    verdict = _check(world, world.intent("20000", side=OrderSide.SELL, reduces=True))
    assert verdict.allowed


def test_instrument_and_total_exposure_limits(world: RiskWorld) -> None:
    with world.database.session() as session:
        save_limits(
            session,
            {"max_instrument_exposure_pct": "0.25", "max_total_exposure_pct": "0.30"},
            actor="tester",
        )
    # BTC position € 10,000 of € 60,000 equity; 25 % = € 15,000 allows € 5,000 more.
    assert _check(world, world.intent("5000")).allowed
    blocked = _check(world, world.intent("5001"))
    assert blocked.rule == RiskRule.MAX_INSTRUMENT_EXPOSURE
    # total 30 % = € 18,000: € 10,000 BTC + € 9,000 AAPL is too much, though AAPL alone is fine.
    total = _check(world, world.intent("9000", instrument="AAPL"))
    assert total.rule == RiskRule.MAX_TOTAL_EXPOSURE


def test_order_rate_limit_counts_allowed_orders_in_the_window(world: RiskWorld) -> None:
    with world.database.session() as session:
        save_limits(session, {"max_orders_per_window": 3, "order_rate_window_seconds": 60}, actor="tester")
    for second in range(3):
        assert _check(world, world.intent("100", ts=NOW + timedelta(seconds=second))).allowed
    blocked = _check(world, world.intent("100", ts=NOW + timedelta(seconds=10)))
    assert blocked.rule == RiskRule.ORDER_RATE
    # A minute later the window has moved on.
    assert _check(world, world.intent("100", ts=NOW + timedelta(seconds=70))).allowed


def test_rechecking_the_same_order_does_not_count_it_twice(world: RiskWorld) -> None:
    with world.database.session() as session:
        save_limits(session, {"max_orders_per_window": 1}, actor="tester")
    intent = world.intent("100")
    assert _check(world, intent).allowed
    assert _check(world, intent).allowed  # the executor restarted and checks it again


def test_daily_loss_moves_to_reducing_until_the_next_day(world: RiskWorld) -> None:
    # Equity today starts at 60,000 (snapshot before Vienna midnight); BTC falls 50,000 -> 30,000: -4,000 = -6.7 %.
    with world.database.session() as session:
        world.set_price(session, world.btc_id, "30000", NOW - timedelta(minutes=5))
    blocked = _check(world, world.intent("1000"))
    assert blocked.rule == RiskRule.REDUCING
    assert "daily_loss" in (blocked.reason or "")
    assert _check(world, world.intent("1000", side=OrderSide.SELL, reduces=True)).allowed
    with world.database.session() as session:
        state = effective_state(session, ACCOUNT)
        assert state.state is TradingState.REDUCING and state.rule == "daily_loss"
        assert state.until is not None and state.until > NOW
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.CIRCUIT_BREAKER)).all()
        assert len(audit) == 1 and audit[0].details["to"] == "reducing"
        assert any(alert.kind is AlertKind.BREACH for alert in list_alerts(session))
        # The next day the restriction lifts by itself (the loss is then measured from the new day).
        world.add_snapshot(session, NOW + timedelta(hours=10), "56000")
    tomorrow = NOW + timedelta(days=1)
    assert _check(world, world.intent("1000", ts=tomorrow)).allowed
    with world.database.session() as session:
        assert scope_state(session, ACCOUNT).state is TradingState.ACTIVE


def test_max_drawdown_halts_and_only_a_manual_reset_resumes(world: RiskWorld) -> None:
    with world.database.session() as session:
        world.add_snapshot(session, NOW - timedelta(days=12), "100000")  # an old peak: 40 % below it
    blocked = _check(world, world.intent("1000"))
    assert blocked.rule == RiskRule.HALTED
    assert "max_drawdown" in (blocked.reason or "")
    # HALTED: not even a reducing order.
    assert _check(world, world.intent("1000", side=OrderSide.SELL, reduces=True)).rule == RiskRule.HALTED
    # Still halted the next day: it never lifts by itself.
    assert not _check(world, world.intent("1000", ts=NOW + timedelta(days=2))).allowed
    with world.database.session() as session:
        risk = account_risk(session, ACCOUNT, NOW)
        assert risk.drawdown_pct == Decimal("0.4")
        assert reset_trading(session, ACCOUNT, actor="trader", note="reviewed", equity_eur=risk.equity_eur, now=NOW)
    assert _check(world, world.intent("1000", ts=NOW + timedelta(minutes=1))).allowed
    with world.database.session() as session:
        moves = [
            entry.details["to"]
            for entry in session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.CIRCUIT_BREAKER))
        ]
        assert moves == ["halted", "active"]
        assert verify_audit_chain(session).ok


def test_kill_switch_halts_every_account_until_reset(world: RiskWorld) -> None:
    with world.database.session() as session:
        assert engage_kill_switch(session, actor="trader", reason="news shock", now=NOW)
    verdict = _check(world, world.intent("100", side=OrderSide.SELL, reduces=True))
    assert verdict.rule == RiskRule.KILL_SWITCH
    other = _check(world, world.intent("100", account="live"))
    assert other.rule == RiskRule.KILL_SWITCH
    with world.database.session() as session:
        assert reset_trading(session, "*", actor="trader")
    assert _check(world, world.intent("100")).allowed


def test_stop_outs_trip_the_stoploss_guard(world: RiskWorld) -> None:
    _stop_out(world, 120)
    _stop_out(world, 60, ExitReason.TRAILING_STOP)
    assert _check(world, world.intent("100")).allowed  # two of three
    _stop_out(world, 30)
    blocked = _check(world, world.intent("100"))
    assert blocked.rule == RiskRule.STOPLOSS_GUARD
    assert _check(world, world.intent("100", side=OrderSide.SELL, reduces=True)).allowed
    with world.database.session() as session:
        kinds = [alert.kind for alert in list_alerts(session)]
        assert kinds.count(AlertKind.STOPLOSS_GUARD) == 1
    # The lock (6 h from the third stop-out) expires.
    assert _check(world, world.intent("100", ts=NOW + timedelta(hours=6))).allowed


def test_take_profits_do_not_count_as_stop_outs(world: RiskWorld) -> None:
    for minutes in (90, 60, 45):
        _stop_out(world, minutes, ExitReason.TAKE_PROFIT, pnl="100")
    assert _check(world, world.intent("100")).allowed


def test_cooldown_after_an_exit_blocks_new_entries_in_that_instrument(world: RiskWorld) -> None:
    _stop_out(world, 10, ExitReason.SIGNAL, pnl="50")  # AAPL exit ten minutes ago
    assert _check(world, world.intent("100", instrument="AAPL")).rule == RiskRule.COOLDOWN
    assert _check(world, world.intent("100", instrument="BTC/EUR")).allowed
    assert _check(world, world.intent("100", instrument="AAPL", ts=NOW + timedelta(minutes=21))).allowed


def test_an_account_without_equity_cannot_add_exposure(world: RiskWorld) -> None:
    verdict = _check(world, world.intent("100", account="empty"))
    assert verdict.rule == RiskRule.EQUITY_UNKNOWN


def test_breaches_are_evaluated_without_an_order(world: RiskWorld) -> None:
    with world.database.session() as session:
        world.set_price(session, world.btc_id, "30000", NOW - timedelta(minutes=5))
        risk = evaluate_account_breaches(session, ACCOUNT, now=NOW)
        assert risk.daily_loss_pct == Decimal("0.066667")
        assert scope_state(session, ACCOUNT).state is TradingState.REDUCING
        # Evaluating again changes nothing and audits nothing more.
        evaluate_account_breaches(session, ACCOUNT, now=NOW + timedelta(minutes=1))
        count = len(session.scalars(select(AuditEntry)).all())
        assert count == 1


def test_a_loss_in_the_first_hour_of_the_day_counts_against_the_day(world: RiskWorld) -> None:
    """The snapshot keyed at Vienna midnight holds that hour's last equity, already after the loss."""
    vienna_midnight = datetime(2026, 3, 9, 23, 0, tzinfo=UTC)  # 10 March 00:00 in Vienna (CET)
    with world.database.session() as session:
        world.set_price(session, world.btc_id, "30000", NOW - timedelta(minutes=5))  # fell at 00:20, still there
        world.add_snapshot(session, vienna_midnight, "56000")  # the 00:00-00:59 pass saw the loss
        risk = evaluate_account_breaches(session, ACCOUNT, now=NOW)
        assert risk.day_start_equity_eur == Decimal("60000")  # from the 23:00 snapshot, before midnight
        assert risk.daily_loss_pct == Decimal("0.066667")
        assert scope_state(session, ACCOUNT).state is TradingState.REDUCING
