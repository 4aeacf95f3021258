"""``konsens export TABLE --since --until --format csv|parquet [--output FILE]``."""

from __future__ import annotations

from pathlib import Path

import typer

from app.cli._common import fail, open_database
from core.export import ExportError, ExportFormat, export_to_path, exportable_tables
from core.timeutil import parse_utc


def register(cli: typer.Typer) -> None:
    @cli.command("export")
    def export(
        table: str = typer.Argument(..., help="Table to export (candles, quotes, news_items, sentiment_hourly, ...)."),
        since: str | None = typer.Option(None, help="Start (inclusive), ISO date or time in UTC, e.g. 2024-01-01."),
        until: str | None = typer.Option(None, help="End (exclusive), ISO date or time in UTC."),
        export_format: ExportFormat = typer.Option(ExportFormat.CSV, "--format", help="csv or parquet."),
        output: Path | None = typer.Option(None, "--output", "-o", help="File to write (default: TABLE.FORMAT)."),
    ) -> None:
        """Export a collected table and time range as CSV or Parquet."""
        if table not in exportable_tables():
            fail(f"table {table!r} cannot be exported; choose one of: {', '.join(exportable_tables())}")
        try:
            start = parse_utc(since) if since else None
            end = parse_utc(until) if until else None
        except ValueError as error:
            fail(f"invalid date: {error}")
        target = output or Path(f"{table}.{export_format.value}")
        database = open_database()
        try:
            with database.session() as session:
                result = export_to_path(session, table, target, export_format=export_format, since=start, until=end)
        except (ExportError, OSError) as error:
            fail(str(error))
        typer.echo(f"Exported {result.rows} rows of {table} to {target}")
