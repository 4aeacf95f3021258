"""``konsens audit verify`` and the order commands (``konsens order place | cancel | list``)."""

from __future__ import annotations

import typer

from app.cli._common import open_database
from core.audit import verify_audit_chain


def register(cli: typer.Typer) -> None:
    audit = typer.Typer(help="The append-only, hash-chained audit log.", no_args_is_help=True)

    @audit.command("verify")
    def verify() -> None:
        """Check the audit log's hash chain; name the first broken row (exit 1 if broken)."""
        database = open_database()
        with database.session() as session:
            result = verify_audit_chain(session)
        if result.ok:
            typer.echo(result.describe())
            return
        typer.secho(result.describe(), err=True, fg=typer.colors.RED)
        raise typer.Exit(1)

    cli.add_typer(audit, name="audit")
