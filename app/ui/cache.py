"""Process-wide memo of read models per data version: a page rerun does not recompute what did not change.

``versioned(name, work, *args, tables=(...), ttl_seconds=...)`` returns ``work(session, *args)``
from the memo while ``core.db.version.tables_version`` of ``tables`` is unchanged and the entry is
younger than ``ttl_seconds`` (which bounds how stale an in-place update can leave it); otherwise
it computes, stores and returns it. The memo is shared by every session of the server process
(keyed by the database URL), holds at most ``MAX_ENTRIES`` results (least recently used go
first), and returns the stored object itself: callers must not mutate it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from app.ui.context import database
from core.db.version import tables_version

T = TypeVar("T")

MAX_ENTRIES = 128
DEFAULT_TTL_SECONDS = 60.0

_lock = threading.Lock()
_entries: OrderedDict[Hashable, tuple[float, Hashable, Any]] = OrderedDict()


def versioned(
    name: str,
    work: Callable[..., T],
    *args: Hashable,
    tables: Sequence[str],
    ttl_seconds: float = DEFAULT_TTL_SECONDS,
) -> T:
    """Return ``work(session, *args)``, memoised per data version of ``tables`` (see the module docstring)."""

    source = database()
    key = (source.url, name, args)  # one memo for every database the process opened (tests open many)

    def compute(session: Session) -> tuple[Hashable, T | None, bool]:
        version = tables_version(session, tables)
        with _lock:
            found = _entries.get(key)
            if found is not None and found[1] == version and time.monotonic() - found[0] < ttl_seconds:
                _entries.move_to_end(key)
                return version, found[2], True
        return version, work(session, *args), False

    version, value, hit = source.run(compute)
    if not hit:
        with _lock:
            _entries[key] = (time.monotonic(), version, value)
            _entries.move_to_end(key)
            while len(_entries) > MAX_ENTRIES:
                _entries.popitem(last=False)
    return value  # type: ignore[return-value]


def clear() -> None:
    """Forget every memoised result (tests; after a restore)."""
    with _lock:
        _entries.clear()
