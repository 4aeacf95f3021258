"""``konsens strategy enable | disable | list``: strategies as live/paper signal sources."""

from __future__ import annotations

import typer

from app.cli._common import echo_json, fail, open_database

ACTOR = "cli"


def register(cli: typer.Typer) -> None:
    strategy = typer.Typer(
        help="Strategies as live/paper signal sources (run by the analyst worker).", no_args_is_help=True
    )

    @strategy.command("enable")
    def enable(
        name: str = typer.Argument(..., help="A built-in strategy or one of $KONSENS_HOME/strategies/."),
        symbol: str = typer.Option(..., "--symbol", help="The instrument, e.g. BTC/EUR."),
        timeframe: str = typer.Option("1h", "--timeframe", help="The candles it decides on."),
        param: list[str] = typer.Option([], "--param", help="Strategy parameter name=value (repeatable)."),
        fraction: str = typer.Option("0.25", "--fraction", help="Share of the quote cash per entry, in (0, 1]."),
        live: bool = typer.Option(
            False, "--live", help="Place live orders (needs live trading enabled) instead of paper."
        ),
        yes: bool = typer.Option(False, "--yes", help="Confirm --live without asking."),
    ) -> None:
        """Switch a strategy on as a signal source for an instrument (its orders pass the risk checks)."""
        from decimal import Decimal, InvalidOperation

        from app.cli.backtest import _parse_params, _user_strategies
        from core.backtest.signal_source import SignalSourceError, enable_source
        from core.backtest.strategy import StrategyError

        _user_strategies([])
        try:
            share = Decimal(fraction)
        except InvalidOperation:
            fail(f"--fraction must be a number, got {fraction!r}")
        if live and not yes and not typer.confirm(f"Place LIVE orders from {name} on {symbol}?"):
            fail("not enabled: live signals need confirmation")
        try:
            with open_database().session() as session:
                source = enable_source(
                    session,
                    name,
                    symbol,
                    timeframe,
                    parameters=_parse_params(param),
                    position_fraction=share,
                    live=live,
                    actor=ACTOR,
                )
                source_id, parameters = source.id, dict(source.parameters)
        except (SignalSourceError, StrategyError) as error:
            fail(str(error))
        mode = "LIVE" if live else "paper"
        typer.echo(
            f"Strategy source {source_id}: {name} {parameters} on {symbol} {timeframe}, {mode} orders, "
            f"{share} of the cash per entry. The analyst worker runs it on each closed candle."
        )

    @strategy.command("disable")
    def disable(
        source: str = typer.Argument(..., help="The source id or the strategy name."),
        symbol: str | None = typer.Option(None, "--symbol", help="The instrument, if the name runs on several."),
    ) -> None:
        """Switch a signal source off (it stays listed and can be enabled again)."""
        from core.backtest.signal_source import SignalSourceError, disable_source, find_source

        try:
            with open_database().session() as session:
                row = find_source(session, source, symbol)
                disable_source(session, row, actor=ACTOR, reason="switched off by hand")
                source_id = row.id
        except SignalSourceError as error:
            fail(str(error))
        typer.echo(f"Strategy source {source_id} switched off.")

    @strategy.command("list")
    def list_command(as_json: bool = typer.Option(False, "--json", help="Print the sources as JSON.")) -> None:
        """List the signal sources and the user strategy files (a refused file shows its error)."""
        from dataclasses import asdict

        from core.backtest.signal_source import list_sources
        from core.backtest.user_strategies import load_catalog, strategy_directory
        from core.config import get_settings

        directory = strategy_directory(get_settings().home)
        catalog = load_catalog(directory)
        with open_database().session() as session:
            sources = list_sources(session)
        if as_json:
            echo_json(
                {
                    "sources": [asdict(item) for item in sources],
                    "strategy_files": {
                        "directory": str(directory),
                        "strategies": {name: str(item.path) for name, item in catalog.strategies.items()},
                        "errors": [str(error) for error in catalog.errors],
                    },
                }
            )
            return
        for item in sources:
            state = "on " if item.enabled else "off"
            seen = f"{item.last_candle_at:%Y-%m-%d %H:%M}" if item.last_candle_at else "-"
            typer.echo(
                f"{item.id:>4} {state} {item.strategy:<20} {item.symbol:<12} {item.timeframe:<4} "
                f"{'live ' if item.live else 'paper'} fraction={item.position_fraction} "
                f"last candle {seen} signal {item.last_signal or '-'}"
            )
            if item.disabled_reason:
                typer.echo(f"       {item.disabled_reason}")
        if not sources:
            typer.echo("No strategy is a signal source (konsens strategy enable NAME --symbol SYMBOL).")
        typer.echo(f"User strategies in {directory}: {', '.join(sorted(catalog.strategies)) or 'none'}")
        for error in catalog.errors:
            typer.echo(f"  refused: {error}")

    cli.add_typer(strategy, name="strategy")
