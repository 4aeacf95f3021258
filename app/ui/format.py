"""Display formatting: EUR amounts, percentages, Vienna time."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from core.timeutil import to_vienna
from core.values import MONEY_ROUNDING


def eur(amount: Decimal | float | None, *, places: int = 2, signed: bool = False) -> str:
    """Format an amount as ``€ 1,234.56`` (``+``/``-`` with ``signed``); ``–`` for None."""
    if amount is None:
        return "–"
    value = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
    if value.is_finite():  # the one money rule: half-up (core.values), not format()'s half-even
        value = value.quantize(Decimal(1).scaleb(-places), rounding=MONEY_ROUNDING)
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


def duration(value: timedelta | None) -> str:
    """Format an age or duration compactly: ``45 s``, ``12 min``, ``3 h 5 min``, ``4 d 2 h``."""
    if value is None:
        return "–"
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds} s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{sign}{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{sign}{hours} h {minutes} min" if minutes else f"{sign}{hours} h"
    days, hours = divmod(hours, 24)
    return f"{sign}{days} d {hours} h" if hours else f"{sign}{days} d"


def byte_size(value: int | None) -> str:
    """Format a size in bytes as ``812 KB``, ``4.3 MB``, ``1.20 GB``."""
    if value is None:
        return "–"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit in ("B", "KB") else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.2f} TB"  # pragma: no cover


def quantity(value: Decimal | float | None, *, places: int = 8) -> str:
    """Format an asset quantity without trailing zeros (``0.1184``, ``12``)."""
    if value is None:
        return "–"
    text = f"{Decimal(str(value)):,.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
