"""How long this thread has spent waiting, so a worker pass can report its work time apart from its waits.

A pass may wait: for changes (the executor's change waiter), for a client-side rate limit or a
retry backoff (both through :func:`core.system.shutdown.interruptible_sleep`). Those waits run
inside :func:`waiting`, which adds their wall time to a per-thread total; the worker runtime
reads :func:`waited_seconds` before and after a pass and records the difference apart from the
work (the System page's "Last pass" is the work time, not 30 s of waiting for orders).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_local = threading.local()


def waited_seconds() -> float:
    """Seconds this thread has spent inside :func:`waiting` so far (a running total; compare two readings)."""
    return float(getattr(_local, "seconds", 0.0))


@contextmanager
def waiting() -> Iterator[None]:
    """Count the wall time of the ``with`` body as waiting of this thread."""
    started = time.perf_counter()
    try:
        yield
    finally:
        _local.seconds = waited_seconds() + (time.perf_counter() - started)
