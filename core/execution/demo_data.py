"""Demo orders and fills behind the demo paper account's trades, so the Trade page has history.

For every demo ledger trade (``demo-trade-N``) an order (filled, with its state changes) and a
fill pointing at that ledger entry; plus one resting limit order and one rejected order. The
ledger itself is not touched. Idempotent: client order ids are derived from the external ids.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.demo.state import DemoContext
from core.execution.enums import OrderSide, OrderType, TimeInForce
from core.execution.models import Fill, Order, OrderEvent, OrderStatus, TradingMode
from core.execution.settings import PAPER_VENUE
from core.market.models import Instrument
from core.portfolio.models import LedgerEntry, LedgerKind, LedgerOrigin
from core.portfolio.position_math import PositionState

ORDER = 30
_NAMESPACE = uuid.UUID("6f1c9a52-2d0e-4c55-9a3e-1b7d2f0c8e11")
_LIFECYCLE = (OrderStatus.SUBMITTING, OrderStatus.OPEN, OrderStatus.FILLED)


def _client_id(key: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, key))


def seed_demo_data(session: Session, context: DemoContext) -> None:
    """Create the demo orders and fills (nothing twice)."""
    existing = set(session.scalars(select(Order.client_order_id).where(Order.created_by == "demo")))
    entries = session.execute(
        select(LedgerEntry, Instrument)
        .join(Instrument, Instrument.id == LedgerEntry.instrument_id)
        .where(
            LedgerEntry.origin == LedgerOrigin.DEMO,
            LedgerEntry.account == context.account,
            LedgerEntry.kind.in_([LedgerKind.BUY, LedgerKind.SELL]),
        )
        .order_by(LedgerEntry.ts, LedgerEntry.id)
    ).all()
    states: dict[int, PositionState] = {}
    for entry, instrument in entries:
        is_buy = entry.kind is LedgerKind.BUY
        side = OrderSide.BUY if is_buy else OrderSide.SELL
        quantity = (entry.received_quantity if is_buy else entry.sent_quantity) or Decimal(0)
        notional = (entry.sent_quantity if is_buy else entry.received_quantity) or Decimal(0)
        price = notional / quantity
        fee = entry.fee_quantity or Decimal(0)
        state = states.get(instrument.id, PositionState())
        after = state.apply_fill(side, quantity, price, fee)
        states[instrument.id] = after
        client_id = _client_id(entry.external_id)
        if client_id in existing:
            continue
        created = entry.ts - timedelta(seconds=2)
        order = Order(
            client_order_id=client_id,
            mode=TradingMode.PAPER,
            venue=PAPER_VENUE,
            account=context.account,
            instrument_id=instrument.id,
            symbol=instrument.symbol,
            side=side,
            order_type=OrderType.MARKET,
            time_in_force=TimeInForce.GTC,
            quantity=quantity,
            status=OrderStatus.FILLED,
            filled_quantity=quantity,
            average_fill_price=price,
            fees_eur=fee,
            venue_order_id=f"paper-{client_id[:8]}",
            created_by="demo",
            created_at=created,
            updated_at=entry.ts,
            submitted_at=created + timedelta(milliseconds=40),
        )
        session.add(order)
        session.flush()
        previous = None
        session.add(
            OrderEvent(order_id=order.id, ts=created, from_status=None, to_status=OrderStatus.NEW, actor="demo")
        )
        previous = OrderStatus.NEW
        for offset, status in enumerate(_LIFECYCLE, start=1):
            session.add(
                OrderEvent(
                    order_id=order.id,
                    ts=created + timedelta(milliseconds=40 * offset),
                    from_status=previous,
                    to_status=status,
                    actor="executor",
                    note=f"fill {quantity} @ {price:.2f}" if status is OrderStatus.FILLED else None,
                )
            )
            previous = status
        session.add(
            Fill(
                fill_id=f"demo-fill-{entry.external_id}",
                order_id=order.id,
                ts=entry.ts,
                side=side,
                quantity=quantity,
                price=price,
                fee=fee,
                fee_asset=entry.fee_asset or "EUR",
                fee_eur=fee,
                realised_pnl_eur=None if is_buy else after.realised_pnl - state.realised_pnl,
                ledger_entry_id=entry.id,
            )
        )
    _seed_examples(session, context, existing)


def _seed_examples(session: Session, context: DemoContext, existing: set[str]) -> None:
    """A resting limit buy (cancellable) and a sell denied by the balance check, to show those states."""
    btc = context.instruments.get("BTC/EUR")
    sol = context.instruments.get("SOL/EUR")
    if btc is None or sol is None:
        return
    frame = context.candles["BTC/EUR"]
    last_close = Decimal(str(round(float(frame["close"].iloc[-1]), 2)))
    examples = [
        (
            "demo-open-limit",
            btc,
            OrderSide.BUY,
            OrderType.LIMIT,
            Decimal("0.05"),
            (last_close * Decimal("0.9")).quantize(Decimal("1")),
            OrderStatus.OPEN,
            None,
        ),
        (
            "demo-rejected",
            sol,
            OrderSide.SELL,
            OrderType.MARKET,
            Decimal("1000"),
            None,
            OrderStatus.DENIED,
            "insufficient SOL: sells 1000, less available",
        ),
    ]
    for key, instrument, side, order_type, quantity, limit, status, reason in examples:
        client_id = _client_id(key)
        if client_id in existing:
            continue
        created = context.now - timedelta(hours=3 if status is OrderStatus.OPEN else 5)
        order = Order(
            client_order_id=client_id,
            mode=TradingMode.PAPER,
            venue=PAPER_VENUE,
            account=context.account,
            instrument_id=instrument.id,
            symbol=instrument.symbol,
            side=side,
            order_type=order_type,
            time_in_force=TimeInForce.GTC,
            quantity=quantity,
            limit_price=limit,
            status=status,
            filled_quantity=Decimal(0),
            fees_eur=Decimal(0),
            reject_rule="insufficient_funds" if reason else None,
            reject_reason=reason,
            created_by="demo",
            created_at=created,
            updated_at=created + timedelta(milliseconds=80),
            price_cursor=context.now,
        )
        session.add(order)
        session.flush()
        path = (
            [OrderStatus.NEW, OrderStatus.SUBMITTING, OrderStatus.OPEN]
            if status is OrderStatus.OPEN
            else [OrderStatus.NEW, OrderStatus.DENIED]
        )
        previous = None
        for offset, step in enumerate(path):
            session.add(
                OrderEvent(
                    order_id=order.id,
                    ts=created + timedelta(milliseconds=40 * offset),
                    from_status=previous,
                    to_status=step,
                    actor="demo" if offset == 0 else "executor",
                    note=reason if step is OrderStatus.DENIED else None,
                )
            )
            previous = step
