"""How each instrument's figures are shown: quantities at its lot step, prices at its tick.

``display_precisions(session)`` reads every instrument once (one query) so a page can format a
table of orders, fills or holdings with ``precision.quantity(...)`` / ``precision.price(...)``
(:mod:`core.numbers`), instead of printing a raw ``Decimal`` such as ``86696.2964850000``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import numbers
from core.market.models import Instrument
from core.market.trading_rules import rules_for


@dataclass(frozen=True)
class DisplayPrecision:
    """The steps one instrument's figures are shown at (``None`` tick: the default price style)."""

    lot_size: Decimal | None = None
    tick_size: Decimal | None = None
    quote: str = "EUR"

    def quantity(self, value: Decimal | float | None) -> str:
        return numbers.quantity(value, step=self.lot_size)

    def price(self, value: Decimal | float | None, *, symbol: bool = False) -> str:
        return numbers.price(value, tick=self.tick_size, currency=self.quote if symbol else None)


DEFAULT_PRECISION = DisplayPrecision()


def precision_of(instrument: Instrument) -> DisplayPrecision:
    """Return the display precision of one instrument (its stored rules or its class's defaults)."""
    rules = rules_for(instrument)
    return DisplayPrecision(lot_size=rules.lot_size, tick_size=rules.tick_size, quote=instrument.quote)


class Precisions(dict[str, DisplayPrecision]):
    """Display precision by symbol; an unknown symbol gets :data:`DEFAULT_PRECISION`."""

    def __missing__(self, key: str) -> DisplayPrecision:
        return DEFAULT_PRECISION


def display_precisions(session: Session) -> Precisions:
    """Return the display precision of every instrument, by symbol."""
    return Precisions({item.symbol: precision_of(item) for item in session.scalars(select(Instrument))})
