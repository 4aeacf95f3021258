"""Balances from the ledger, and recording a fill: fill row, ledger entry, position, order, audit.

``apply_fill`` runs inside the caller's transaction, together with the order's state change,
so a crash leaves either all of it or none of it. ``Fill.fill_id`` and the ledger's
``(origin, external_id)`` are unique: the same fill can never be recorded twice.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.audit import AuditAction, append_audit
from core.execution.broker import VenueFill
from core.execution.enums import ExitReason, OrderSide
from core.execution.models import Fill, Order, OrderEvent, OrderStatus, TradingMode
from core.execution.orders import check_transition
from core.execution.pretrade import ExposureClosed
from core.market.models import Instrument
from core.portfolio.models import LedgerEntry, LedgerKind, LedgerOrigin, Position
from core.portfolio.position_math import PositionState
from core.timeutil import utc_now
from core.values import round_quantity

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
CENT = Decimal("0.01")
DUST = Decimal("1e-12")


def asset_balance(session: Session, account: str, asset: str) -> Decimal:
    """Return the ledger balance of ``asset`` in ``account``: received − sent − fees (exact Decimal sum)."""
    return account_balances(session, account, assets=(asset,)).get(asset, ZERO)


def account_balances(session: Session, account: str, *, assets: tuple[str, ...] | None = None) -> dict[str, Decimal]:
    """Return every non-zero asset balance of ``account`` from the ledger (only ``assets`` if given)."""
    balances: dict[str, Decimal] = {}
    query = select(
        LedgerEntry.received_asset,
        LedgerEntry.received_quantity,
        LedgerEntry.sent_asset,
        LedgerEntry.sent_quantity,
        LedgerEntry.fee_asset,
        LedgerEntry.fee_quantity,
    ).where(LedgerEntry.account == account)
    if assets:
        query = query.where(
            or_(
                LedgerEntry.received_asset.in_(assets),
                LedgerEntry.sent_asset.in_(assets),
                LedgerEntry.fee_asset.in_(assets),
            )
        )
    rows = session.execute(query)
    for received_asset, received, sent_asset, sent, fee_asset, fee in rows:
        if received_asset and received is not None:
            balances[received_asset] = balances.get(received_asset, ZERO) + received
        if sent_asset and sent is not None:
            balances[sent_asset] = balances.get(sent_asset, ZERO) - sent
        if fee_asset and fee is not None:
            balances[fee_asset] = balances.get(fee_asset, ZERO) - fee
    if assets:
        balances = {asset: value for asset, value in balances.items() if asset in assets}
    return {asset: value for asset, value in balances.items() if value != 0}


def set_status(session: Session, order: Order, new: OrderStatus, *, actor: str, note: str | None = None) -> None:
    """Move ``order`` to ``new`` (checked against the state table) and record the event."""
    old = order.status
    check_transition(old, new)
    order.status = new
    order.updated_at = utc_now()
    session.add(
        OrderEvent(order_id=order.id, ts=order.updated_at, from_status=old, to_status=new, actor=actor, note=note)
    )


def quantize_quantity(value: Decimal) -> Decimal:
    """Round a quantity down to 8 decimals (the finest step of the venues): ``core.values.round_quantity``."""
    return round_quantity(value)


def apply_fill(
    session: Session, order: Order, fill: VenueFill, instrument: Instrument, *, actor: str
) -> tuple[Fill, ExposureClosed | None] | None:
    """Record one fill of ``order``; return it and the exposure-closed event of a reducing fill.

    Returns None if a fill with this id is already recorded (nothing is written twice).
    """
    if session.scalar(select(Fill.id).where(Fill.fill_id == fill.fill_id)) is not None:
        return None
    side = order.side
    base = instrument.base
    quote_asset = instrument.quote
    notional = fill.quantity * fill.price
    fee_eur = fill.fee if fill.fee_asset == quote_asset else fill.fee * fill.price
    position = session.get(Position, (order.account, instrument.id), with_for_update=True)
    state = (
        PositionState(position.quantity, position.average_price_eur, position.realised_pnl_eur)
        if position is not None
        else PositionState()
    )
    if side is OrderSide.BUY:
        net_quantity = fill.quantity - (fill.fee if fill.fee_asset == base else ZERO)
        new_state = state.apply_fill(side, net_quantity, fill.price, fee_eur) if net_quantity > 0 else state
    else:
        sold = min(fill.quantity, state.quantity)
        new_state = state.apply_fill(side, sold, fill.price, fee_eur) if sold > 0 else state
    realised = new_state.realised_pnl - state.realised_pnl if side is OrderSide.SELL else None
    is_buy = side is OrderSide.BUY
    entry = LedgerEntry(
        ts=fill.ts,
        account=order.account,
        kind=LedgerKind.BUY if is_buy else LedgerKind.SELL,
        origin=LedgerOrigin.LIVE if order.mode is TradingMode.LIVE else LedgerOrigin.PAPER,
        external_id=fill.fill_id,
        sent_asset=quote_asset if is_buy else base,
        sent_quantity=notional if is_buy else fill.quantity,
        received_asset=base if is_buy else quote_asset,
        received_quantity=fill.quantity if is_buy else notional,
        fee_asset=fill.fee_asset if fill.fee else None,
        fee_quantity=fill.fee if fill.fee else None,
        value_eur=notional.quantize(CENT) if quote_asset == "EUR" else None,
        instrument_id=instrument.id,
        asset_class=instrument.asset_class.value,
        order_ref=order.client_order_id,
        description=f"{order.mode.value} {side.value} {instrument.symbol}",
        raw={"fill_id": fill.fill_id, "price": str(fill.price), "quantity": str(fill.quantity), "venue": order.venue},
    )
    session.add(entry)
    session.flush()
    record = Fill(
        fill_id=fill.fill_id,
        order_id=order.id,
        ts=fill.ts,
        side=side,
        quantity=fill.quantity,
        price=fill.price,
        fee=fill.fee,
        fee_asset=fill.fee_asset,
        fee_eur=fee_eur,
        realised_pnl_eur=realised,
        ledger_entry_id=entry.id,
    )
    session.add(record)
    if position is None:
        position = Position(account=order.account, instrument_id=instrument.id, opened_at=fill.ts)
        session.add(position)
    if state.quantity == 0 and new_state.quantity > 0:
        position.opened_at = fill.ts
    position.quantity = new_state.quantity
    position.average_price_eur = new_state.average_price
    position.realised_pnl_eur = new_state.realised_pnl
    position.updated_at = utc_now()
    previous_filled = order.filled_quantity or ZERO
    filled = previous_filled + fill.quantity
    previous_cost = (order.average_fill_price or ZERO) * previous_filled
    order.average_fill_price = (previous_cost + notional) / filled
    order.filled_quantity = filled
    order.fees_eur = (order.fees_eur or ZERO) + fee_eur
    # DUST: SQLite keeps NUMERIC as REAL, so a stored 0.1 may read back as 0.100000000000000006.
    complete = order.quantity is not None and filled >= order.quantity - DUST
    target = OrderStatus.FILLED if complete else OrderStatus.PARTIALLY_FILLED
    if order.status is OrderStatus.CANCELLED and not complete:
        pass  # a late partial fill of a cancelled order: recorded, the order stays cancelled
    else:
        set_status(session, order, target, actor=actor, note=f"fill {fill.quantity} @ {fill.price}")
    append_audit(
        session,
        actor=actor,
        action=AuditAction.FILL,
        subject=f"order:{order.client_order_id}",
        details={
            "fill_id": fill.fill_id,
            "symbol": instrument.symbol,
            "side": side.value,
            "quantity": fill.quantity,
            "price": fill.price,
            "fee": fill.fee,
            "fee_asset": fill.fee_asset,
            "mode": order.mode.value,
        },
    )
    session.flush()
    event = None
    if side is OrderSide.SELL and state.quantity > 0:
        reason = order.exit_reason or (
            ExitReason.MANUAL if order.created_by not in ("signal", "strategy") else ExitReason.SIGNAL
        )
        event = ExposureClosed(
            account=order.account,
            instrument_id=instrument.id,
            reason=reason,
            realised_pnl_eur=realised or ZERO,
            ts=fill.ts,
        )
    return record, event
