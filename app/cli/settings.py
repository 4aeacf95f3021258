"""``konsens settings [--json]``: every setting with its environment name, TOML key and default."""

from __future__ import annotations

import typer

from app.cli._common import echo_json


def register(cli: typer.Typer) -> None:
    @cli.command("settings")
    def settings(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """List every setting: section, KONSENS_* variable, TOML key, default, meaning."""
        from dataclasses import asdict

        from core.config import settings_reference

        rows = settings_reference()
        if as_json:
            echo_json([asdict(row) for row in rows])
            return
        width = max(len(row.env_name) for row in rows)
        section = None
        for row in rows:
            if row.section != section:
                section = row.section
                typer.echo(f"\n[{section}]")
            default = f" = {row.default}" if row.default else ""
            meaning = f"  {row.description}" if row.description else ""
            typer.echo(f"  {row.env_name.ljust(width)}  {row.toml_key}{default}{meaning}")
