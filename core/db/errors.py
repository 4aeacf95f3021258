"""Database error policy: which failures are transient and worth a retry."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, OperationalError


def is_transient_db_error(error: BaseException) -> bool:
    """Return True for errors a retry can cure: lost connections, locks, serialization failures."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, OperationalError):
        message = str(error.orig).lower() if error.orig is not None else str(error).lower()
        transient_markers = (
            "database is locked",
            "could not connect",
            "connection refused",
            "server closed the connection",
            "terminating connection",
            "connection reset",
            "timeout",
            "could not serialize",
            "deadlock detected",
        )
        return any(marker in message for marker in transient_markers)
    return False
