"""``konsens import koinly`` and ``konsens tax ...``: Koinly CSV import, the Austrian tax report, tax settings."""

from __future__ import annotations

import sys
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path

import typer

from app.cli._common import fail, import_group, open_database
from core.security.demo_guard import DemoModeError
from core.tax.koinly import KoinlyImportError, import_koinly_file


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    PDF = "pdf"
    XLSX = "xlsx"


def register(cli: typer.Typer) -> None:
    @import_group.command("koinly")
    def import_koinly(
        file: Path = typer.Argument(..., help="Koinly universal CSV file (one wallet per file)."),
        wallet: str = typer.Option(..., "--wallet", help="The wallet (ledger account) these rows belong to."),
    ) -> None:
        """Import a Koinly universal CSV into the ledger (all or nothing; a re-import changes nothing)."""
        if not file.is_file():
            fail(f"no such file: {file}")
        database = open_database()
        try:
            with database.session() as session:
                result = import_koinly_file(session, file, wallet)
        except (KoinlyImportError, DemoModeError) as error:
            fail(f"{file.name}: {error}")
        typer.echo(
            f"Imported {result.rows_inserted} new ledger rows into wallet '{result.wallet}' "
            f"({result.rows_skipped} already present, {result.rows_read} read)."
        )
        for line in result.needs_review:
            typer.echo(f"{file.name}: needs review (kept, not used in balances or tax): {line}")
        for assumption in result.assumptions:
            typer.echo(f"{file.name}: assumption used: {assumption}")

    tax = typer.Typer(help="Austrian crypto tax report and its settings.", no_args_is_help=True)
    cli.add_typer(tax, name="tax")

    @tax.command("report")
    def report(
        year: int = typer.Option(..., "--year", min=2009, max=2100, help="Calendar year of the report."),
        format: ReportFormat = typer.Option(ReportFormat.JSON, "--format", help="json, csv (detail), pdf or xlsx."),
        output: Path | None = typer.Option(None, "--output", help="File to write (json/csv default: stdout)."),
    ) -> None:
        """Compute the tax report of a year from the ledger and write it as JSON, CSV, PDF or XLSX."""
        from core.tax.engine import WarningCode
        from core.tax.export import render_report
        from core.tax.report import build_report

        database = open_database()
        with database.session() as session:
            built = build_report(session, year)
        review = [warning for warning in built.warnings if warning.code is WarningCode.NEEDS_REVIEW]
        for warning in review:  # on stderr: stdout stays the report itself
            typer.echo(f"warning: {warning.message}", err=True)
        if format is ReportFormat.JSON and output is None:
            # the text of echo_json(built.to_json()), written faster: orjson's UTF-8 bytes as they are
            content = built.to_json_bytes(newline=True)
            buffer = getattr(sys.stdout, "buffer", None)
            if buffer is None:
                sys.stdout.write(content.decode("utf-8"))
            else:
                sys.stdout.flush()
                buffer.write(content)
                buffer.flush()
            return
        content = render_report(built, format.value)
        if output is None:
            if format is ReportFormat.CSV:
                sys.stdout.write(content.decode("utf-8"))
                return
            output = Path(f"konsens-tax-{year}.{format.value}")
        try:
            output.write_bytes(content)
        except OSError as error:
            fail(f"cannot write {output}: {error.strerror or error}")
        typer.echo(
            f"Wrote {output} ({len(content)} bytes, {len(built.rows)} detail rows, {len(built.warnings)} warnings)."
        )

    @tax.command("wallet")
    def wallet(
        name: str = typer.Argument(..., help="Wallet (ledger account) name."),
        domestic: bool = typer.Option(..., "--domestic/--foreign", help="Domestic provider withholding KESt or not."),
        note: str | None = typer.Option(None, help="A note shown in the settings."),
    ) -> None:
        """Mark a wallet as held at a domestic (KESt-withholding) or foreign provider."""
        from core.tax.settings import set_wallet_domestic

        database = open_database()
        with database.session() as session:
            set_wallet_domestic(session, name, domestic=domestic, note=note)
        typer.echo(f"Wallet '{name}': {'domestic (KESt withheld)' if domestic else 'foreign / no KESt'}.")

    @tax.command("kest")
    def kest(
        year: int = typer.Option(..., "--year", min=2009, max=2100),
        wallet: str = typer.Option(..., "--wallet"),
        amount: str = typer.Option(..., "--amount", help="KESt withheld in EUR, e.g. 137.50."),
        note: str | None = typer.Option(None),
    ) -> None:
        """Enter KESt a provider withheld in a year (e.g. from its yearly tax report)."""
        from core.tax.settings import add_kest_entry

        try:
            value = Decimal(amount)
        except InvalidOperation:
            fail(f"amount '{amount}' is not a number")
        if not value.is_finite():
            fail(f"amount '{amount}' is not a finite number")
        database = open_database()
        with database.session() as session:
            add_kest_entry(session, year=year, wallet=wallet, amount_eur=value, note=note)
        typer.echo(f"KESt {value} EUR for {year} in wallet '{wallet}' recorded.")
