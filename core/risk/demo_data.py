"""Demo data of the risk module: the default limits, a few closed trades and realistic alerts.

Idempotent: limits are stored only when none are, exit events are keyed by their instrument,
reason and P&L (not their time, which moves with an explicit new anchor), alerts by their fixed
``dedupe_key``.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import AuditAction, append_audit
from core.demo.state import DemoContext
from core.execution.enums import ExitReason
from core.risk.alerts import acknowledge_alert, raise_alert
from core.risk.models import AlertKind, AlertSeverity, DeliveryStatus, RiskAlert, RiskExitEvent
from core.risk.settings import LIMITS_SETTING_KEY, RiskLimits
from core.system.settings_store import get_setting, set_setting

ORDER = 60

# (days before now, symbol, reason, realised P&L in EUR)
_DEMO_EXITS: tuple[tuple[float, str, ExitReason, str], ...] = (
    (55, "BTC/EUR", ExitReason.TAKE_PROFIT, "705.00"),
    (48, "AAPL", ExitReason.STOP_LOSS, "-118.40"),
    (40, "ETH/EUR", ExitReason.TAKE_PROFIT, "612.40"),
    (33, "SOL/EUR", ExitReason.STOP_LOSS, "-184.75"),
    (26, "BTC/EUR", ExitReason.SIGNAL, "355.10"),
    (18, "AAPL", ExitReason.TAKE_PROFIT, "241.90"),
    (12, "SOL/EUR", ExitReason.TRAILING_STOP, "96.30"),
    (8, "ETH/EUR", ExitReason.STOP_LOSS, "-210.05"),
    (3, "BTC/EUR", ExitReason.TAKE_PROFIT, "488.20"),
    (1.5, "SOL/EUR", ExitReason.STOP_LOSS, "-132.60"),
)


def seed_demo_data(session: Session, context: DemoContext) -> None:
    """Store the default limits, demo exits and alerts."""
    if get_setting(session, LIMITS_SETTING_KEY) is None:
        defaults = {
            name: str(value) if isinstance(value, Decimal) else value
            for name, value in RiskLimits().model_dump().items()
        }
        set_setting(session, LIMITS_SETTING_KEY, defaults)
        append_audit(
            session,
            actor="demo",
            action=AuditAction.LIMIT_CHANGED,
            subject=f"setting:{LIMITS_SETTING_KEY}",
            details={"changes": {name: {"old": None, "new": value} for name, value in defaults.items()}},
        )
    now = context.now
    for days_ago, symbol, reason, pnl in _DEMO_EXITS:
        instrument = context.instruments[symbol]
        ts = now - timedelta(days=days_ago)
        exists = session.scalar(
            select(RiskExitEvent.id)
            .where(
                RiskExitEvent.account == context.account,
                RiskExitEvent.instrument_id == instrument.id,
                RiskExitEvent.reason == reason,
                RiskExitEvent.realised_pnl_eur == Decimal(pnl),
            )
            .limit(1)
        )
        if exists is None:
            session.add(
                RiskExitEvent(
                    ts=ts,
                    account=context.account,
                    instrument_id=instrument.id,
                    reason=reason,
                    realised_pnl_eur=Decimal(pnl),
                )
            )
    _seed_alerts(session, context)


def _seed_alerts(session: Session, context: DemoContext) -> None:
    now = context.now
    demo_alerts = [
        (
            now - timedelta(days=9, hours=3),
            AlertKind.LARGE_MOVE,
            AlertSeverity.CRITICAL,
            "instrument:SOL/EUR",
            "SOL/EUR down -11.8% in 24 h (from 151.20 to 133.36)",
            "demo:large_move:sol",
            True,
        ),
        (
            now - timedelta(days=4, hours=7),
            AlertKind.ORDER_BLOCKED,
            AlertSeverity.WARNING,
            "order:demo-blocked-1",
            "BUY 0.45 BTC/EUR (€ 26,910.00) blocked by max_order_notional: order notional € 26,910.00 exceeds "
            "the limit of € 15,000.00",
            "demo:order_blocked:1",
            True,
        ),
        (
            now - timedelta(days=1, hours=12),
            AlertKind.STOPLOSS_GUARD,
            AlertSeverity.INFO,
            "stoploss_guard:paper",
            "SOL/EUR stopped out on account paper (realised -€ 132.60): 1 of 3 stop-outs within 24 h that lock "
            "new entries for 6 h",
            "demo:stoploss_guard:sol",
            False,
        ),
        (
            now - timedelta(hours=20),
            AlertKind.WORKER_FAILING,
            AlertSeverity.WARNING,
            "worker:market",
            "worker market failed: TransientError: exchange answered 429 Too Many Requests (retrying with backoff)",
            "demo:worker:market:429",
            False,
        ),
        (
            now - timedelta(hours=2),
            AlertKind.LARGE_MOVE,
            AlertSeverity.WARNING,
            "instrument:ETH/EUR",
            "ETH/EUR up +6.2% in 24 h (from 2,804.10 to 2,977.95)",
            "demo:large_move:eth",
            False,
        ),
    ]
    for created_at, kind, severity, subject, message, key, acknowledged in demo_alerts:
        alert = raise_alert(
            session,
            kind=kind,
            severity=severity,
            subject=subject,
            message=message,
            dedupe_key=key,
            details={"demo": True},
            now=created_at,
        )
        if alert is None:
            continue
        alert.delivery_status = DeliveryStatus.SKIPPED  # demo alerts are never sent anywhere
        if acknowledged:
            acknowledge_alert(session, alert.id, actor="demo", now=created_at + timedelta(minutes=25))
    session.flush()


def demo_alert_count(session: Session) -> int:
    """Return how many demo alerts exist (for tests)."""
    return len(list(session.scalars(select(RiskAlert.id).where(RiskAlert.dedupe_key.like("demo:%")))))
