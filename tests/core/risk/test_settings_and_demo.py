"""Typed risk settings: validated as a whole, stored overrides, audited changes; idempotent demo data."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.audit import AuditAction, AuditEntry
from core.db.engine import Database
from core.demo.seed import seed_demo
from core.risk.models import RiskAlert, RiskExitEvent
from core.risk.settings import (
    RiskLimits,
    RiskSettingsError,
    load_alert_settings,
    load_limits,
    save_alert_settings,
    save_limits,
)


def test_defaults_come_from_the_environment_and_saved_values_override_them(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KONSENS_MAX_ORDER_NOTIONAL_EUR", "8000")
    with sqlite_database.session() as session:
        assert load_limits(session).max_order_notional_eur == Decimal("8000")
        save_limits(session, {"max_order_notional_eur": "9000", "cooldown_minutes": 5}, actor="anna")
    with sqlite_database.session() as session:
        limits = load_limits(session)
        assert limits.max_order_notional_eur == Decimal("9000") and limits.cooldown_minutes == 5
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.LIMIT_CHANGED)).one()
        assert audit.actor == "anna"
        assert audit.details["changes"]["max_order_notional_eur"] == {"old": "8000", "new": "9000"}
        assert audit.details["changes"]["cooldown_minutes"] == {"old": 30, "new": 5}


def test_an_invalid_change_stores_nothing(sqlite_database: Database) -> None:
    with sqlite_database.session() as session:
        with pytest.raises(RiskSettingsError, match="daily_loss_limit_pct"):
            save_limits(session, {"daily_loss_limit_pct": "1.5", "cooldown_minutes": 1}, actor="anna")
        with pytest.raises(RiskSettingsError, match="webhook_url"):
            save_alert_settings(session, {"webhook_url": "ftp://example"}, actor="anna")
    with sqlite_database.session() as session:
        assert load_limits(session) == RiskLimits()
        assert load_alert_settings(session).webhook_url is None
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_saving_unchanged_values_audits_nothing(sqlite_database: Database) -> None:
    with sqlite_database.session() as session:
        save_limits(session, {"cooldown_minutes": 30}, actor="anna")
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_demo_data_is_idempotent(sqlite_database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    # The second seed runs in the next hour (the wall clock is what a re-seed without ``now`` reads):
    # it must reuse the first seed's anchor, not write the demo exits again at new times.
    clock = iter([datetime(2026, 3, 2, 9, 59, 58, tzinfo=UTC), datetime(2026, 3, 2, 10, 0, 3, tzinfo=UTC)])
    monkeypatch.setattr("core.demo.seed.utc_now", lambda: next(clock))
    seed_demo(sqlite_database)
    with sqlite_database.session() as session:
        counts = (
            session.scalar(select(func.count()).select_from(RiskAlert)),
            session.scalar(select(func.count()).select_from(RiskExitEvent)),
            session.scalar(select(func.count()).select_from(AuditEntry)),
        )
        assert counts[0] == 5 and counts[1] == 10
        assert load_limits(session) == RiskLimits()
    seed_demo(sqlite_database)
    with sqlite_database.session() as session:
        assert (
            session.scalar(select(func.count()).select_from(RiskAlert)),
            session.scalar(select(func.count()).select_from(RiskExitEvent)),
            session.scalar(select(func.count()).select_from(AuditEntry)),
        ) == counts
