"""Serialise critical writers: one at a time per lock name, for the rest of the current transaction.

- PostgreSQL: ``pg_advisory_xact_lock(key)`` (released at commit or rollback).
- SQLite: the database has one writer; taking the write lock up front (``BEGIN IMMEDIATE``)
  means the reads that follow see the latest committed state and nobody writes in between.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.orm import Session


def advisory_key(name: str) -> int:
    """Return a stable signed 64-bit key for the lock ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def serialise_writes(session: Session, name: str) -> None:
    """Block until this transaction is the only writer holding lock ``name`` (held until it ends)."""
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(name)})
        return
    if dialect == "sqlite":
        dbapi_connection = connection.connection.dbapi_connection
        # The sqlite3 module opens a transaction only before the first write; once one is open
        # this connection already holds the write lock.
        if dbapi_connection is not None and not dbapi_connection.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        return
    raise NotImplementedError(f"write serialisation is not implemented for {dialect}")
