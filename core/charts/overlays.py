"""What the trading engine and the analysts add to a price chart: open orders, exits, consensus.

Read for one instrument; every price stays ``Decimal`` here and becomes a float only in the
chart payload (``core/charts/payload.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.ai.models import ConsensusRecord, Signal
from core.execution.enums import OrderSide
from core.execution.models import ExitPlan, Order
from core.execution.orders import OPEN_STATUSES


@dataclass(frozen=True)
class OrderLevel:
    """A working order's limit or stop price."""

    order_id: int
    side: OrderSide
    kind: str  # "limit" or "stop"
    price: Decimal
    quantity: Decimal | None
    account: str


@dataclass(frozen=True)
class ExitLevel:
    """A protective exit watched by the executor: stop-loss, take-profit or trailing stop."""

    plan_id: int
    kind: str  # "stop_loss", "take_profit" or "trailing_stop"
    price: Decimal
    quantity: Decimal
    account: str


@dataclass(frozen=True)
class ConsensusMarker:
    """One consensus decision at the time of its snapshot."""

    as_of: datetime
    decided_at: datetime
    decision: Signal
    score: float
    agreement: float
    valid_opinions: int
    flagged: bool


@dataclass(frozen=True)
class ChartOverlays:
    orders: list[OrderLevel]
    exits: list[ExitLevel]
    consensus: list[ConsensusMarker]


def order_levels(session: Session, instrument_id: int) -> list[OrderLevel]:
    """Return the limit and stop prices of the instrument's open orders."""
    query = select(Order).where(Order.instrument_id == instrument_id, Order.status.in_(OPEN_STATUSES))
    levels: list[OrderLevel] = []
    for order in session.scalars(query.order_by(Order.id)):
        for kind, price in (("limit", order.limit_price), ("stop", order.stop_price)):
            if price is not None:
                levels.append(OrderLevel(order.id, order.side, kind, price, order.quantity, order.account))
    return levels


def exit_levels(session: Session, instrument_id: int) -> list[ExitLevel]:
    """Return the stop-loss, take-profit and trailing-stop prices of the instrument's active exit plans."""
    query = select(ExitPlan).where(ExitPlan.instrument_id == instrument_id, ExitPlan.active.is_(True))
    levels: list[ExitLevel] = []
    for plan in session.scalars(query.order_by(ExitPlan.id)):
        for kind, price in (
            ("stop_loss", plan.stop_loss),
            ("take_profit", plan.take_profit),
            ("trailing_stop", plan.trailing_stop),
        ):
            if price is not None:
                levels.append(ExitLevel(plan.id, kind, price, plan.quantity, plan.account))
    return levels


def consensus_markers(
    session: Session, instrument_id: int, *, start: datetime | None = None, end: datetime | None = None
) -> list[ConsensusMarker]:
    """Return the consensus decisions whose snapshot time lies in ``[start, end]``, oldest first."""
    query = select(ConsensusRecord).where(ConsensusRecord.instrument_id == instrument_id)
    if start is not None:
        query = query.where(ConsensusRecord.as_of >= start)
    if end is not None:
        query = query.where(ConsensusRecord.as_of <= end)
    return [
        ConsensusMarker(
            as_of=record.as_of,
            decided_at=record.decided_at,
            decision=record.decision,
            score=record.score,
            agreement=record.agreement,
            valid_opinions=record.valid_opinions,
            flagged=record.flagged,
        )
        for record in session.scalars(query.order_by(ConsensusRecord.as_of, ConsensusRecord.id).limit(2000))
    ]


def chart_overlays(
    session: Session, instrument_id: int, *, start: datetime | None = None, end: datetime | None = None
) -> ChartOverlays:
    """Return everything the engine and the analysts draw on the instrument's chart."""
    return ChartOverlays(
        orders=order_levels(session, instrument_id),
        exits=exit_levels(session, instrument_id),
        consensus=consensus_markers(session, instrument_id, start=start, end=end),
    )
