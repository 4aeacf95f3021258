"""Database access: typed models on one declarative base, engines, sessions, migrations."""

from core.db.base import Base, Money, Quantity, UTCDateTime
from core.db.engine import Database, get_database

__all__ = ["Base", "Database", "Money", "Quantity", "UTCDateTime", "get_database"]
