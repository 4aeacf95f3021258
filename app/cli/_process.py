"""What the ``konsens`` process itself knows about its run, shared by :func:`app.cli.main` and the commands.

Apart from :mod:`app.cli` so that a command module can ask without importing the CLI package
(which imports the command modules lazily itself: no import cycle).
"""

from __future__ import annotations

_skip_teardown = False
_running_as_main = False


def running_as_main() -> bool:
    """True in the ``konsens`` process itself (:func:`main`), False under ``CliRunner`` in tests."""
    return _running_as_main


def skip_teardown() -> None:
    """Let :func:`main` end the process without the interpreter's teardown once this command returns.

    For a command that leaves nothing to close or flush (no database, no log handlers, no threads):
    freeing a big run's arrays and unloading pandas, numba and pyarrow module by module costs the
    user a tenth of a second and frees nothing that the end of the process would not. stdout and
    stderr are flushed first. Only :func:`main` (the real process) acts on it; ``CliRunner`` does not.
    """
    global _skip_teardown
    _skip_teardown = True


def mark_running_as_main() -> None:
    """Called by :func:`app.cli.main`: this is the real ``konsens`` process."""
    global _running_as_main
    _running_as_main = True


def teardown_skipped() -> bool:
    """True when a command asked :func:`app.cli.main` to end without the interpreter's teardown."""
    return _skip_teardown
