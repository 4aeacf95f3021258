"""Pre-trade checks: the contract between the executor and the risk module.

The executor builds an ``OrderIntent`` for every order it is about to submit and asks its
``PreTradeCheck``s — the risk guard (``core.risk.guard.RiskGuard``) is built into the executor,
never loaded by name. The first refusal DENIES the order with the rule that refused it. The
checks fail closed (:func:`run_pretrade_checks`): no check at all, a check that raises or one
that answers something other than a verdict denies the order (rules ``risk_unavailable`` /
``risk_check_failed``); each check runs in a savepoint, so a crash leaves nothing half-written.
After each fill that closes exposure the executor calls the ``PostTradeHook``s, so the risk
module can count stop-outs, start cooldowns and update its state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from sqlalchemy.orm import Session

from core.execution.enums import ExitReason, OrderSide, OrderType

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrderIntent:
    """What the executor is about to send, in the terms a risk check needs."""

    client_order_id: str
    account: str
    instrument_id: int
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    reference_price_eur: Decimal  # limit price, or the latest price for a market order
    notional_eur: Decimal
    is_live: bool
    reduces_exposure: bool  # True for exits and orders that shrink an existing position
    ts: datetime


@dataclass(frozen=True)
class PreTradeVerdict:
    allowed: bool
    rule: str | None = None
    reason: str | None = None

    @classmethod
    def allow(cls) -> PreTradeVerdict:
        return cls(True)

    @classmethod
    def block(cls, rule: str, reason: str) -> PreTradeVerdict:
        return cls(False, rule, reason)


@dataclass(frozen=True)
class ExposureClosed:
    """A fill that reduced or closed a position."""

    account: str
    instrument_id: int
    reason: ExitReason
    realised_pnl_eur: Decimal
    ts: datetime


@runtime_checkable
class PreTradeCheck(Protocol):
    name: str

    def check(self, session: Session, intent: OrderIntent) -> PreTradeVerdict: ...


@runtime_checkable
class PostTradeHook(Protocol):
    def on_exposure_closed(self, session: Session, event: ExposureClosed) -> None: ...


RISK_UNAVAILABLE = "risk_unavailable"
RISK_CHECK_FAILED = "risk_check_failed"


def run_pretrade_checks(session: Session, intent: OrderIntent, checks: list[PreTradeCheck]) -> PreTradeVerdict:
    """Ask every check; return the first refusal, or an allow. Fail closed (see the module docstring)."""
    if not checks:
        logger.error("Order %s denied: no pre-trade risk check is installed", intent.client_order_id)
        return PreTradeVerdict.block(
            RISK_UNAVAILABLE, "no pre-trade risk check is installed: no order leaves without one"
        )
    for check in checks:
        name = getattr(check, "name", type(check).__name__)
        try:
            with session.begin_nested():
                verdict = check.check(session, intent)
        except Exception as error:
            logger.error("Pre-trade check %s failed on order %s: %s", name, intent.client_order_id, error)
            return PreTradeVerdict.block(
                RISK_CHECK_FAILED,
                f"the pre-trade check {name!r} could not run ({type(error).__name__}: {str(error)[:200]}); "
                "the order was not sent",
            )
        if not isinstance(verdict, PreTradeVerdict):
            return PreTradeVerdict.block(RISK_CHECK_FAILED, f"the pre-trade check {name!r} gave no verdict")
        if not verdict.allowed:
            logger.info("Order %s blocked by %s: %s", intent.client_order_id, verdict.rule, verdict.reason)
            return verdict
    return PreTradeVerdict.allow()
