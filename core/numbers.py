"""The one number style of every page, table, order note, report and CLI table.

- Money: ``€ 1,234.56`` — the currency's symbol (valuation, P&L and tax are always in EUR, the
  base currency), thousands grouped, the currency's decimals (:data:`core.values.CURRENCY_DECIMALS`),
  rounded half-up (the one money rule of :mod:`core.values`); ``-€ 12.30`` and ``+€ 12.30`` signed.
- Prices: at the instrument's tick (``tick=Decimal("0.01")`` → two decimals); without a known tick,
  two decimals from 1 upwards and four significant digits below (``0.00001234``).
- Quantities: at the instrument's lot step (default :data:`core.values.QUANTITY_STEP`, 8 decimals),
  rounded **down** (never more than there is), trailing zeros dropped: ``0.1184``, ``12``.
- Percentages: a fraction (``0.0123``) as ``+1.23 %`` — two decimals by default, one where asked.
- Plain figures (ratios, ATR, scores): :func:`number` with a fixed number of decimals.

``STYLE_LIMITS`` states how many decimals each style may show; ``tests/pages/test_number_style.py``
renders every page and fails on a figure that shows more.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

from core.values import CURRENCY_DECIMALS, MONEY_ROUNDING, QUANTITY_STEP

MISSING = "–"
CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CHF": "CHF", "TRY": "₺"}
SMALL_PRICE_DIGITS = 4
"""Significant digits of a price below 1 whose tick is unknown."""

STYLE_LIMITS = {"money": 2, "price_from_1000": 2, "quantity": 8, "percent": 2}
"""Most decimals each style shows (a price ≥ 1,000 never needs more than cents)."""


def _decimal(value: Decimal | float | int | str) -> Decimal | None:
    if isinstance(value, Decimal):
        number = value
    else:
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return None
    return number if number.is_finite() else None


def decimals_of(step: Decimal | None) -> int:
    """Return the decimals a step implies: ``0.01`` → 2, ``0.00000001`` → 8, ``1`` or ``5`` → 0."""
    if step is None or not step.is_finite() or step <= 0:
        return 8
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 8


def _grouped(value: Decimal, places: int) -> str:
    return f"{value:,.{places}f}"


def money(
    amount: Decimal | float | int | None, currency: str = "EUR", *, signed: bool = False, places: int | None = None
) -> str:
    """Format money as ``€ 1,234.56`` (``+€``/``-€`` with ``signed``); ``–`` for None."""
    if amount is None:
        return MISSING
    value = _decimal(amount)
    if value is None:
        return MISSING
    code = currency.upper()
    decimals = places if places is not None else CURRENCY_DECIMALS.get(code, 2)
    value = value.quantize(Decimal(1).scaleb(-decimals), rounding=MONEY_ROUNDING)
    if value == 0:
        value = abs(value)  # no "-€ 0.00"
    symbol = CURRENCY_SYMBOLS.get(code, code)
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    return f"{sign}{symbol} {_grouped(abs(value), decimals)}"


def eur(amount: Decimal | float | int | None, *, signed: bool = False, places: int = 2) -> str:
    """Format an EUR amount as ``€ 1,234.56``; ``–`` for None."""
    return money(amount, "EUR", signed=signed, places=places)


def cost(amount: Decimal | float | int | None, currency: str = "EUR") -> str:
    """Format a (provider) cost: money, but a positive amount below a cent as ``< € 0.01``."""
    value = None if amount is None else _decimal(amount)
    if value is not None and 0 < value < Decimal("0.005"):
        return f"< {CURRENCY_SYMBOLS.get(currency.upper(), currency.upper())} 0.01"
    return money(amount, currency)


def price_decimals(value: Decimal, tick: Decimal | None = None) -> int:
    """Return the decimals a price is shown with: the tick's, else 2 from 1 up, else 4 significant digits."""
    if tick is not None and tick.is_finite() and tick > 0:
        return decimals_of(tick)
    magnitude = abs(value)
    if magnitude >= 1 or magnitude == 0:
        return 2
    exponent = magnitude.adjusted()  # 0.0123 → -2
    return min(8, SMALL_PRICE_DIGITS - 1 - exponent)


def price(value: Decimal | float | int | None, *, tick: Decimal | None = None, currency: str | None = None) -> str:
    """Format a price at the instrument's tick (``86,696.30``); with ``currency`` its symbol first."""
    if value is None:
        return MISSING
    number = _decimal(value)
    if number is None:
        return MISSING
    decimals = price_decimals(number, tick)
    text = _grouped(number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP), decimals)
    if currency is None:
        return text
    symbol = CURRENCY_SYMBOLS.get(currency.upper(), currency.upper())
    return f"-{symbol} {text[1:]}" if text.startswith("-") else f"{symbol} {text}"


def quantity(value: Decimal | float | int | None, *, step: Decimal | None = None, places: int | None = None) -> str:
    """Format a quantity at its lot step (default 8 decimals), rounded down, without trailing zeros."""
    if value is None:
        return MISSING
    number = _decimal(value)
    if number is None:
        return MISSING
    decimals = places if places is not None else decimals_of(step or QUANTITY_STEP)
    text = _grouped(number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN), decimals)
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in ("-0", "") else text


def percent(fraction: Decimal | float | None, *, places: int = 2, signed: bool = True) -> str:
    """Format a fraction (0.0123) as ``+1.23 %`` (``1.23 %`` unsigned); ``–`` for None."""
    if fraction is None:
        return MISSING
    number = _decimal(fraction)
    if number is None:
        return MISSING
    value = (number * 100).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if value == 0:
        value = abs(value)
    return f"{value:+.{places}f} %" if signed else f"{value:.{places}f} %"


def number(value: Decimal | float | int | None, places: int = 2, *, signed: bool = False) -> str:
    """Format a plain figure (a ratio, an ATR, a score) with ``places`` decimals, thousands grouped."""
    if value is None:
        return MISSING
    figure = _decimal(value)
    if figure is None:
        return MISSING
    figure = figure.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{figure:+,.{places}f}" if signed else _grouped(figure, places)


def bps(fraction: Decimal | float | None) -> str:
    """Format a fraction as basis points with one decimal: ``0.0005`` → ``5.0 bp``."""
    return MISSING if fraction is None else f"{number(Decimal(str(fraction)) * 10000, 1)} bp"
