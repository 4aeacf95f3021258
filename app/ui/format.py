"""Display formatting: EUR amounts, percentages, Vienna time."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from core.timeutil import to_vienna


def eur(amount: Decimal | float | None, *, places: int = 2, signed: bool = False) -> str:
    """Format an amount as ``€ 1,234.56`` (``+``/``-`` with ``signed``); ``–`` for None."""
    if amount is None:
        return "–"
    value = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
    sign = "+" if signed and value > 0 else ""
    return f"{sign}€ {value:,.{places}f}".replace("€ -", "-€ ")


def pct(fraction: float | Decimal | None, *, places: int = 2, signed: bool = True) -> str:
    """Format a fraction (0.0123) as ``+1.23 %``; ``–`` for None."""
    if fraction is None:
        return "–"
    value = float(fraction) * 100
    return f"{value:+.{places}f} %" if signed else f"{value:.{places}f} %"


def vienna_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Format an aware UTC timestamp in Europe/Vienna time; ``–`` for None."""
    return "–" if value is None else to_vienna(value).strftime(fmt)
