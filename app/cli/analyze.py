"""``konsens analyze SYMBOL [--json]``: run one AI consensus now and print it."""

from __future__ import annotations

import typer

from app.cli._common import echo_json, fail, open_database
from core.ai.context import NotEnoughData
from core.ai.engine import analyse_instrument
from core.market.query import instrument_by_symbol


def register(cli: typer.Typer) -> None:
    @cli.command("analyze")
    def analyze(
        symbol: str = typer.Argument(..., help="Instrument symbol, e.g. BTC/EUR."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Run the AI consensus for one instrument now (all enabled analysts) and print it."""
        database = open_database()
        instrument = database.run(lambda session: instrument_by_symbol(session, symbol))
        if instrument is None:
            fail(f"unknown instrument {symbol!r}")
        try:
            summary = analyse_instrument(database, instrument.id)
        except NotEnoughData as error:
            fail(str(error))
        if as_json:
            echo_json(summary.as_json())
            return
        outcome = summary.run.outcome
        flag = f"  [flagged: {outcome.flag_reason}]" if outcome.flagged else ""
        typer.echo(
            f"{summary.symbol}: {outcome.decision.value.upper()}  score {outcome.score:+.2f}  "
            f"agreement {outcome.agreement:.0%}{flag}"
        )
        for result in summary.run.results:
            if result.ok and result.opinion is not None:
                opinion = result.opinion
                cached = ", cached" if result.cached else ""
                typer.echo(
                    f"  {result.analyst:<16} {opinion.signal.value:<4} {opinion.confidence:>4.0%}  "
                    f"({result.model}, {result.latency_ms:.0f} ms{cached})  {opinion.rationale}"
                )
            else:
                typer.echo(f"  {result.analyst:<16} FAILED ({result.model}): {result.error}")
