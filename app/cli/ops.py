"""``konsens metrics | doctor | backup | restore``: what an operator runs."""

from __future__ import annotations

import typer

from app.cli._common import open_database


def register(cli: typer.Typer) -> None:
    @cli.command("metrics")
    def metrics(
        local: bool = typer.Option(False, "--local", help="Only read the database state here; ask no process."),
        timeout: float = typer.Option(1.0, help="Seconds to wait for each process's /metrics."),
    ) -> None:
        """Print one scrape of every running Konsens process (and the database state) for a quick look."""
        from core.observability.scrape import scrape_everything

        database = open_database()
        typer.echo(scrape_everything(database, ask_processes=not local, timeout_seconds=timeout), nl=False)
