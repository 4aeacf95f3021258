"""A process-wide "please stop" flag that long worker passes check between units of work.

The worker runtime sets it on SIGTERM/SIGINT. A pass that loops over many sources or
instruments checks ``shutdown_requested()`` between them, and waits through
``interruptible_sleep`` (which returns early once a stop is requested), so a stop is never held
up by a retry backoff or a long pass.
"""

from __future__ import annotations

import threading

from core.system.waiting import waiting

_shutdown = threading.Event()


def request_shutdown() -> None:
    """Ask every long-running pass in this process to finish early."""
    _shutdown.set()


def shutdown_requested() -> bool:
    """Return True once a stop has been requested."""
    return _shutdown.is_set()


def interruptible_sleep(seconds: float) -> None:
    """Sleep ``seconds``, or less if a stop is requested meanwhile (counted as waiting: :mod:`core.system.waiting`)."""
    if seconds > 0:
        with waiting():
            _shutdown.wait(seconds)
