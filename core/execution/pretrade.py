"""Pre-trade checks: the contract between the executor and the risk module.

The executor builds an ``OrderIntent`` for every order it is about to submit and asks every
registered ``PreTradeCheck``; the first refusal rejects the order with the rule that refused it.
After each fill that closes exposure the executor calls the ``PostTradeHook``s, so the risk
module can count stop-outs, start cooldowns and update its state.
"""

from __future__ import annotations

import importlib
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


# Modules that provide ``pretrade_checks()`` and ``post_trade_hooks()``; missing modules are skipped.
PROVIDER_MODULES = ("core.risk.guard",)


def load_pretrade_checks() -> list[PreTradeCheck]:
    """Return the checks of every installed provider module, in order."""
    checks: list[PreTradeCheck] = []
    for module_name in PROVIDER_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name and module_name.startswith(error.name):
                continue
            raise
        checks.extend(module.pretrade_checks())
    return checks


def load_post_trade_hooks() -> list[PostTradeHook]:
    """Return the post-trade hooks of every installed provider module."""
    hooks: list[PostTradeHook] = []
    for module_name in PROVIDER_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name and module_name.startswith(error.name):
                continue
            raise
        if hasattr(module, "post_trade_hooks"):
            hooks.extend(module.post_trade_hooks())
    return hooks


def run_pretrade_checks(session: Session, intent: OrderIntent, checks: list[PreTradeCheck]) -> PreTradeVerdict:
    """Ask every check; return the first refusal, or an allow."""
    for check in checks:
        verdict = check.check(session, intent)
        if not verdict.allowed:
            logger.info("Order %s blocked by %s: %s", intent.client_order_id, verdict.rule, verdict.reason)
            return verdict
    return PreTradeVerdict.allow()
