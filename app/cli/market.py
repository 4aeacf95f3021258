"""Market-data commands: ``import candles``, ``backfill``, ``gaps`` and ``instruments list|add|update|remove``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session

from app.cli._common import clean_errors, echo_json, fail, import_group, open_database
from core.demo.state import demo_walk_epoch
from core.market.collection import backfill, gap_reports
from core.market.csv_import import DEFAULT_IMPORT_SOURCE, CsvFormatError, import_candle_csv
from core.market.instruments import (
    InstrumentError,
    add_instrument,
    get_instrument,
    instrument_rows,
    remove_instrument,
    update_instrument,
)
from core.market.models import AssetClass
from core.market.settings import MarketSettings
from core.market.sources.base import MarketDataError
from core.market.sources.registry import load_credentials, normalise_source_name, open_market_data
from core.market.store import StoreResult
from core.market.timeframes import UnknownTimeframeError, timeframe_seconds
from core.timeutil import parse_utc

EXPECTED_ERRORS = (MarketDataError, InstrumentError, CsvFormatError, UnknownTimeframeError)

instruments_app = typer.Typer(help="Tracked instruments and their data sources.", no_args_is_help=True)


def _parse_date(value: str, option: str) -> datetime:
    try:
        return parse_utc(value)
    except ValueError:
        fail(f"{option}: cannot read {value!r} as a date (use e.g. 2024-01-31 or 2024-01-31T12:00Z)")


def _asset_class(value: str | None) -> AssetClass | None:
    if value is None:
        return None
    try:
        return AssetClass(value.lower())
    except ValueError:
        fail(f"unknown asset class {value!r}; use one of {', '.join(member.value for member in AssetClass)}")


def _summary(result: StoreResult) -> str:
    return (
        f"{result.inserted} new, {result.updated} updated, {result.unchanged} unchanged, "
        f"{result.quarantined} quarantined"
    )


def register(cli: typer.Typer) -> None:
    @import_group.command("candles")
    def import_candles(
        file: Path = typer.Argument(
            ..., help="CSV file: time column (timestamp/date/Date), open, high, low, close, volume."
        ),
        symbol: str = typer.Option(..., "--symbol", help="Instrument symbol, e.g. BTC/EUR or AAPL."),
        timeframe: str = typer.Option(
            ..., "--timeframe", help="Candle timeframe of the file: 1m 5m 15m 30m 1h 4h 1d 1w."
        ),
        source: str = typer.Option(DEFAULT_IMPORT_SOURCE, "--source", help="Source name stored with the candles."),
        create: bool = typer.Option(False, "--create", help="Create the instrument if it is unknown (untracked)."),
        asset_class: str | None = typer.Option(
            None, "--asset-class", help="With --create: crypto, stock, etf... (default: inferred)."
        ),
        delimiter: str | None = typer.Option(
            None, "--delimiter", help="Field delimiter: ',', ';' or 'tab' (default: detected from the header)."
        ),
        decimal: str | None = typer.Option(
            None, "--decimal", help="Decimal mark: '.' or ',' (default: detected; ',' for e.g. 1.234,56)."
        ),
    ) -> None:
        """Import OHLCV candles from a CSV file (one transaction; a re-import stores nothing twice)."""
        with clean_errors(*EXPECTED_ERRORS):
            timeframe_seconds(timeframe)
            database = open_database()
            report = import_candle_csv(
                database,
                file,
                symbol=symbol,
                timeframe=timeframe,
                source=source,
                create=create,
                asset_class=_asset_class(asset_class),
                delimiter=delimiter,
                decimal=decimal,
            )
        created = " (instrument created, untracked)" if report.created_instrument else ""
        span = f"{report.first:%Y-%m-%d %H:%M} → {report.last:%Y-%m-%d %H:%M} UTC" if report.first is not None else ""
        typer.echo(
            f"Imported {report.rows} rows of {report.symbol} {report.timeframe} from {file.name} as {report.source}"
            f"{created}: {_summary(report.result)}. {span}"
        )

    @cli.command("backfill")
    def backfill_command(
        symbol: str = typer.Argument(..., help="Instrument symbol, e.g. BTC/EUR."),
        timeframe: str = typer.Option(..., "--timeframe", help="Candle timeframe, e.g. 1h or 1d."),
        since: str = typer.Option(..., "--since", help="Start date (UTC), e.g. 2024-01-01."),
        until: str | None = typer.Option(None, "--until", help="End date (UTC, exclusive); default: now."),
        source: str | None = typer.Option(
            None,
            "--source",
            help="ccxt:onetrading (or any ccxt:<exchange>), coingecko, yahoo or demo; default: the instrument's.",
        ),
    ) -> None:
        """Fetch historical candles for an instrument from a source, with a progress bar."""
        since_time = _parse_date(since, "--since")
        until_time = _parse_date(until, "--until") if until else None
        settings = MarketSettings()
        with clean_errors(*EXPECTED_ERRORS):
            timeframe_seconds(timeframe)
            database = open_database()
            instrument = database.run(lambda session: get_instrument(session, symbol))
            source_name = normalise_source_name(source or instrument.default_source, settings)
            credentials = database.run(lambda session: load_credentials(session, source_name))
            demo_epoch = database.run(demo_walk_epoch) if source_name == "demo" else None
            adapter = open_market_data(source_name, credentials=credentials, settings=settings, demo_epoch=demo_epoch)
            console = Console(stderr=True)
            with Progress(
                TextColumn(f"{instrument.symbol} {timeframe} from {source_name}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%  {task.fields[stored]} stored"),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            ) as progress:
                task = progress.add_task("backfill", total=None, stored=0)
                counted = {"stored": 0}

                def advance(reached: datetime, end: datetime, page: StoreResult) -> None:
                    counted["stored"] += page.inserted + page.updated
                    total = (end - since_time).total_seconds()
                    done = (reached - since_time).total_seconds()
                    progress.update(task, total=max(total, 1.0), completed=min(done, total), stored=counted["stored"])

                try:
                    report = backfill(
                        database, instrument, adapter, timeframe, since_time, until_time, progress=advance
                    )
                finally:
                    adapter.close()
        if report.note:
            typer.echo(f"note: {report.note}", err=True)
        typer.echo(
            f"Backfilled {instrument.symbol} {timeframe} from {source_name} in {report.requests} request(s): "
            f"{_summary(report.result)}."
        )

    @cli.command("gaps")
    def gaps_command(
        symbol: str | None = typer.Argument(None, help="Only this instrument."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Report missing candles per instrument, source and timeframe (24/7 for crypto, sessions for stocks)."""
        database = open_database()
        reports = database.run(gap_reports)
        if symbol:
            reports = [report for report in reports if report.symbol == symbol.upper()]
        if as_json:
            echo_json(
                [
                    {
                        "symbol": r.symbol,
                        "source": r.source,
                        "timeframe": r.timeframe,
                        "candles": r.candles,
                        "missing": r.missing,
                        "gaps": [[g.first_missing, g.last_missing, g.missing] for g in r.gaps],
                    }
                    for r in reports
                ]
            )
            return
        table = Table("symbol", "source", "timeframe", "candles", "missing", "largest gap")
        for report in reports:
            largest = max(report.gaps, key=lambda gap: gap.missing, default=None)
            described = f"{largest.missing} from {largest.first_missing:%Y-%m-%d %H:%M}" if largest else "-"
            table.add_row(
                report.symbol, report.source, report.timeframe, str(report.candles), str(report.missing), described
            )
        Console().print(table)

    @instruments_app.command("list")
    def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """List instruments with their identifiers and default source."""
        database = open_database()
        rows = database.run(instrument_rows)
        if as_json:
            echo_json([row.__dict__ for row in rows])
            return
        table = Table(
            "symbol", "class", "tracked", "default source", "exchange symbol", "coingecko id", "yahoo", "demo"
        )
        for row in rows:
            table.add_row(
                row.symbol,
                row.asset_class,
                "yes" if row.tracked else "no",
                row.default_source,
                row.exchange_symbol or "",
                row.coingecko_id or "",
                row.yahoo_symbol or "",
                "yes" if row.is_demo else "",
            )
        Console().print(table)

    @instruments_app.command("add")
    def add_command(
        symbol: str = typer.Argument(..., help="BASE/QUOTE for crypto (BTC/EUR) or a ticker (AAPL)."),
        asset_class: str | None = typer.Option(None, "--asset-class", help="crypto, stock, etf...; default: inferred."),
        quote: str | None = typer.Option(None, "--quote", help="Quote currency of a ticker (default EUR)."),
        name: str | None = typer.Option(None, "--name"),
        exchange_symbol: str | None = typer.Option(None, "--exchange-symbol", help="Symbol at the ccxt exchange."),
        coingecko_id: str | None = typer.Option(None, "--coingecko-id", help="e.g. bitcoin."),
        yahoo_symbol: str | None = typer.Option(None, "--yahoo-symbol", help="e.g. AAPL or SAP.DE."),
        source: str | None = typer.Option(
            None, "--source", help="Default source: ccxt:<exchange>, coingecko, yahoo, demo."
        ),
        untracked: bool = typer.Option(False, "--untracked", help="Add without tracking it."),
    ) -> None:
        """Add an instrument (tracked: the market worker collects it)."""
        with clean_errors(*EXPECTED_ERRORS):
            database = open_database()

            def work(session: Session) -> tuple[str, str]:
                instrument = add_instrument(
                    session,
                    symbol,
                    asset_class=_asset_class(asset_class),
                    quote=quote,
                    name=name,
                    exchange_symbol=exchange_symbol,
                    coingecko_id=coingecko_id,
                    yahoo_symbol=yahoo_symbol,
                    default_source=source,
                    tracked=not untracked,
                )
                return instrument.symbol, instrument.default_source

            added, default_source = database.run(work)
        typer.echo(f"Added {added} (source {default_source}{', untracked' if untracked else ''}).")

    @instruments_app.command("update")
    def update_command(
        symbol: str = typer.Argument(...),
        source: str | None = typer.Option(None, "--source"),
        exchange_symbol: str | None = typer.Option(None, "--exchange-symbol"),
        coingecko_id: str | None = typer.Option(None, "--coingecko-id"),
        yahoo_symbol: str | None = typer.Option(None, "--yahoo-symbol"),
        name: str | None = typer.Option(None, "--name"),
        track: bool | None = typer.Option(None, "--track/--untrack", help="Start or stop collecting it."),
    ) -> None:
        """Change an instrument's source, identifiers or tracking."""
        with clean_errors(*EXPECTED_ERRORS):
            database = open_database()
            database.run(
                lambda session: update_instrument(
                    session,
                    symbol,
                    default_source=source,
                    exchange_symbol=exchange_symbol,
                    coingecko_id=coingecko_id,
                    yahoo_symbol=yahoo_symbol,
                    name=name,
                    tracked=track,
                )
            )
        typer.echo(f"Updated {symbol.upper()}.")

    @instruments_app.command("remove")
    def remove_command(
        symbol: str = typer.Argument(...),
        delete: bool = typer.Option(
            False, "--delete", help="Delete it with its candles and quotes (default: only untrack)."
        ),
    ) -> None:
        """Stop tracking an instrument (its data stays), or delete it with --delete."""
        with clean_errors(*EXPECTED_ERRORS):
            database = open_database()
            outcome = database.run(lambda session: remove_instrument(session, symbol, delete=delete))
        typer.echo(f"{symbol.upper()} {outcome}.")

    cli.add_typer(instruments_app, name="instruments")
