"""Tables of the risk module: trading states, exit events, checked orders, alerts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, Money, UTCDateTime
from core.execution.enums import ExitReason
from core.timeutil import utc_now


def _enum_values(enum_cls: type[StrEnum]) -> list[str]:
    return [member.value for member in enum_cls]


GLOBAL_SCOPE = "*"  # the trading state that applies to every account (the kill switch)


class TradingState(StrEnum):
    """What the executor may do for an account."""

    ACTIVE = "active"  # everything the limits allow
    REDUCING = "reducing"  # only orders that reduce exposure
    HALTED = "halted"  # nothing but cancels; leaving it needs a manual reset

    @property
    def severity(self) -> int:
        return {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}[self]


class AlertKind(StrEnum):
    BREACH = "breach"  # a circuit breaker moved the trading state
    ORDER_BLOCKED = "order_blocked"
    STOPLOSS_GUARD = "stoploss_guard"
    LARGE_MOVE = "large_move"
    STALE_DATA = "stale_data"
    WORKER_FAILING = "worker_failing"
    STATE_CHANGE = "state_change"  # kill switch, manual reset
    AI_COST_CAP = "ai_cost_cap"  # an AI analyst was skipped: its EUR cost cap is reached
    STRATEGY_FAILED = "strategy_failed"  # a strategy signal source raised or returned garbage: switched off


class AlertSeverity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  # no channel configured, or below the delivery severity


class RiskTradingState(Base):
    """The trading state of one account, or of all accounts (scope ``*``: the kill switch)."""

    __tablename__ = "risk_trading_states"

    scope: Mapped[str] = mapped_column(String(80), primary_key=True)
    state: Mapped[TradingState] = mapped_column(
        Enum(TradingState, native_enum=False, length=16, values_callable=_enum_values)
    )
    rule: Mapped[str | None] = mapped_column(String(40), doc="The rule that moved the state.")
    reason: Mapped[str | None] = mapped_column(Text)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime, doc="When a REDUCING state may lift by itself.")
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    changed_by: Mapped[str] = mapped_column(String(80))
    baseline_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, doc="Time of the last manual reset: loss and drawdown are measured from here on."
    )
    baseline_equity_eur: Mapped[Decimal | None] = mapped_column(Money, doc="Equity at the last manual reset.")


class RiskExitEvent(Base):
    """A fill that reduced or closed a position (from the executor's post-trade hook)."""

    __tablename__ = "risk_exit_events"
    __table_args__ = (
        Index("ix_risk_exit_events_account_ts", "account", "ts"),
        Index("ix_risk_exit_events_instrument_ts", "instrument_id", "ts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    account: Mapped[str] = mapped_column(String(80))
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"))
    reason: Mapped[ExitReason] = mapped_column(
        Enum(ExitReason, native_enum=False, length=20, values_callable=_enum_values)
    )
    realised_pnl_eur: Mapped[Decimal] = mapped_column(Money)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class RiskOrderCheck(Base):
    """The risk verdict on one order (the latest, if it was checked again after a restart)."""

    __tablename__ = "risk_order_checks"
    __table_args__ = (Index("ix_risk_order_checks_account_ts", "account", "ts"),)

    client_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    account: Mapped[str] = mapped_column(String(80))
    instrument_id: Mapped[int] = mapped_column(Integer)
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[str] = mapped_column(String(8))
    notional_eur: Mapped[Decimal] = mapped_column(Money)
    reduces_exposure: Mapped[bool] = mapped_column(Boolean)
    allowed: Mapped[bool] = mapped_column(Boolean)
    rule: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text)


class RiskAlert(Base):
    """Something the trader should see: a breach, a blocked order, a large move, stale data..."""

    __tablename__ = "risk_alerts"
    __table_args__ = (Index("ix_risk_alerts_created", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    kind: Mapped[AlertKind] = mapped_column(Enum(AlertKind, native_enum=False, length=20, values_callable=_enum_values))
    severity: Mapped[AlertSeverity] = mapped_column(
        Enum(AlertSeverity, native_enum=False, length=10, values_callable=_enum_values)
    )
    subject: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True, doc="The same condition is alerted once.")
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(80))
    delivery_status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, native_enum=False, length=10, values_callable=_enum_values),
        default=DeliveryStatus.PENDING,
    )
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivery_error: Mapped[str | None] = mapped_column(Text)
