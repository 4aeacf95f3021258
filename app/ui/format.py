"""Display formatting for the pages: the number style of ``core.numbers`` plus Vienna time, durations, sizes."""

from __future__ import annotations

from datetime import datetime, timedelta

from core.numbers import bps, cost, eur, money, number, percent, price, quantity
from core.timeutil import to_vienna

__all__ = [
    "bps",
    "byte_size",
    "cost",
    "duration",
    "eur",
    "money",
    "number",
    "pct",
    "price",
    "quantity",
    "vienna_time",
]

pct = percent


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
