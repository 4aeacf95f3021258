"""The one exception tree of Konsens: a root and three branches that state the handling policy.

- :class:`TransientError` — worth a retry with backoff (a timeout, HTTP 429 or 5xx before any
  state changed, a lost connection on a read, a locked database).
- :class:`PermanentError` — a retry will not cure it; a human must act (a refused key, a malformed
  file, an invalid setting, an order the venue or Konsens' own checks refused).
- :class:`UncertainError` — a state-changing request may or may not have taken effect (an order
  sent and no answer): never repeat it blindly; look the outcome up (by client order id).

Every area's exception classes derive from :class:`KonsensError` through one of the branches
(an area may keep its own root, e.g. ``MarketDataError``, with leaves in the branches). Retry
loops (``core.retry``, ``workers.runtime``) decide with :func:`error_branch` / :func:`is_transient`,
never with lists of classes. Errors raised outside Konsens' code (the standard library, SQLAlchemy)
are classified here once: the database's lock and connection failures are transient, everything
else is permanent.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorBranch(StrEnum):
    TRANSIENT = "transient"  # retry with backoff
    PERMANENT = "permanent"  # needs a human
    UNCERTAIN = "uncertain"  # outcome unknown: look it up before anything else


class KonsensError(Exception):
    """The root of every Konsens error. Raise a branch (or an area class below one), not this."""

    branch: ErrorBranch = ErrorBranch.PERMANENT


class TransientError(KonsensError):
    """A failure worth retrying with backoff; nothing was changed by the failed call."""

    branch = ErrorBranch.TRANSIENT


class PermanentError(KonsensError):
    """A failure a retry will not cure; a human must act (the message says what)."""

    branch = ErrorBranch.PERMANENT


class UncertainError(KonsensError):
    """A state-changing call whose outcome is unknown; look it up before repeating it."""

    branch = ErrorBranch.UNCERTAIN


def error_branch(error: BaseException) -> ErrorBranch:
    """Return the branch of ``error``: its own for Konsens errors, else classified once here."""
    if isinstance(error, KonsensError):
        return error.branch
    from core.db.errors import is_transient_db_error

    if is_transient_db_error(error):
        return ErrorBranch.TRANSIENT
    return ErrorBranch.PERMANENT


def is_transient(error: BaseException) -> bool:
    """Return True if ``error`` is worth a plain retry with backoff."""
    return error_branch(error) is ErrorBranch.TRANSIENT


def is_uncertain(error: BaseException) -> bool:
    """Return True if ``error`` leaves the outcome of a state-changing call unknown."""
    return error_branch(error) is ErrorBranch.UNCERTAIN
