"""An instrument's order rules: tick size, lot size, minimum quantity, minimum order value.

For a venue the rules come from ccxt's market structure (``precision.price`` / ``precision.amount``
in ccxt's TICK_SIZE mode, or a number of decimals in DECIMAL_PLACES mode; ``limits.amount.min``;
``limits.cost.min``) and are stored on the instrument row (``rules_source`` says where from).
Without venue data the defaults apply: crypto (and the demo market) trades in steps of 1e-8 with
no tick and no minimum; stocks and ETFs (fractional, as Bitpanda sells them) trade in steps of
1e-8 on a tick of 0.01 with a minimum order of 1.00 in the quote currency.

:func:`check_order` rounds an order's quantity down to the lot and refuses, naming the rule and
where it comes from, an order whose price is off the tick or whose size is below a minimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from core.errors import PermanentError
from core.market.enums import AssetClass
from core.timeutil import utc_now
from core.values import QUANTITY_STEP, on_step, round_quantity

if TYPE_CHECKING:  # no ORM import at run time: the CLI's read models use rules_from without it
    from core.market.models import Instrument

DEFAULT_SOURCE = "default"
# ccxt's precision modes (ccxt.base.decimal_to_precision)
CCXT_DECIMAL_PLACES = 2
CCXT_SIGNIFICANT_DIGITS = 3
CCXT_TICK_SIZE = 4


class RuleViolation(PermanentError):
    """An order that breaks one of the instrument's rules; ``rule`` names it (``venue_min_notional``...)."""

    def __init__(self, rule: str, reason: str):
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason


@dataclass(frozen=True)
class TradingRules:
    """What an order must respect to be accepted (None: no such rule)."""

    lot_size: Decimal = QUANTITY_STEP
    tick_size: Decimal | None = None
    min_quantity: Decimal | None = None
    min_notional: Decimal | None = None
    source: str = DEFAULT_SOURCE

    def describe(self) -> str:
        parts = [f"lot {self.lot_size}"]
        if self.tick_size is not None:
            parts.append(f"tick {self.tick_size}")
        if self.min_quantity is not None:
            parts.append(f"min quantity {self.min_quantity}")
        if self.min_notional is not None:
            parts.append(f"min value {self.min_notional}")
        return f"{', '.join(parts)} ({self.source})"


def default_rules(asset_class: AssetClass) -> TradingRules:
    """Return the rules for an instrument without venue data (see the module docstring)."""
    if asset_class in (AssetClass.STOCK, AssetClass.ETF):
        return TradingRules(QUANTITY_STEP, Decimal("0.01"), None, Decimal("1"), DEFAULT_SOURCE)
    return TradingRules(QUANTITY_STEP, None, None, None, DEFAULT_SOURCE)


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() and number > 0 else None


def _increment(value: Any, precision_mode: int) -> Decimal | None:
    number = _number(value)
    if number is None:
        return None
    if precision_mode == CCXT_TICK_SIZE:
        return number
    if precision_mode == CCXT_DECIMAL_PLACES and number == number.to_integral_value():
        return Decimal(1).scaleb(-int(number))
    return None  # significant digits: no fixed increment


def rules_from_ccxt_market(market: dict[str, Any], *, precision_mode: int, source: str) -> TradingRules:
    """Build the rules from one ccxt market (``exchange.markets[symbol]``)."""
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    lot = _increment(precision.get("amount"), precision_mode) or QUANTITY_STEP
    return TradingRules(
        lot_size=lot,
        tick_size=_increment(precision.get("price"), precision_mode),
        min_quantity=_number((limits.get("amount") or {}).get("min")),
        min_notional=_number((limits.get("cost") or {}).get("min")),
        source=source,
    )


def rules_for(instrument: Instrument) -> TradingRules:
    """Return the rules stored on the instrument, the defaults for what is not stored."""
    return rules_from(
        instrument.asset_class,
        lot_size=instrument.lot_size,
        tick_size=instrument.tick_size,
        min_quantity=instrument.min_quantity,
        min_notional=instrument.min_notional,
        rules_source=instrument.rules_source,
    )


def rules_from(
    asset_class: AssetClass,
    *,
    lot_size: Decimal | None,
    tick_size: Decimal | None,
    min_quantity: Decimal | None,
    min_notional: Decimal | None,
    rules_source: str | None,
) -> TradingRules:
    """:func:`rules_for` from an instrument row's columns (a Core read, without the ORM object)."""
    defaults = default_rules(asset_class)
    if rules_source is None:
        return defaults
    return TradingRules(
        lot_size=lot_size or defaults.lot_size,
        tick_size=tick_size,
        min_quantity=min_quantity,
        min_notional=min_notional,
        source=rules_source,
    )


def store_rules(instrument: Instrument, rules: TradingRules) -> bool:
    """Write ``rules`` onto the instrument row; return True if anything changed."""
    current = (
        instrument.lot_size,
        instrument.tick_size,
        instrument.min_quantity,
        instrument.min_notional,
        instrument.rules_source,
    )
    wanted = (rules.lot_size, rules.tick_size, rules.min_quantity, rules.min_notional, rules.source)
    if current == wanted:
        return False
    instrument.lot_size, instrument.tick_size, instrument.min_quantity, instrument.min_notional = wanted[:4]
    instrument.rules_source = rules.source
    instrument.rules_updated_at = utc_now()
    return True


def check_order(
    rules: TradingRules,
    *,
    symbol: str,
    quote: str,
    quantity: Decimal,
    prices: dict[str, Decimal | None],
    reference_price: Decimal | None,
) -> Decimal:
    """Return ``quantity`` rounded down to the lot; raise ``RuleViolation`` naming the broken rule.

    ``prices`` are the order's own prices by name (``limit price``, ``stop price``): each must lie
    on the tick. ``reference_price`` (the limit, or the latest price of a market order) values the
    order for the minimum order value; without it that minimum cannot be checked here.
    """
    where = f"{symbol} ({rules.source})"
    for name, price in prices.items():
        if price is not None and rules.tick_size is not None and not on_step(price, rules.tick_size):
            raise RuleViolation(
                "venue_tick_size", f"{name} {price} is not on the tick of {rules.tick_size} {quote} for {where}"
            )
    rounded = round_quantity(quantity, rules.lot_size)
    if rounded <= 0:
        raise RuleViolation(
            "venue_lot_size", f"quantity {quantity} is less than one lot of {rules.lot_size} for {where}"
        )
    if rules.min_quantity is not None and rounded < rules.min_quantity:
        raise RuleViolation(
            "venue_min_quantity", f"quantity {rounded} is below the minimum of {rules.min_quantity} for {where}"
        )
    if rules.min_notional is not None and reference_price is not None:
        value = rounded * reference_price
        if value < rules.min_notional:
            raise RuleViolation(
                "venue_min_notional",
                f"order value {value:.2f} {quote} is below the minimum of {rules.min_notional} {quote} for {where}",
            )
    return rounded
