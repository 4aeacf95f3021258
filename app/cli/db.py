"""``konsens db upgrade | status``."""

from __future__ import annotations

import typer

from app.cli._common import open_database
from core.db.migrate import current_revisions, pending_revisions


def register(cli: typer.Typer) -> None:
    db = typer.Typer(help="Database schema.", no_args_is_help=True)

    @db.command("upgrade")
    def upgrade() -> None:
        """Apply all pending migrations."""
        database = open_database(migrate=True)
        typer.echo(f"Database {database.kind} is at {', '.join(current_revisions(database))}.")

    @db.command("status")
    def status() -> None:
        """Show the applied and pending migrations and the database health."""
        database = open_database(migrate=False)
        health = database.health()
        typer.echo(f"{health.kind} {health.url}: {'ok' if health.ok else 'DOWN: ' + str(health.error)}")
        if health.ok:
            typer.echo(f"applied: {', '.join(current_revisions(database)) or '(none)'}")
            typer.echo(f"pending: {', '.join(pending_revisions(database)) or '(none)'}")

    cli.add_typer(db, name="db")
