"""Start a ``konsens`` command in a child forked from this process (what ``konsens up`` does for workers).

``konsens up`` has imported what every worker imports first (the CLI, settings, SQLAlchemy's ORM,
the migrations, the worker runtime, the metrics) before it starts them; a worker forked from it
shares those pages copy-on-write instead of importing them again in a fresh interpreter
(``gc.freeze()`` before the fork keeps the collector from touching, and so copying, them). The
child is an ordinary process of its own: its pid, signals (the worker installs its handlers),
logs, environment (``extra_env``: its metrics port) and exit code are those of
``python -m app.cli worker NAME``, which is what runs in it (``cli(args)`` after the fork).

Forking is only safe from a single-threaded process: :func:`can_fork` says whether this one is
(no other thread: an OTLP span exporter runs one, numpy's BLAS pool others); otherwise ``konsens up`` starts a
fresh interpreter as before. ``konsens worker NAME`` alone and a container per worker do not
use this module at all.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

# What `konsens up` imports before it forks: what every `konsens worker NAME` imports before its
# own module (the CLI and its start-up checks, the database and migrations, the worker loop with
# its heartbeats and metrics). Heavy libraries (numpy, pandas) stay out: they start native thread
# pools at import, and only some workers need them.
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
PRELOAD_MODULES = (
    "app.cli",
    "app.cli._common",
    "app.cli.worker",
    "core.config",
    "core.db.engine",
    "core.db.migrate",
    "core.logging_setup",
    "core.observability.metrics",
    "core.observability.serve",
    "core.observability.tracing",
    "core.system.heartbeats",
    "sqlalchemy.orm",
    "workers.registry",
    "workers.runtime",
)


def preload() -> None:
    """Import :data:`PRELOAD_MODULES` (once; cheap when they are imported already)."""
    import importlib

    for name in PRELOAD_MODULES:
        importlib.import_module(name)


def can_fork() -> bool:
    """True if this process may fork a worker: a POSIX system and no other thread running (no other
    Python thread, and on Linux no native one either, such as a BLAS pool started by numpy)."""
    return hasattr(os, "fork") and threading.active_count() == 1 and os_thread_count() in (None, 1)


def os_thread_count() -> int | None:
    """The number of threads of this process as the kernel counts them (None where it cannot be read)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


class ForkedProcess:
    """The part of :class:`subprocess.Popen` that ``konsens up`` uses, for a child made by ``os.fork``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: its code is lost
                self.returncode = 255
            else:
                if pid == self.pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired([f"pid {self.pid}"], timeout or 0.0)
            time.sleep(0.02)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def fork_command(args: Sequence[str], env: Mapping[str, str], *, title: str = "") -> ForkedProcess:
    """Fork, and run ``konsens ARGS`` in the child with the environment ``env``; return the child.

    ``title`` becomes the child's process name (``/proc/PID/comm``, what ``ps -e`` and ``top``
    show; its command line stays the parent's).
    """
    if not can_fork():
        raise RuntimeError("cannot fork a worker from a process that runs other threads")
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    gc.collect()
    gc.freeze()  # what is imported now stays shared: the collector never writes to it again
    # A stop signal between the fork and the child's own handlers would reach the parent's
    # handler in the child: hold them until the child has reset its handlers.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        raise
    if pid != 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        return ForkedProcess(pid)
    code = 1
    try:
        code = _child_main(list(args), env, title, held)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
    raise AssertionError("unreachable")  # pragma: no cover


def _child_main(args: list[str], env: Mapping[str, str], title: str, mask: set[int | signal.Signals]) -> int:
    """The forked child: reset what the parent set, then run the command as ``python -m app.cli`` would."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [sys.argv[0], *args]
    if title:
        _set_process_name(title)
    # Nothing of the parent's database or settings is reused: the command opens its own. An
    # inherited pool is dropped without closing its connections (they are the parent's: closing a
    # PostgreSQL socket or the last SQLite handle here would end or checkpoint them for it too).
    from core.config import get_root_settings, get_settings
    from core.db.engine import reset_database_cache

    reset_database_cache(dispose=False)
    get_settings.cache_clear()
    get_root_settings.cache_clear()
    from app.cli import cli

    try:
        cli(args=args, prog_name="konsens")
        code: int = 0
    except SystemExit as stop:
        code = _exit_code(stop.code)
    atexit._run_exitfuncs()  # what the interpreter runs at exit (logging, exporters), as `python -m` would
    return code


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    print(value, file=sys.stderr)
    return 1


def _set_process_name(title: str) -> None:
    """Set ``/proc/self/comm`` (15 bytes at most; Linux only, nothing elsewhere)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/comm").write_bytes(title.encode()[:15])
