"""Database access: typed models on one declarative base, engines, sessions, migrations.

The names below are imported on first use, so that ``import core.db.types`` (or
``core.db.engine``) does not load the ORM: a CLI command reading through SQLAlchemy Core never
imports ``sqlalchemy.orm``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.db.base import Base
    from core.db.engine import Database, get_database
    from core.db.types import Money, Quantity, UTCDateTime

__all__ = ["Base", "Database", "Money", "Quantity", "UTCDateTime", "get_database"]

_HOMES = {
    "Base": "core.db.base",
    "Database": "core.db.engine",
    "get_database": "core.db.engine",
    "Money": "core.db.types",
    "Quantity": "core.db.types",
    "UTCDateTime": "core.db.types",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'core.db' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
