"""Value types of the domain (``Price``, ``Quantity``, ``Money``) and the one rounding policy.

Every figure that is money or an amount of an asset is a ``Decimal``; these types add the
precision that belongs to it, so a figure is rounded once, by the rule of its purpose:

- EUR (any fiat) amounts in reports, the tax report, valuation and the ledger's ``value_eur``:
  to the cent, **half-up** (kaufmännisch, as the Austrian tax forms and Bitpanda's statements
  round) — :func:`round_money` / :func:`round_eur`.
- a quantity to trade or hold: **down** to the step (never more than there is, never more than
  was asked) — :func:`round_quantity`; the finest step of every venue Konsens knows is
  :data:`QUANTITY_STEP` (``1e-8``).
- an order price must lie **on** the instrument's tick; an off-tick ticket is refused, not moved
  (:meth:`Price.on_tick`, ``core.market.trading_rules.check_order``).
- a price Konsens computes (an exit level) goes to the tick in the safe direction for the order
  (a sell stop down, a take-profit up) — :func:`round_price`.

Intermediate results (averages, fractions) keep Decimal's 28 significant digits and are rounded
only where they are shown or stored as money.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from core.errors import PermanentError

QUANTITY_STEP = Decimal("0.00000001")
"""The finest quantity step: 8 decimals (satoshi), the finest any venue Konsens trades on uses."""

CENT = Decimal("0.01")
MONEY_ROUNDING = ROUND_HALF_UP
"""EUR amounts are rounded half-up to the cent everywhere (tax, valuation, reports)."""
QUANTITY_ROUNDING = ROUND_DOWN

# Decimals of the currencies Konsens shows money in; other assets use the quantity step.
CURRENCY_DECIMALS = {"EUR": 2, "USD": 2, "CHF": 2, "GBP": 2, "TRY": 2, "JPY": 0}


class PrecisionError(PermanentError, ValueError):
    """A figure that does not fit the precision it must have (e.g. a price off the tick)."""


def _step_of(step: Decimal | None) -> Decimal:
    if step is None:
        return QUANTITY_STEP
    if not step.is_finite() or step <= 0:
        raise PrecisionError(f"a step must be a positive number, got {step}")
    return step


def round_to_step(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    """Return ``value`` rounded to a multiple of ``step`` with ``rounding`` (a ``decimal`` mode)."""
    step = _step_of(step)
    return (value / step).to_integral_value(rounding=rounding) * step


def round_money(amount: Decimal, currency: str = "EUR") -> Decimal:
    """Round a money amount to its currency's smallest unit, half-up (the one money rule)."""
    decimals = CURRENCY_DECIMALS.get(currency.upper())
    exponent = Decimal(1).scaleb(-decimals) if decimals is not None else QUANTITY_STEP
    return amount.quantize(exponent, rounding=MONEY_ROUNDING)


def round_eur(amount: Decimal) -> Decimal:
    """Round an EUR amount to the cent, half-up."""
    return amount.quantize(CENT, rounding=MONEY_ROUNDING)


def round_quantity(value: Decimal, step: Decimal | None = None) -> Decimal:
    """Round a quantity down to ``step`` (default :data:`QUANTITY_STEP`)."""
    return round_to_step(value, _step_of(step), QUANTITY_ROUNDING)


def round_price(value: Decimal, tick: Decimal | None, *, down: bool) -> Decimal:
    """Round a computed price to ``tick`` (down or up); unchanged when the instrument has no tick."""
    if tick is None:
        return value
    return round_to_step(value, tick, ROUND_FLOOR if down else ROUND_CEILING)


def on_step(value: Decimal, step: Decimal) -> bool:
    """Return True if ``value`` is a whole multiple of ``step``."""
    return (value % _step_of(step)) == 0


@dataclass(frozen=True, slots=True)
class Price:
    """A price on an instrument's tick (``tick`` None: any precision)."""

    value: Decimal
    tick: Decimal | None = None

    def __post_init__(self) -> None:
        if not self.value.is_finite() or self.value <= 0:
            raise PrecisionError(f"a price must be a positive finite number, got {self.value}")
        if self.tick is not None and not on_step(self.value, self.tick):
            raise PrecisionError(f"price {self.value} is not on the tick of {self.tick}")

    @classmethod
    def on_tick(cls, value: Decimal, tick: Decimal | None) -> Price:
        """Return the price if it lies on ``tick``; raise ``PrecisionError`` if it does not."""
        return cls(value, tick)


@dataclass(frozen=True, slots=True)
class Quantity:
    """An amount of an asset, a multiple of ``step`` (rounded down on construction by :meth:`of`)."""

    value: Decimal
    step: Decimal = QUANTITY_STEP

    def __post_init__(self) -> None:
        if not self.value.is_finite() or self.value < 0:
            raise PrecisionError(f"a quantity must be a non-negative finite number, got {self.value}")
        if not on_step(self.value, self.step):
            raise PrecisionError(f"quantity {self.value} is not a multiple of the step {self.step}")

    @classmethod
    def of(cls, value: Decimal, step: Decimal | None = None) -> Quantity:
        """Return ``value`` rounded down to ``step`` (default 1e-8)."""
        step = _step_of(step)
        return cls(round_quantity(value, step), step)


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in a currency; adding two currencies is an error, rounding follows the currency."""

    amount: Decimal
    currency: str = "EUR"

    def __post_init__(self) -> None:
        if not self.amount.is_finite():
            raise PrecisionError(f"money must be a finite number, got {self.amount}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise PrecisionError(f"cannot combine {self.currency} and {other.currency} amounts")

    def rounded(self) -> Money:
        """Return the amount rounded to the currency's smallest unit, half-up."""
        return Money(round_money(self.amount, self.currency), self.currency)

    def __str__(self) -> str:
        return f"{self.rounded().amount:,} {self.currency}"
