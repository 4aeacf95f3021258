"""Actions on a holding: close or reduce it, set or move its stop-loss and take-profit.

The Portfolio page never trades itself: it builds an ``OrderRequest`` here and hands it to
``core.execution.service.place_order`` — the same validation, risk checks (in the executor) and
audit as an order from the Trade page. Its exits are the executor's exit plans (as exits
attached on the Trade page): :func:`plan_exit_change` checks a change and says what it will do (the
page's confirmation step), :func:`set_holding_exits` writes it, audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import AuditAction, append_audit
from core.execution.enums import OrderSide, OrderType
from core.execution.models import ExitPlan, Order
from core.execution.orders import OrderRequest, OrderValidationError
from core.execution.prices import latest_price
from core.market.query import instrument_by_symbol
from core.market.trading_rules import RuleViolation, check_order, rules_for
from core.portfolio.models import Position
from core.timeutil import utc_now

REDUCE_FRACTIONS = (Decimal("0.25"), Decimal("0.5"), Decimal("0.75"), Decimal(1))


def reduce_request(symbol: str, quantity_held: Decimal, fraction: Decimal, *, live: bool = False) -> OrderRequest:
    """Return a market sell of ``fraction`` (0 < f ≤ 1) of a long holding; 1 closes it exactly."""
    if quantity_held <= 0:
        raise OrderValidationError(f"no long position in {symbol} to reduce")
    if not Decimal(0) < fraction <= 1:
        raise OrderValidationError(f"fraction must be in (0, 1], got {fraction}")
    quantity = quantity_held if fraction == 1 else (quantity_held * fraction).normalize()
    return OrderRequest(symbol=symbol, side=OrderSide.SELL, order_type=OrderType.MARKET, quantity=quantity, live=live)


class ExitPlanError(OrderValidationError):
    """A stop-loss / take-profit change that cannot be made (nothing held, a level on the wrong side)."""


@dataclass(frozen=True)
class ExitChange:
    """What setting or moving the exits of a holding will do, for the confirmation step."""

    account: str
    symbol: str
    instrument_id: int
    quantity: Decimal
    last_price: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None
    previous_stop_loss: Decimal | None
    previous_take_profit: Decimal | None
    moves_existing: bool


def _active_plans(session: Session, account: str, instrument_id: int) -> list[ExitPlan]:
    return list(
        session.scalars(
            select(ExitPlan)
            .where(ExitPlan.account == account, ExitPlan.instrument_id == instrument_id, ExitPlan.active.is_(True))
            .order_by(ExitPlan.id)
        )
    )


def current_exits(session: Session, account: str, instrument_id: int) -> tuple[Decimal | None, Decimal | None]:
    """Return the stop-loss and take-profit armed on a holding (the newest active plan's), or Nones."""
    plans = _active_plans(session, account, instrument_id)
    return (plans[-1].stop_loss, plans[-1].take_profit) if plans else (None, None)


def plan_exit_change(
    session: Session,
    *,
    account: str,
    symbol: str,
    stop_loss: Decimal | None,
    take_profit: Decimal | None,
) -> ExitChange:
    """Check a stop-loss / take-profit for a long holding and return what setting it will do.

    The checks an exit order of this holding would meet: a known instrument, a position held,
    levels on the instrument's tick (``core.market.trading_rules.check_order``), the stop below and
    the take-profit above the last price (else it would fire at once: sell instead), and the
    quantity at least one lot. Nothing is written.
    """
    if stop_loss is None and take_profit is None:
        raise ExitPlanError("enter a stop-loss or a take-profit price")
    for name, level in (("stop-loss", stop_loss), ("take-profit", take_profit)):
        if level is not None and (not level.is_finite() or level <= 0):
            raise ExitPlanError(f"the {name} must be a positive price, got {level}")
    instrument = instrument_by_symbol(session, symbol)
    if instrument is None:
        raise ExitPlanError(f"unknown instrument {symbol!r}")
    position = session.get(Position, (account, instrument.id))
    held = position.quantity if position is not None else Decimal(0)
    if held <= 0:
        raise ExitPlanError(f"no long position in {symbol} in account {account}")
    latest = latest_price(session, instrument.id)
    if latest is None:
        raise ExitPlanError(f"no price for {symbol} yet: the exits cannot be checked against it")
    last = latest.price
    if stop_loss is not None and stop_loss >= last:
        raise ExitPlanError(
            f"the stop-loss {stop_loss} is not below the last price {last}: it would sell at once — "
            "close the position instead"
        )
    if take_profit is not None and take_profit <= last:
        raise ExitPlanError(
            f"the take-profit {take_profit} is not above the last price {last}: it would sell at once — "
            "close the position instead"
        )
    try:
        quantity = check_order(
            rules_for(instrument),
            symbol=instrument.symbol,
            quote=instrument.quote,
            quantity=held,
            prices={"stop-loss": stop_loss, "take-profit": take_profit},
            reference_price=last,
        )
    except RuleViolation as violation:
        raise ExitPlanError(violation.reason) from violation
    previous = current_exits(session, account, instrument.id)
    return ExitChange(
        account=account,
        symbol=instrument.symbol,
        instrument_id=instrument.id,
        quantity=quantity,
        last_price=last,
        stop_loss=stop_loss,
        take_profit=take_profit,
        previous_stop_loss=previous[0],
        previous_take_profit=previous[1],
        moves_existing=bool(_active_plans(session, account, instrument.id)),
    )


def set_holding_exits(session: Session, change: ExitChange, *, actor: str) -> list[ExitPlan]:
    """Arm or move the stop-loss / take-profit of a holding (after :func:`plan_exit_change`), audited.

    Active exit plans of the holding get the new levels (moved); without one, the plan of the newest
    filled buy of the holding is armed (created, or re-armed) for the whole quantity held. The
    executor watches it from the current price on, like exits attached on the Trade page; when a
    level is hit it places the sell through ``place_order`` and its risk checks.
    """
    # checked again in the writing transaction: the price or the position may have moved
    checked = plan_exit_change(
        session,
        account=change.account,
        symbol=change.symbol,
        stop_loss=change.stop_loss,
        take_profit=change.take_profit,
    )
    latest = latest_price(session, checked.instrument_id)
    if latest is None:  # plan_exit_change refuses a holding without a price; kept for the type
        raise ExitPlanError(f"no price for {checked.symbol} yet")
    now = utc_now()
    plans = _active_plans(session, checked.account, checked.instrument_id)
    if not plans:
        entry = session.scalar(
            select(Order)
            .where(
                Order.account == checked.account,
                Order.instrument_id == checked.instrument_id,
                Order.side == OrderSide.BUY,
                Order.filled_quantity > 0,
            )
            .order_by(Order.id.desc())
            .limit(1)
        )
        if entry is None:
            raise ExitPlanError(
                f"no buy order of {checked.symbol} in account {checked.account} to attach exits to "
                "(a position from an import has none): place the protective orders on the Trade page"
            )
        plan = session.scalar(select(ExitPlan).where(ExitPlan.entry_order_id == entry.id))
        if plan is None:
            plan = ExitPlan(
                entry_order_id=entry.id,
                account=checked.account,
                instrument_id=checked.instrument_id,
                position_side=OrderSide.BUY,
                created_at=now,
            )
            session.add(plan)
        plan.quantity = checked.quantity
        plan.trailing_distance = plan.trailing_stop = None
        plan.exit_order_id = None
        plan.active = True
        plans = [plan]
    for plan in plans:
        plan.stop_loss = checked.stop_loss
        plan.take_profit = checked.take_profit
        plan.last_price_ts = latest.ts  # only prices after the current one can trigger it
        plan.updated_at = now
    session.flush()
    append_audit(
        session,
        actor=actor,
        action=AuditAction.EXIT_PLAN_SET,
        subject=f"position:{checked.account}:{checked.symbol}",
        details={
            "stop_loss": checked.stop_loss,
            "take_profit": checked.take_profit,
            "previous_stop_loss": checked.previous_stop_loss,
            "previous_take_profit": checked.previous_take_profit,
            "quantity": checked.quantity,
            "last_price": checked.last_price,
            "plans": [plan.id for plan in plans],
        },
    )
    return plans
