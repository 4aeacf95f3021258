"""What the Trade page, the CLI and strategies call: place an order, request a cancel, fund paper cash.

These functions only write intents (order rows in ``new``, a cancel request) and audit rows;
the executor worker carries them out. A ticket that cannot become an order is still stored, as
a rejected order with the reason, so every attempt is visible in the history.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import AuditAction, append_audit
from core.errors import PermanentError
from core.execution.accounting import set_status
from core.execution.enums import ExitReason, OrderSide, OrderType
from core.execution.models import Order, OrderEvent, OrderStatus, TradingMode
from core.execution.orders import (
    OPEN_STATUSES,
    OrderRequest,
    OrderValidationError,
    new_client_order_id,
    to_decimal,
    validate_request,
)
from core.execution.settings import PAPER_VENUE, TradingSettings, load_trading_config
from core.market.query import instrument_by_symbol
from core.market.trading_rules import RuleViolation, check_order, rules_for
from core.observability.tracing import remember_trace, traced
from core.portfolio.models import LedgerEntry, LedgerKind, LedgerOrigin
from core.timeutil import utc_now

logger = logging.getLogger(__name__)


class CancelError(PermanentError, ValueError):
    """A cancel that cannot be requested (unknown order, already final)."""


def _safe_decimal(value: object, name: str) -> Decimal | None:
    try:
        return to_decimal(value, name)
    except OrderValidationError:
        return None


@traced("order.place", attributes_of=lambda _session, request, **kwargs: {"symbol": request.symbol})
def place_order(
    session: Session,
    request: OrderRequest,
    *,
    actor: str,
    exit_reason: ExitReason | None = None,
    parent_order_id: int | None = None,
    settings: TradingSettings | None = None,
) -> Order:
    """Create an order from a ticket: status ``new`` if valid, else ``denied`` with the rule and reason.

    The client order id (UUID) is created here, before the order leaves the process.
    """
    config = load_trading_config(session, settings)
    trading = config.settings
    instrument = instrument_by_symbol(session, request.symbol) if request.symbol else None
    problem: str | None = None
    rule = "validation"
    try:
        validate_request(request)
        if instrument is None:
            raise OrderValidationError(f"unknown instrument {request.symbol!r}")
        if request.live and not config.live_enabled:
            rule = "live_disabled"
            raise OrderValidationError("live trading is disabled: enable it in Settings → Trading first")
    except OrderValidationError as error:
        problem = str(error)
    quantity = _positive_or_none(_safe_decimal(request.quantity, "quantity"))
    limit_price = _safe_decimal(request.limit_price, "limit price")
    stop_price = _safe_decimal(request.stop_price, "stop price")
    if problem is None and instrument is not None and quantity is not None:
        # Rounded to the lot and checked against the instrument's rules before it is stored; the
        # executor checks again with the venue's current rules and the price at submission.
        try:
            quantity = check_order(
                rules_for(instrument),
                symbol=instrument.symbol,
                quote=instrument.quote,
                quantity=quantity,
                prices={"limit price": limit_price, "stop price": stop_price},
                reference_price=limit_price or stop_price,
            )
        except RuleViolation as violation:
            rule, problem = violation.rule, violation.reason
    now = utc_now()
    order = Order(
        client_order_id=new_client_order_id(),
        mode=TradingMode.LIVE if request.live else TradingMode.PAPER,
        venue=trading.live_venue if request.live else PAPER_VENUE,
        account=trading.live_account if request.live else trading.paper_account,
        instrument_id=instrument.id if instrument is not None else None,
        symbol=(instrument.symbol if instrument is not None else request.symbol or "?")[:40],
        side=request.side,
        order_type=request.order_type,
        time_in_force=request.time_in_force,
        quantity=quantity,
        amount_eur=_positive_or_none(_safe_decimal(request.amount_eur, "amount")),
        limit_price=limit_price,
        stop_price=stop_price,
        exits=_safe_exits(request),
        status=OrderStatus.NEW,
        filled_quantity=Decimal(0),
        fees_eur=Decimal(0),
        exit_reason=exit_reason,
        parent_order_id=parent_order_id,
        live_confirmed=request.live and request.live_confirmed,
        created_by=actor,
        created_at=now,
        updated_at=now,
        request=request.to_json(),
    )
    session.add(order)
    session.flush()
    remember_trace(session, f"order:{order.client_order_id}")  # the executor continues this trace
    session.add(OrderEvent(order_id=order.id, ts=now, from_status=None, to_status=OrderStatus.NEW, actor=actor))
    append_audit(
        session,
        actor=actor,
        action=AuditAction.ORDER_CREATED,
        subject=f"order:{order.client_order_id}",
        details={**request.to_json(), "mode": order.mode.value, "exit_reason": exit_reason},
    )
    if problem is not None:
        deny_order(session, order, rule=rule, reason=problem, actor=actor)
    return order


def _positive_or_none(value: Decimal | None) -> Decimal | None:
    """Quantities that are zero or negative are not stored (the order is rejected with the reason)."""
    return value if value is not None and value > 0 else None


def _safe_exits(request: OrderRequest) -> dict[str, object] | None:
    try:
        return request.exits.to_json()
    except Exception:
        return None


def reject_order(session: Session, order: Order, *, rule: str, reason: str, actor: str) -> None:
    """Move ``order`` to ``rejected`` (the VENUE refused it) with the rule and reason, audited."""
    _refuse(session, order, OrderStatus.REJECTED, AuditAction.ORDER_REJECTED, rule=rule, reason=reason, actor=actor)


def deny_order(session: Session, order: Order, *, rule: str, reason: str, actor: str) -> None:
    """Move ``order`` to ``denied`` (KONSENS' own checks refused it; it never left), audited."""
    _refuse(session, order, OrderStatus.DENIED, AuditAction.ORDER_DENIED, rule=rule, reason=reason, actor=actor)


def _refuse(
    session: Session, order: Order, status: OrderStatus, action: AuditAction, *, rule: str, reason: str, actor: str
) -> None:
    order.reject_rule = rule[:80]
    order.reject_reason = reason
    set_status(session, order, status, actor=actor, note=f"{rule}: {reason}")
    append_audit(
        session,
        actor=actor,
        action=action,
        subject=f"order:{order.client_order_id}",
        details={"rule": rule, "reason": reason},
    )
    logger.info("Order %s %s (%s): %s", order.client_order_id, status.value, rule, reason)


def request_cancel(session: Session, client_order_id: str, *, actor: str) -> Order:
    """Record the intent to cancel an order; the executor carries it out."""
    order = session.scalar(select(Order).where(Order.client_order_id == client_order_id))
    if order is None:
        raise CancelError(f"no order with client order id {client_order_id}")
    if order.status not in OPEN_STATUSES:
        raise CancelError(f"order {client_order_id} is already {order.status.value}")
    if order.cancel_requested_at is None:
        order.cancel_requested_at = utc_now()
        append_audit(
            session,
            actor=actor,
            action=AuditAction.ORDER_CANCEL_REQUESTED,
            subject=f"order:{order.client_order_id}",
            details={"status": order.status.value},
        )
    return order


def deposit_paper_cash(
    session: Session, amount_eur: Decimal, *, actor: str, settings: TradingSettings | None = None
) -> LedgerEntry:
    """Add play money to the paper account (a PAPER deposit in the ledger), audited."""
    amount = to_decimal(amount_eur, "amount")
    if amount is None or amount <= 0:
        raise ValueError("the deposit must be a positive EUR amount")
    account = (settings or TradingSettings()).paper_account
    now = utc_now()
    entry = LedgerEntry(
        ts=now,
        account=account,
        kind=LedgerKind.DEPOSIT,
        origin=LedgerOrigin.PAPER,
        external_id=f"paper-deposit-{new_client_order_id()}",
        received_asset="EUR",
        received_quantity=amount,
        value_eur=amount,
        description="Paper account: cash deposit",
    )
    session.add(entry)
    session.flush()
    append_audit(
        session,
        actor=actor,
        action=AuditAction.SETTING_CHANGED,
        subject=f"account:{account}",
        details={"paper_deposit_eur": amount},
    )
    return entry


def is_market_like(order_type: OrderType) -> bool:
    return order_type in (OrderType.MARKET, OrderType.STOP_MARKET)


__all__ = [
    "CancelError",
    "OrderSide",
    "deny_order",
    "deposit_paper_cash",
    "place_order",
    "reject_order",
    "request_cancel",
]
