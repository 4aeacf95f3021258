"""Bulk idempotent writes: insert many rows at once; on a key conflict update or skip.

Never row by row: rows go to the server in batches of one statement each. The dialect's native
``ON CONFLICT`` clause (SQLite 3.24+, PostgreSQL) makes a repeated write store nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

DEFAULT_BATCH_SIZE = 5_000


def bulk_upsert(
    bind: Session | Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict_columns: Sequence[str],
    update_columns: Iterable[str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> int:
    """Insert ``rows`` into ``table``; on a conflict on ``conflict_columns`` update ``update_columns``.

    With ``update_columns`` empty or None, conflicting rows are skipped (insert-or-ignore).
    Return the number of rows sent. Runs inside the caller's transaction.
    """
    if not rows:
        return 0
    connection = bind.connection() if isinstance(bind, Session) else bind
    dialect = connection.dialect.name
    statement: sqlite.Insert | postgresql.Insert
    if dialect == "sqlite":
        statement = sqlite.insert(table)
    elif dialect == "postgresql":
        statement = postgresql.insert(table)
    else:
        raise NotImplementedError(f"bulk upsert is not implemented for {dialect}")
    to_update = list(update_columns or [])
    if to_update:
        final = statement.on_conflict_do_update(
            index_elements=list(conflict_columns),
            set_={name: statement.excluded[name] for name in to_update},
        )
    else:
        final = statement.on_conflict_do_nothing(index_elements=list(conflict_columns))
    for start in range(0, len(rows), batch_size):
        connection.execute(final, list(rows[start : start + batch_size]))
    return len(rows)
