"""Declarative base of all Konsens tables; the column types live in :mod:`core.db.types`.

- ``UTCDateTime``: stored as ``timestamptz`` on PostgreSQL and as naive UTC text on SQLite;
  always returned as an aware UTC ``datetime``; a naive value on the way in is refused.
- ``Money`` / ``Quantity``: ``Numeric`` columns that hold and return ``Decimal``.
"""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from core.db.types import (
    NAMING_CONVENTION,
    SQLITE_DATETIME_FORMAT,
    Money,
    Quantity,
    UTCDateTime,
)

__all__ = ["NAMING_CONVENTION", "SQLITE_DATETIME_FORMAT", "Base", "Money", "Quantity", "UTCDateTime"]


class Base(DeclarativeBase):
    """The one declarative base of all Konsens tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
