"""``konsens backtest``, ``konsens backtest-sweep`` and ``konsens backtest-runs``."""

from __future__ import annotations

import math
from datetime import datetime

import typer

from app.cli._common import echo_json, fail, open_database
from core.backtest.data import load_stored_series, looks_like_file, read_candle_csv
from core.backtest.engine import BacktestConfig, EngineKind
from core.backtest.results import METRIC_LABELS, BacktestResult, run_backtest
from core.backtest.series import PriceDataError, PriceSeries
from core.backtest.strategies import STRATEGIES, build_strategy, needs_consensus, strategy_class
from core.backtest.strategy import Strategy, StrategyError
from core.timeutil import parse_utc


def _parse_params(pairs: list[str]) -> dict[str, object]:
    params: dict[str, object] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name.strip():
            fail(f"--param takes name=value, got {pair!r}")
        params[name.strip()] = value.strip()
    return params


def _date(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_utc(value)
    except ValueError:
        fail(f"{option} must be a date or ISO time, got {value!r}")


def _load_bars(
    data: str, timeframe: str | None, start: datetime | None, end: datetime | None, strategy: Strategy
) -> PriceSeries:
    if looks_like_file(data):
        bars = read_candle_csv(data, timeframe=timeframe)
    else:
        database = open_database()
        with database.session() as session:
            bars = load_stored_series(session, data, timeframe or "1h", start=start, end=end)
            if needs_consensus(strategy):
                from core.backtest.consensus import with_consensus

                bars = with_consensus(session, bars)
        return bars
    return bars.between(start, end)


def _format(value: float | None, kind: str) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if kind == "pct":
        return f"{value * 100:+.2f} %"
    if kind == "share":
        return f"{value * 100:.1f} %"
    if kind == "count":
        return f"{value:.0f}"
    if kind == "money":
        return f"{value:,.2f}"
    return f"{value:.2f}"


def _print_result(result: BacktestResult, run_id: int | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    title = (
        f"{result.strategy} {result.parameters} on {result.data_label} {result.timeframe}, "
        f"{result.start:%Y-%m-%d} → {result.end:%Y-%m-%d} ({result.candles} candles, {result.engine.value} engine)"
    )
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("strategy", justify="right")
    table.add_column("buy & hold", justify="right")
    for name, label, kind in METRIC_LABELS:
        table.add_row(
            label, _format(result.metrics.get(name), kind), _format(result.baseline_metrics.get(name), kind)
        )
    console.print(table)
    if result.rejected_orders:
        console.print(f"{result.rejected_orders} entries rejected: a gap at the open left too little cash")
    if run_id is not None:
        console.print(f"Stored as run {run_id} (konsens backtest-runs).")


def register(cli: typer.Typer) -> None:
    names = ", ".join(sorted(STRATEGIES))

    @cli.command("backtest")
    def backtest(
        strategy: str = typer.Argument(..., help=f"Strategy: {names}."),
        data: str = typer.Option(..., "--data", help="A candle CSV file or a stored instrument symbol (BTC/EUR)."),
        timeframe: str | None = typer.Option(None, "--timeframe", help="Timeframe of stored candles (default 1h)."),
        param: list[str] = typer.Option([], "--param", help="Strategy parameter name=value (repeatable)."),
        fee_bps: float = typer.Option(10.0, "--fee-bps", help="Fee per fill in basis points."),
        slippage_bps: float = typer.Option(0.0, "--slippage-bps", help="Slippage per market fill in basis points."),
        cash: float = typer.Option(10_000.0, "--cash", help="Starting cash."),
        start: str | None = typer.Option(None, "--start", help="First candle time (UTC), e.g. 2024-01-01."),
        end: str | None = typer.Option(None, "--end", help="End (exclusive, UTC)."),
        stop_loss: float | None = typer.Option(None, "--stop-loss", help="Stop-loss as a fraction, e.g. 0.05."),
        take_profit: float | None = typer.Option(None, "--take-profit", help="Take-profit as a fraction."),
        trailing_stop: float | None = typer.Option(None, "--trailing-stop", help="Trailing stop distance fraction."),
        engine: EngineKind = typer.Option(EngineKind.EVENT, "--engine", help="event, fast or backtrader."),
        store: bool = typer.Option(True, "--store/--no-store", help="Store the run in the database."),
        as_json: bool = typer.Option(False, "--json", help="Print trades and metrics as JSON."),
    ) -> None:
        """Backtest a strategy on a CSV file or stored candles (fills as the paper broker would)."""
        try:
            chosen = build_strategy(strategy, _parse_params(param))
            config = BacktestConfig(
                initial_cash=cash,
                fee_bps=fee_bps,
                slippage_bps=slippage_bps,
                stop_loss=stop_loss,
                take_profit=take_profit,
                trailing_stop=trailing_stop,
            )
            bars = _load_bars(data, timeframe, _date(start, "--start"), _date(end, "--end"), chosen)
            result = run_backtest(chosen, bars, config, engine=engine)
        except (StrategyError, PriceDataError, ValueError) as error:
            fail(str(error))
        run_id = None
        if store:
            from core.backtest.store import save_result

            database = open_database()
            with database.session() as session:
                run_id = save_result(session, result)
        if as_json:
            echo_json({**result.to_dict(), "run_id": run_id})
        else:
            _print_result(result, run_id)

    @cli.command("backtest-sweep")
    def backtest_sweep(
        strategy: str = typer.Argument(..., help=f"Strategy: {names}."),
        data: str = typer.Option(..., "--data", help="A candle CSV file or a stored instrument symbol."),
        grid: list[str] = typer.Option(..., "--grid", help="name=start:stop:step or name=a,b,c (repeatable)."),
        param: list[str] = typer.Option([], "--param", help="Fixed parameter name=value (repeatable)."),
        timeframe: str | None = typer.Option(None, "--timeframe"),
        fee_bps: float = typer.Option(10.0, "--fee-bps"),
        slippage_bps: float = typer.Option(0.0, "--slippage-bps"),
        metric: str = typer.Option("sharpe", "--metric", help="Metric to rank by (sharpe, total_return...)."),
        store: bool = typer.Option(True, "--store/--no-store"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Run a strategy over a parameter grid with a progress bar; print the best combinations."""
        from tqdm import tqdm

        from core.backtest.sweep import parse_values, run_sweep

        try:
            ranges = {}
            for item in grid:
                name, separator, text = item.partition("=")
                if not separator:
                    fail(f"--grid takes name=range, got {item!r}")
                ranges[name.strip()] = parse_values(name.strip(), text.strip())
            bars = _load_bars(data, timeframe, None, None, strategy_class(strategy)())
            config = BacktestConfig(fee_bps=fee_bps, slippage_bps=slippage_bps)
            with tqdm(total=1, desc=f"sweep {strategy}", unit="run", disable=as_json) as bar:

                def progress(done: int, total: int) -> None:
                    bar.total = total
                    bar.update(done - bar.n)

                sweep = run_sweep(
                    strategy, ranges, bars, config, base_parameters=_parse_params(param), progress=progress
                )
        except (StrategyError, PriceDataError, ValueError) as error:
            fail(str(error))
        run_id = None
        if store:
            from core.backtest.store import save_sweep

            with open_database().session() as session:
                run_id = save_sweep(session, sweep)
        table = sweep.table()
        if metric not in table.columns:
            fail(f"unknown metric {metric!r}")
        ranked = table.sort_values(metric, ascending=False)
        if as_json:
            echo_json({"run_id": run_id, "metric": metric, "rows": ranked.to_dict(orient="records")})
            return
        typer.echo(ranked.head(10).to_string(index=False))
        if run_id is not None:
            typer.echo(f"Stored as run {run_id}.")

    @cli.command("backtest-runs")
    def backtest_runs(
        limit: int = typer.Option(20, "--limit"), as_json: bool = typer.Option(False, "--json")
    ) -> None:
        """List stored backtests, newest first."""
        from dataclasses import asdict

        from core.backtest.store import list_runs

        with open_database().session() as session:
            runs = list_runs(session, limit=limit)
        if as_json:
            echo_json([asdict(run) for run in runs])
            return
        for run in runs:
            typer.echo(
                f"{run.id:>5}  {run.created_at:%Y-%m-%d %H:%M}  {run.kind.value:<6} {run.strategy:<20} "
                f"{run.data_label:<16} {run.timeframe:<4} trades={run.trades:<5} "
                f"return={_format(run.total_return, 'pct')}  hold={_format(run.baseline_return, 'pct')}"
            )
