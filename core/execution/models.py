"""Tables of order execution: orders, their state changes, fills, and the exits watched on positions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, Money, Quantity, UTCDateTime
from core.execution.enums import ExitReason, OrderSide, OrderStatus, OrderType, TimeInForce, TradingMode
from core.timeutil import utc_now


def _values(enum_cls: type[StrEnum]) -> list[str]:
    return [member.value for member in enum_cls]


def _enum(enum_cls: type[StrEnum], length: int) -> Enum:
    return Enum(enum_cls, native_enum=False, length=length, values_callable=_values)


class Order(Base):
    """One order, from the ticket (or an exit trigger) to its final state."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_status_id", "status", "id"),
        Index("ix_orders_account_created", "account", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(36), unique=True)
    mode: Mapped[TradingMode] = mapped_column(_enum(TradingMode, 8))
    venue: Mapped[str] = mapped_column(String(40))
    account: Mapped[str] = mapped_column(String(80))
    instrument_id: Mapped[int | None] = mapped_column(ForeignKey("instruments.id", ondelete="SET NULL"))
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[OrderSide] = mapped_column(_enum(OrderSide, 8))
    order_type: Mapped[OrderType] = mapped_column(_enum(OrderType, 16))
    time_in_force: Mapped[TimeInForce] = mapped_column(_enum(TimeInForce, 8))
    quantity: Mapped[Decimal | None] = mapped_column(
        Quantity, doc="Base quantity; None while only an EUR amount is known."
    )
    amount_eur: Mapped[Decimal | None] = mapped_column(Money, doc="Requested EUR amount (converted at submission).")
    limit_price: Mapped[Decimal | None] = mapped_column(Quantity)
    stop_price: Mapped[Decimal | None] = mapped_column(Quantity)
    exits: Mapped[dict[str, Any] | None] = mapped_column(JSON, doc="Attached exits as requested (price/percent/atr).")
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus, 20), default=OrderStatus.NEW)
    filled_quantity: Mapped[Decimal] = mapped_column(Quantity, default=Decimal(0))
    average_fill_price: Mapped[Decimal | None] = mapped_column(Quantity)
    fees_eur: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    venue_order_id: Mapped[str | None] = mapped_column(String(80))
    reject_rule: Mapped[str | None] = mapped_column(String(80))
    reject_reason: Mapped[str | None] = mapped_column(Text)
    exit_reason: Mapped[ExitReason | None] = mapped_column(_enum(ExitReason, 16), doc="Why: for exits and closes.")
    parent_order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    live_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(120), doc="Executor instance (host:pid:uuid).")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, doc="The cancel intent.")
    price_cursor: Mapped[datetime | None] = mapped_column(UTCDateTime, doc="Paper: last price observation seen.")
    request: Mapped[dict[str, Any] | None] = mapped_column(JSON, doc="The ticket input as entered.")

    @property
    def is_live(self) -> bool:
        return self.mode is TradingMode.LIVE

    @property
    def remaining_quantity(self) -> Decimal:
        return (self.quantity or Decimal(0)) - (self.filled_quantity or Decimal(0))


class OrderEvent(Base):
    """One state change of an order (the order history)."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_order", "order_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    ts: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    from_status: Mapped[OrderStatus | None] = mapped_column(_enum(OrderStatus, 20))
    to_status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus, 20))
    actor: Mapped[str] = mapped_column(String(80))
    note: Mapped[str | None] = mapped_column(Text)


class Fill(Base):
    """One execution of (part of) an order; ``fill_id`` is unique, so a fill is never recorded twice."""

    __tablename__ = "fills"
    __table_args__ = (Index("ix_fills_order", "order_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fill_id: Mapped[str] = mapped_column(String(120), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    side: Mapped[OrderSide] = mapped_column(_enum(OrderSide, 8))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    price: Mapped[Decimal] = mapped_column(Quantity)
    fee: Mapped[Decimal] = mapped_column(Quantity)
    fee_asset: Mapped[str] = mapped_column(String(20))
    fee_eur: Mapped[Decimal] = mapped_column(Money)
    realised_pnl_eur: Mapped[Decimal | None] = mapped_column(Money, doc="Gain of a position-reducing fill.")
    ledger_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id", ondelete="SET NULL"))


class ExitPlan(Base):
    """Protective exits watched by the executor on the position an entry order opened."""

    __tablename__ = "exit_plans"
    __table_args__ = (Index("ix_exit_plans_active", "active"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    account: Mapped[str] = mapped_column(String(80))
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"))
    position_side: Mapped[OrderSide] = mapped_column(_enum(OrderSide, 8))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    stop_loss: Mapped[Decimal | None] = mapped_column(Quantity)
    take_profit: Mapped[Decimal | None] = mapped_column(Quantity)
    trailing_distance: Mapped[Decimal | None] = mapped_column(Quantity)
    trailing_stop: Mapped[Decimal | None] = mapped_column(Quantity)
    last_price_ts: Mapped[datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    exit_order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
