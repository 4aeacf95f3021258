"""Helpers shared by the CLI command modules: start-up, the database, clean failure messages."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import typer

from core.errors import PermanentError

if TYPE_CHECKING:
    from core.db.engine import Database


class CliError(PermanentError):
    """A failure to report in one line with a non-zero exit, without a traceback."""


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code``."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def open_database(*, migrate: bool = True, metrics: bool = True) -> Database:
    """Configure logging, open the configured database and bring its schema up to date.

    ``metrics=False``: a short command that exports no metrics skips the Prometheus statement
    timing (and the import of ``prometheus_client``).
    """
    from core.config import get_settings
    from core.db.engine import get_database
    from core.db.migrate import upgrade_database
    from core.logging_setup import configure_logging
    from core.observability.tracing import configure_tracing

    settings = get_settings()
    configure_logging(settings.log_level.value)
    configure_tracing("cli")
    database = get_database(instrument=metrics)
    if migrate:
        try:
            upgrade_database(database)
        except Exception as error:
            fail(f"cannot prepare the database {settings.sanitised()['database_url']}: {error}".splitlines()[0])
    return database


@contextmanager
def clean_errors(*expected: type[BaseException]) -> Iterator[None]:
    """Turn expected exceptions (and ``CliError``) into one clear line and exit code 1."""
    handled: tuple[type[BaseException], ...] = (CliError, *expected)
    try:
        yield
    except handled as error:
        fail(str(error) or type(error).__name__)


def echo_json(data: object, *, indent: int | None = 2) -> None:
    """Print ``data`` as JSON to stdout, indented unless ``indent=None`` (one line, by the C encoder: 4× faster)."""
    import json

    sys.stdout.write(json.dumps(data, indent=indent, default=str) + "\n")


# Sub-command groups shared by several areas: each area adds its commands to these objects
# (e.g. ``@import_group.command("candles")``); ``app/cli/__init__.py`` mounts them once.
import_group = typer.Typer(help="Import data files (candles, Bitpanda, Koinly...).", no_args_is_help=True)
SHARED_GROUPS: dict[str, typer.Typer] = {"import": import_group}
