"""``konsens --version``: the installed project's version (semantic versioning, from the release tag)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import typer


def project_version() -> str:
    """Return the installed ``konsens`` distribution's version, or the one in ``pyproject.toml`` from a source tree."""
    try:
        return version("konsens")
    except PackageNotFoundError:
        import tomllib
        from pathlib import Path

        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"konsens {project_version()}")
        raise typer.Exit()


def register(cli: typer.Typer) -> None:
    """Add the global ``--version`` option."""

    @cli.callback()
    def _options(
        show_version: bool = typer.Option(
            False,
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the Konsens version and exit.",
        ),
    ) -> None:
        """Konsens: AI trading analyst workstation."""
