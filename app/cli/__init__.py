"""The ``konsens`` command line: one entry for everything a user does outside the browser.

Each module in this package defines ``register(app: typer.Typer)``. They are found without being
imported (``app/cli/lazy.py`` reads their source): ``konsens --help`` imports none of them, and a
command imports only the modules that declare it, so an area adds its commands without editing
this file and without slowing down the others.
"""

from __future__ import annotations

import typer

from app.cli.lazy import LazyGroup

cli = typer.Typer(
    name="konsens",
    cls=LazyGroup,
    help="Konsens: AI trading analyst workstation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@cli.callback()
def _root() -> None:
    """Konsens: AI trading analyst workstation."""


def main() -> None:
    """Run the command line."""
    cli()


if __name__ == "__main__":
    main()
