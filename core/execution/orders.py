"""The order domain: the state table, the ticket (``OrderRequest``) and its validation, attached exits.

Every status change goes through :func:`transition`, which refuses a move the table does not
allow. The table accepts the moves the real world makes, e.g. a fill that arrives after the
cancel was sent (``PENDING_CANCEL → FILLED``) or is reported after the cancel was confirmed
(``CANCELLED → FILLED``). ``DENIED`` (Konsens' own checks refused the order before it left) is
kept apart from ``REJECTED`` (the venue refused it); a stop order whose stop was reached is
``TRIGGERED`` until it fills.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from core.errors import PermanentError
from core.execution.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from core.execution.fill_model import ExitLevels

S = OrderStatus
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    # NEW -> DENIED: Konsens' own checks refused it (ticket, venue rules, risk, balance); never sent.
    # NEW -> REJECTED: the venue refused during the checks before sending (e.g. the key, on the balance call).
    S.NEW: frozenset({S.SUBMITTING, S.DENIED, S.REJECTED, S.CANCELLED}),
    # SUBMITTING -> NEW: reconciliation found that the venue never received it; it is sent again.
    # SUBMITTING -> DENIED: the last local check before the request (the venue's precision) refused it.
    S.SUBMITTING: frozenset(
        {S.NEW, S.OPEN, S.TRIGGERED, S.PARTIALLY_FILLED, S.FILLED, S.DENIED, S.REJECTED, S.CANCELLED, S.EXPIRED}
    ),
    S.OPEN: frozenset({S.TRIGGERED, S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELLED, S.EXPIRED}),
    # A triggered stop works as a limit (stop-limit) or market (stop-market) order.
    S.TRIGGERED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELLED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELLED, S.EXPIRED}),
    S.PENDING_CANCEL: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    # A fill reported after the cancel confirmation completes the order; a late partial fill is
    # recorded and the order stays cancelled (``accounting.apply_fill``).
    S.CANCELLED: frozenset({S.FILLED}),
    S.FILLED: frozenset(),
    S.DENIED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}
TERMINAL_STATUSES = frozenset({S.FILLED, S.CANCELLED, S.DENIED, S.REJECTED, S.EXPIRED})
WORKING_STATUSES = frozenset({S.SUBMITTING, S.OPEN, S.TRIGGERED, S.PARTIALLY_FILLED, S.PENDING_CANCEL})
RESTING_STATUSES = frozenset({S.OPEN, S.TRIGGERED, S.PARTIALLY_FILLED})  # at the venue, watched for fills
OPEN_STATUSES = frozenset({S.NEW}) | WORKING_STATUSES


class IllegalTransition(PermanentError, ValueError):
    """An order status change that the state table does not allow."""


def check_transition(current: OrderStatus, new: OrderStatus) -> None:
    """Raise ``IllegalTransition`` unless ``current → new`` is allowed."""
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(f"illegal order status change {current.value} → {new.value}")


def new_client_order_id() -> str:
    """Return a new client order id: a UUID4 string (One Trading requires UUIDs)."""
    return str(uuid.uuid4())


class ExitKind(StrEnum):
    PRICE = "price"  # an absolute price (for a trailing stop: an absolute distance)
    PERCENT = "percent"  # percent of the entry price
    ATR = "atr"  # multiple of the instrument's ATR


@dataclass(frozen=True)
class ExitSpec:
    """One attached exit as entered: a price, a percent of the entry, or an ATR multiple."""

    kind: ExitKind
    value: Decimal

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind.value, "value": str(self.value)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExitSpec:
        return cls(ExitKind(data["kind"]), Decimal(str(data["value"])))


@dataclass(frozen=True)
class AttachedExits:
    stop_loss: ExitSpec | None = None
    take_profit: ExitSpec | None = None
    trailing_stop: ExitSpec | None = None

    def is_empty(self) -> bool:
        return self.stop_loss is None and self.take_profit is None and self.trailing_stop is None

    def to_json(self) -> dict[str, Any] | None:
        if self.is_empty():
            return None
        return {
            name: spec.to_json()
            for name, spec in (
                ("stop_loss", self.stop_loss),
                ("take_profit", self.take_profit),
                ("trailing_stop", self.trailing_stop),
            )
            if spec is not None
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> AttachedExits:
        data = data or {}
        return cls(**{name: ExitSpec.from_json(value) for name, value in data.items() if name in _EXIT_NAMES and value})


_EXIT_NAMES = ("stop_loss", "take_profit", "trailing_stop")


class ExitResolutionError(PermanentError, ValueError):
    """Attached exits that cannot be turned into prices (e.g. ATR unknown, stop on the wrong side)."""


def resolve_exit_levels(
    position_side: OrderSide, entry_price: Decimal, exits: AttachedExits, *, atr: Decimal | None = None
) -> ExitLevels[Decimal]:
    """Turn attached exits into price levels for a position entered at ``entry_price``.

    A long position (``BUY``) has its stop below and its target above the entry; a short the
    reverse. Percent values are percent of the entry price (``2`` = 2 %). ATR multiples need
    ``atr``. The trailing stop becomes a distance and its first level (entry − distance for a long).
    """
    sign = Decimal(position_side.sign)

    def distance(spec: ExitSpec, name: str) -> Decimal:
        if spec.kind is ExitKind.PERCENT:
            return entry_price * spec.value / Decimal(100)
        if spec.kind is ExitKind.ATR:
            if atr is None or atr <= 0:
                raise ExitResolutionError(f"{name}: an ATR multiple needs the ATR, which is not known")
            return atr * spec.value
        raise AssertionError("price specs are not distances")

    stop_loss = take_profit = trailing_distance = trailing_stop = None
    if exits.stop_loss is not None:
        spec = exits.stop_loss
        stop_loss = spec.value if spec.kind is ExitKind.PRICE else entry_price - sign * distance(spec, "stop-loss")
        if (stop_loss - entry_price) * sign >= 0:
            raise ExitResolutionError(f"stop-loss {stop_loss} is not on the losing side of the entry {entry_price}")
    if exits.take_profit is not None:
        spec = exits.take_profit
        take_profit = spec.value if spec.kind is ExitKind.PRICE else entry_price + sign * distance(spec, "take-profit")
        if (take_profit - entry_price) * sign <= 0:
            raise ExitResolutionError(
                f"take-profit {take_profit} is not on the winning side of the entry {entry_price}"
            )
    if exits.trailing_stop is not None:
        spec = exits.trailing_stop
        trailing_distance = spec.value if spec.kind is ExitKind.PRICE else distance(spec, "trailing stop")
        if trailing_distance <= 0:
            raise ExitResolutionError("trailing stop distance must be positive")
        trailing_stop = entry_price - sign * trailing_distance
    for value in (stop_loss, take_profit, trailing_stop):
        if value is not None and value <= 0:
            raise ExitResolutionError(f"exit level {value} is not a positive price")
    return ExitLevels(stop_loss, take_profit, trailing_distance, trailing_stop)


class OrderValidationError(PermanentError, ValueError):
    """A ticket that cannot become a valid order; the message says why."""


@dataclass(frozen=True)
class OrderRequest:
    """An order as entered on the ticket, the CLI or by a strategy (values not yet validated)."""

    symbol: str
    side: OrderSide
    order_type: OrderType = OrderType.MARKET
    quantity: Decimal | None = None
    amount_eur: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    exits: AttachedExits = field(default_factory=AttachedExits)
    live: bool = False
    live_confirmed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "side": self.side.value,
            "order_type": self.order_type.value,
            "quantity": None if self.quantity is None else str(self.quantity),
            "amount_eur": None if self.amount_eur is None else str(self.amount_eur),
            "limit_price": None if self.limit_price is None else str(self.limit_price),
            "stop_price": None if self.stop_price is None else str(self.stop_price),
            "time_in_force": self.time_in_force.value,
            "exits": self.exits.to_json(),
            "live": self.live,
        }


def to_decimal(value: Any, name: str) -> Decimal | None:
    """Parse a number from the ticket; None for empty; raise ``OrderValidationError`` if it is not finite."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise OrderValidationError(f"{name} is not a finite number ({value})")
        value = repr(value)
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation as error:
        raise OrderValidationError(f"{name} is not a number: {value!r}") from error
    if not number.is_finite():
        raise OrderValidationError(f"{name} is not a finite number ({value})")
    return number


