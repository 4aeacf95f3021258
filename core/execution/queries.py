"""Read models of the Trade page and the CLI: open orders, history with state changes, fills, trade log.

The order rows (open orders, history, by client id) are read through SQLAlchemy Core in
:mod:`core.execution.order_rows` (``konsens order list`` needs no ORM); they are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.execution.enums import OrderSide
from core.execution.models import Fill, Order, OrderEvent
from core.execution.order_rows import OrderRow as OrderRow
from core.execution.order_rows import open_orders as open_orders
from core.execution.order_rows import order_history as order_history
from core.execution.order_rows import orders_by_client_id as orders_by_client_id
from core.market.models import Instrument
from core.market.query import tracked_instruments
from core.portfolio.models import LedgerEntry, LedgerKind, LedgerOrigin
from core.portfolio.position_math import PositionState


@dataclass(frozen=True)
class EventRow:
    order_id: int
    client_order_id: str
    ts: datetime
    from_status: str | None
    to_status: str
    actor: str
    note: str | None


def order_events(session: Session, *, order_id: int | None = None, limit: int = 500) -> list[EventRow]:
    """Every state change (of one order, or the newest of all), oldest first."""
    query = select(OrderEvent, Order.client_order_id).join(Order, Order.id == OrderEvent.order_id)
    if order_id is not None:
        query = query.where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
    else:
        query = query.order_by(OrderEvent.id.desc()).limit(limit)
    rows = [
        EventRow(
            event.order_id,
            client_id,
            event.ts,
            event.from_status.value if event.from_status else None,
            event.to_status.value,
            event.actor,
            event.note,
        )
        for event, client_id in session.execute(query)
    ]
    return rows if order_id is not None else list(reversed(rows))


@dataclass(frozen=True)
class FillRow:
    fill_id: str
    ts: datetime
    client_order_id: str
    mode: str
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    realised_pnl_eur: Decimal | None


def recent_fills(session: Session, *, limit: int = 200) -> list[FillRow]:
    """The newest fills with their order."""
    query = select(Fill, Order).join(Order, Order.id == Fill.order_id).order_by(Fill.ts.desc()).limit(limit)
    return [
        FillRow(
            fill.fill_id,
            fill.ts,
            order.client_order_id,
            order.mode.value,
            order.symbol,
            fill.side.value,
            fill.quantity,
            fill.price,
            fill.fee,
            fill.fee_asset,
            fill.realised_pnl_eur,
        )
        for fill, order in session.execute(query)
    ]


@dataclass(frozen=True)
class TradeLogRow:
    ts: datetime
    account: str
    symbol: str
    side: str
    quantity: Decimal
    price_eur: Decimal
    value_eur: Decimal
    fee_eur: Decimal
    realised_pnl_eur: Decimal | None
    origin: str
    reference: str


TRADE_ORIGINS = (LedgerOrigin.DEMO, LedgerOrigin.PAPER, LedgerOrigin.LIVE)


def trade_log(session: Session, *, account: str | None = None) -> list[TradeLogRow]:
    """Every buy and sell of the trading accounts from the ledger, with realised P&L per sell (average cost).

    Newest first. Computed from the ledger, so demo, paper and live trades all appear.
    """
    query = (
        select(LedgerEntry, Instrument.symbol, Instrument.base)
        .join(Instrument, Instrument.id == LedgerEntry.instrument_id)
        .where(LedgerEntry.kind.in_([LedgerKind.BUY, LedgerKind.SELL]), LedgerEntry.origin.in_(TRADE_ORIGINS))
        .order_by(LedgerEntry.ts, LedgerEntry.id)
    )
    if account:
        query = query.where(LedgerEntry.account == account)
    states: dict[tuple[str, str], PositionState] = {}
    rows: list[TradeLogRow] = []
    for entry, symbol, base in session.execute(query):
        is_buy = entry.kind is LedgerKind.BUY
        quantity = (entry.received_quantity if is_buy else entry.sent_quantity) or Decimal(0)
        value = (entry.sent_quantity if is_buy else entry.received_quantity) or Decimal(0)
        if quantity <= 0:
            continue
        price = value / quantity
        fee = entry.fee_quantity or Decimal(0)
        fee_eur = fee if entry.fee_asset in (None, "EUR") else fee * price
        key = (entry.account, symbol)
        state = states.get(key, PositionState())
        net = quantity - (fee if entry.fee_asset == base and is_buy else Decimal(0))
        realised: Decimal | None = None
        if is_buy:
            state = state.apply_fill(entry_side(True), net, price, fee_eur)
        else:
            sold = min(quantity, state.quantity)
            if sold > 0:
                after = state.apply_fill(entry_side(False), sold, price, fee_eur)
                realised = after.realised_pnl - state.realised_pnl
                state = after
        states[key] = state
        rows.append(
            TradeLogRow(
                ts=entry.ts,
                account=entry.account,
                symbol=symbol,
                side="buy" if is_buy else "sell",
                quantity=quantity,
                price_eur=price,
                value_eur=value,
                fee_eur=fee_eur,
                realised_pnl_eur=realised,
                origin=entry.origin.value,
                reference=entry.order_ref or entry.external_id,
            )
        )
    rows.reverse()
    return rows


def total_realised_pnl(rows: Sequence[TradeLogRow]) -> Decimal:
    """Return the realised P&L of all sells in ``rows`` (a ``trade_log``), in EUR."""
    return sum((row.realised_pnl_eur for row in rows if row.realised_pnl_eur is not None), Decimal(0))


def entry_side(is_buy: bool) -> OrderSide:
    return OrderSide.BUY if is_buy else OrderSide.SELL


def ticket_instruments(session: Session) -> list[str]:
    """Symbols offered on the order ticket."""
    return [instrument.symbol for instrument in tracked_instruments(session)]
