"""The ``konsens`` command line: one entry for everything a user does outside the browser.

Each module in this package defines ``register(app: typer.Typer)``. They are found without being
imported (``app/cli/lazy.py`` reads their source): ``konsens --help`` imports none of them, and a
command imports only the modules that declare it, so an area adds its commands without editing
this file and without slowing down the others.
"""

from __future__ import annotations

import os
import sys

import typer

from app.cli import _process as process
from app.cli.lazy import LazyGroup

cli = typer.Typer(
    name="konsens",
    cls=LazyGroup,
    help="Konsens: AI trading analyst workstation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from app.cli.version import project_version

        typer.echo(f"konsens {project_version()}")
        raise typer.Exit()


@cli.callback()
def _root(
    show_version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the Konsens version and exit."
    ),
) -> None:
    """Konsens: AI trading analyst workstation."""
    # Runs before every command (so before every worker, too): unknown or invalid settings stop
    # the start with one line naming the closest valid name. (Typer keeps one callback: --version
    # lives here too.)
    from core.config import ConfigurationError, check_startup

    try:
        check_startup()
    except ConfigurationError as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def main() -> None:
    """Run the command line."""
    process.mark_running_as_main()
    if sys.argv[1:2] == ["backtest"]:  # its CSV parse can start before Typer, the settings and pydantic load
        from app.cli.backtest import start_early

        start_early(sys.argv[2:])
    try:
        cli()
    except SystemExit as done:
        if not process.teardown_skipped():
            raise
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:  # e.g. a closed pipe: the normal exit reports it
            raise done from None
        os._exit(code)


if __name__ == "__main__":
    main()