def validate_request(request: OrderRequest) -> None:
    """Raise ``OrderValidationError`` naming the first problem of a ticket (instrument checked elsewhere)."""
    quantity = to_decimal(request.quantity, "quantity")
    amount = to_decimal(request.amount_eur, "EUR amount")
    limit_price = to_decimal(request.limit_price, "limit price")
    stop_price = to_decimal(request.stop_price, "stop price")
    if quantity is None and amount is None:
        raise OrderValidationError("give a quantity or an EUR amount")
    if quantity is not None and amount is not None:
        raise OrderValidationError("give a quantity or an EUR amount, not both")
    if quantity is not None and quantity <= 0:
        raise OrderValidationError(f"quantity must be positive, got {quantity}")
    if amount is not None and amount <= 0:
        raise OrderValidationError(f"EUR amount must be positive, got {amount}")
    if request.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        if limit_price is None:
            raise OrderValidationError(f"a {request.order_type.value.replace('_', '-')} order needs a limit price")
        if limit_price <= 0:
            raise OrderValidationError(f"limit price must be positive, got {limit_price}")
    if request.order_type in (OrderType.STOP_LIMIT, OrderType.STOP_MARKET):
        if stop_price is None:
            raise OrderValidationError(f"a {request.order_type.value.replace('_', '-')} order needs a stop price")
        if stop_price <= 0:
            raise OrderValidationError(f"stop price must be positive, got {stop_price}")
    if request.order_type is OrderType.MARKET and request.time_in_force is TimeInForce.GTC:
        pass  # a market order fills at the next price; GTC is accepted and means "until it fills"
    for name in _EXIT_NAMES:
        spec = getattr(request.exits, name)
        if spec is not None:
            value = to_decimal(spec.value, name.replace("_", " "))
            if value is None or value <= 0:
                raise OrderValidationError(f"{name.replace('_', ' ')} must be positive")
    if request.exits is not None and not request.exits.is_empty() and request.side is OrderSide.SELL:
        raise OrderValidationError("attached exits protect a long entry: attach them to buy orders")
    if request.live and not request.live_confirmed:
        raise OrderValidationError("a live order needs explicit confirmation")
