"""How each instrument's figures are shown: quantities at its lot step, prices at its tick.

``display_precisions(session)`` reads every instrument once (one query) so a page can format a
table of orders, fills or holdings with ``precision.quantity(...)`` / ``precision.price(...)``
(:mod:`core.numbers`), instead of printing a raw ``Decimal`` such as ``86696.2964850000``.
It reads through SQLAlchemy Core (a Core ``Connection`` or an ORM ``Session``), without the ORM
model, so ``konsens order list`` does not import ``sqlalchemy.orm``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import String, column, select, table

from core import numbers
from core.db.types import Quantity
from core.market.enums import AssetClass
from core.market.trading_rules import rules_for, rules_from

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

    from core.market.models import Instrument

# The columns of ``instruments`` the display rules need, with the types of
# :class:`core.market.models.Instrument` (``tests/core/execution/test_order_rows.py`` keeps them equal).
INSTRUMENT_RULES = table(
    "instruments",
    column("symbol", String(40)),
    column("quote", String(20)),
    column("asset_class", String(16)),
    column("tick_size", Quantity),
    column("lot_size", Quantity),
    column("min_quantity", Quantity),
    column("min_notional", Quantity),
    column("rules_source", String(60)),
)


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


def display_precisions(session: Connection | Session) -> Precisions:
    """Return the display precision of every instrument, by symbol."""
    precisions = Precisions()
    for row in session.execute(select(INSTRUMENT_RULES)):
        rules = rules_from(
            AssetClass(row.asset_class),
            lot_size=row.lot_size,
            tick_size=row.tick_size,
            min_quantity=row.min_quantity,
            min_notional=row.min_notional,
            rules_source=row.rules_source,
        )
        precisions[row.symbol] = DisplayPrecision(lot_size=rules.lot_size, tick_size=rules.tick_size, quote=row.quote)
    return precisions
