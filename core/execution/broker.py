"""The ``Broker`` protocol: what the executor needs from a venue (paper or live)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from core.errors import PermanentError, TransientError, UncertainError
from core.execution.models import Order, OrderStatus


@dataclass(frozen=True)
class VenueFill:
    """One execution as the venue reports it."""

    fill_id: str
    ts: datetime
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str


@dataclass(frozen=True)
class VenueOrderState:
    """An order as the venue sees it, with every fill it reports for it."""

    status: OrderStatus
    venue_order_id: str | None = None
    filled_quantity: Decimal = Decimal(0)
    fills: list[VenueFill] = field(default_factory=list)
    reason: str | None = None
    price_cursor: datetime | None = None  # paper: the last price observation evaluated


class BrokerRejected(PermanentError):
    """The order was refused for good and not placed: by the venue (insufficient funds, invalid order,
    bad key), or — ``by_venue`` False — by the broker's own last check before the request left."""

    def __init__(self, rule: str, reason: str, *, by_venue: bool = True):
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason
        self.by_venue = by_venue


class BrokerUnavailable(TransientError):
    """The venue could not be asked (rate limit, maintenance); the order was certainly not placed."""


class BrokerUncertain(UncertainError):
    """The request may or may not have reached the venue (timeout, connection lost): fate unknown."""


class LiveTradingUnavailable(PermanentError, RuntimeError):
    """Live trading cannot start (no API key stored)."""


class Broker(Protocol):
    """A venue: submit, cancel and look up orders by client order id; balances and own trades."""

    venue: str
    is_live: bool

    def submit(self, order: Order) -> VenueOrderState: ...

    def cancel(self, order: Order) -> VenueOrderState: ...

    def fetch(self, order: Order) -> VenueOrderState | None:
        """Return the venue's view of the order by its client order id, or None if it never arrived."""
        ...

    def balances(self) -> dict[str, Decimal]: ...
