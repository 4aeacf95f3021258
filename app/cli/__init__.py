"""The ``konsens`` command line: one entry for everything a user does outside the browser.

Each module in this package defines ``register(app: typer.Typer)``; they are found at start-up,
so an area adds its commands without editing this file.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

cli = typer.Typer(
    name="konsens",
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
def _check_configuration(
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


def _register_commands() -> None:
    for info in sorted(pkgutil.iter_modules(__path__, prefix=__name__ + "."), key=lambda i: i.name):
        if info.name.endswith(("._common", ".__main__")):
            continue
        module = importlib.import_module(info.name)
        register = getattr(module, "register", None)
        if register is not None:
            register(cli)
    from app.cli._common import SHARED_GROUPS

    for name, group in SHARED_GROUPS.items():
        if group.registered_commands or group.registered_groups:
            cli.add_typer(group, name=name)


_register_commands()


def main() -> None:
    """Run the command line."""
    cli()


if __name__ == "__main__":
    main()
