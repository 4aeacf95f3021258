"""The column types every model uses (no ORM import: SQLAlchemy Core reads use them too).

- ``UTCDateTime``: stored as ``timestamptz`` on PostgreSQL and as naive UTC text on SQLite;
  always returned as an aware UTC ``datetime``; a naive value on the way in is refused.
- ``Money`` / ``Quantity``: ``Numeric`` columns that hold and return ``Decimal``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The text form SQLAlchemy's DateTime type writes on SQLite; bulk paths format values the same way.
SQLITE_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: every timestamp must be timezone-aware UTC")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class _DecimalColumn(TypeDecorator[Decimal]):
    """Exact ``NUMERIC`` on PostgreSQL; on SQLite a REAL read back by its shortest decimal form.

    SQLite has no decimal type: it keeps numbers as 64-bit floats (15 significant digits are
    exact). Reading them back through ``repr(float)`` returns the decimal that was written (for
    values of up to 15 significant digits), where SQLAlchemy's default would append binary noise
    (``0.15985263`` → ``0.159852630000000002``).
    """

    impl = Numeric(38, 18, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Numeric(asdecimal=False))
        return dialect.type_descriptor(self.impl)

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        checked = _checked_decimal(value)
        if checked is not None and dialect.name == "sqlite":
            return float(checked)
        return checked

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, float):
            return Decimal(repr(value))
        return value if isinstance(value, Decimal) else Decimal(str(value))


class Money(_DecimalColumn):
    """An amount of money: ``Numeric(28, 10)``, returned as ``Decimal``."""

    impl = Numeric(28, 10, asdecimal=True)
    cache_ok = True


class Quantity(_DecimalColumn):
    """A quantity of an asset or a price: ``Numeric(38, 18)``, returned as ``Decimal``."""

    impl = Numeric(38, 18, asdecimal=True)
    cache_ok = True


def _checked_decimal(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float):
        raise TypeError("float refused for a money/quantity column: pass a Decimal")
    decimal_value = value if isinstance(value, Decimal) else Decimal(str(value))
    if not decimal_value.is_finite():
        raise ValueError(f"non-finite amount refused: {value!r}")
    return decimal_value
