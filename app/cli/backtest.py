"""``konsens backtest``, ``konsens backtest-sweep`` and ``konsens backtest-runs``."""

from __future__ import annotations

import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from app.cli._common import echo_json, fail, open_database
from core.backtest.data import looks_like_file
from core.backtest.trades import EngineKind
from core.timeutil import parse_utc

if TYPE_CHECKING:
    from core.backtest.data import BackgroundRead
    from core.backtest.results import BacktestResult
    from core.backtest.series import PriceSeries
    from core.backtest.strategy import Strategy
    from core.backtest.user_strategies import StrategyCatalog

# Importing this module imports neither pandas nor numba nor the database side: the commands import
# what they need. ``konsens backtest --data FILE`` first starts pyarrow's parse of the file in a thread
# (``core.backtest.data.start_reading``), then imports pandas and numba and loads its compiled kernels
# while the file is parsed; a CSV backtest with ``--no-store`` never imports SQLAlchemy.

# The built-in strategies, named in the help text without importing the registry (and numba);
# ``tests/app/test_backtest_cli.py`` keeps it equal to ``core.backtest.strategies.BUILT_IN_STRATEGIES``.
BUILT_IN_NAMES = ("ai-consensus", "bollinger-breakout", "rsi-reversion", "sma-cross")


_early_reads: dict[str, BackgroundRead] = {}


def start_early(arguments: list[str]) -> None:
    """Start parsing the ``--data`` file of ``konsens backtest ARGS`` before Typer, settings and pydantic load.

    Called by ``app.cli.main`` with the raw arguments after ``backtest``; the command picks the parse up
    by its ``--data`` text (one parse thread: the start-up keeps the other core). Anything else — no
    ``--data``, a symbol, a missing file, ``--help`` — starts nothing, and the command reads as before.
    """
    if "--help" in arguments:
        return
    data = None
    for position, argument in enumerate(arguments):
        if argument == "--data" and position + 1 < len(arguments):
            data = arguments[position + 1]
        elif argument.startswith("--data="):
            data = argument.partition("=")[2]
    if data is None or not (looks_like_file(data) and Path(data).is_file()):
        return
    from core.backtest.data import start_reading

    _early_reads[data] = start_reading(data)


def _process_seconds() -> float | None:
    """Wall seconds since this process started (interpreter start included), from ``/proc``; None elsewhere."""
    import os

    try:
        with open("/proc/self/stat", encoding="ascii") as stat, open("/proc/uptime", encoding="ascii") as uptime:
            started_ticks = int(stat.read().rpartition(")")[2].split()[19])  # field 22: start time since boot
            since_boot = float(uptime.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(since_boot - started_ticks / os.sysconf("SC_CLK_TCK"), 0.0)


def _parse_params(pairs: list[str]) -> dict[str, object]:
    params: dict[str, object] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name.strip():
            fail(f"--param takes name=value, got {pair!r}")
        params[name.strip()] = value.strip()
    return params


STRATEGY_FILE_HELP = "A Python file with your own strategy (repeatable); $KONSENS_HOME/strategies/ is always read."


def _user_strategies(files: list[Path]) -> StrategyCatalog:
    """Load ``$KONSENS_HOME/strategies`` and ``files``; a given file that is refused stops the command."""
    from core.backtest.user_strategies import load_user_strategies
    from core.config import get_settings

    given = {path.resolve() for path in files}
    for path in given:
        if not path.is_file():
            fail(f"strategy file {path} does not exist")
    catalog = load_user_strategies(get_settings().home, files)
    for error in catalog.errors:
        if error.path in given:
            fail(f"strategy file refused: {error}")
        typer.echo(f"warning: strategy file refused: {error}", err=True)
    return catalog


def _percent(given: str | None, own_fraction: float | None) -> Decimal | None:
    """A replay exit in percent: the option if given, else the strategy's own fraction × 100."""
    if given:
        return Decimal(given)
    return Decimal(repr(own_fraction)) * 100 if own_fraction is not None else None


def _date(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_utc(value)
    except ValueError:
        fail(f"{option} must be a date or ISO time, got {value!r}")


def _load_bars(
    data: str,
    timeframe: str | None,
    start: datetime | None,
    end: datetime | None,
    strategy: Strategy,
    pending: BackgroundRead | None = None,
) -> PriceSeries:
    from core.backtest.data import read_candle_csv

    if looks_like_file(data):
        bars = read_candle_csv(data, timeframe=timeframe, pending=pending)
    else:
        from core.backtest.service import load_bars

        database = open_database()
        with database.session() as session:
            return load_bars(session, data, timeframe or "1h", strategy, start=start, end=end)
    return bars.between(start, end)


def _print_result(result: BacktestResult, run_id: int | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from core.backtest.results import METRIC_LABELS, format_metric

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
            label, format_metric(result.metrics.get(name), kind), format_metric(result.baseline_metrics.get(name), kind)
        )
    console.print(table)
    if result.rejected_orders:
        console.print(f"{result.rejected_orders} entries rejected: a gap at the open left too little cash")
    blocked = result.extra.get("blocked_orders")
    if blocked:
        shown = ", ".join(f"{count} by {rule}" for rule, count in blocked.items())
        console.print(f"Signals refused by the risk guard's protections: {shown}")
    if run_id is not None:
        console.print(f"Stored as run {run_id} (konsens backtest-runs).")


def _build_native_kernels() -> None:
    """After the first fast run: compile the kernels ahead of time, so later runs load them without numba.

    Only in the ``konsens`` process itself (not under ``CliRunner``), once per kernel source and numba
    version: a build that fails (no C compiler, no ``numba.pycc``) leaves a note beside the module and
    the JIT kernels keep serving, as before.
    """
    import subprocess

    from app.cli._process import running_as_main
    from core.backtest import native

    if not running_as_main() or native.is_built() or not native.can_build():
        return
    failed = native.module_path().with_suffix(".failed")
    if failed.exists():
        return
    sys.stdout.flush()
    typer.echo("Compiling the fast path's kernels once, for faster starts from the next run...", err=True)
    done = subprocess.run(
        [sys.executable, "-m", "core.backtest.native_build"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        try:
            failed.parent.mkdir(parents=True, exist_ok=True)
            failed.write_text(done.stderr, encoding="utf-8")
        except OSError:
            pass
        typer.echo(f"warning: the kernels stay compiled just in time ({reason})", err=True)


def register(cli: typer.Typer) -> None:
    names = ", ".join(BUILT_IN_NAMES)
    register_replay(cli)

    @cli.command("backtest")
    def backtest(
        strategy: str = typer.Argument(..., help=f"Strategy: {names} or one of yours."),
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
        protections: bool = typer.Option(
            False, "--protections/--no-protections", help="Apply the live risk guard's protections (saved limits)."
        ),
        store: bool = typer.Option(True, "--store/--no-store", help="Store the run in the database."),
        as_json: bool = typer.Option(False, "--json", help="Print trades and metrics as JSON."),
        strategy_file: list[Path] = typer.Option([], "--strategy-file", help=STRATEGY_FILE_HELP),
    ) -> None:
        """Backtest a strategy on a CSV file or stored candles (fills as the paper broker would)."""
        import time

        began = time.perf_counter()
        pending = _early_reads.pop(data, None)  # started by ``konsens`` before Typer (``start_early``)
        if pending is None and looks_like_file(data) and Path(data).is_file():
            from core.backtest.data import start_reading

            pending = start_reading(data)  # parsed in a thread while the imports below run
        from core.backtest.engine import BacktestConfig, warm_up
        from core.backtest.results import run_backtest
        from core.backtest.series import PriceDataError
        from core.backtest.strategies import build_strategy, needs_consensus
        from core.backtest.strategy import StrategyError

        _user_strategies(strategy_file)
        guard = None
        if protections:
            from core.backtest.protections import Protections
            from core.risk.settings import InvalidRiskLimits, load_limits

            try:
                with open_database().session() as session:
                    guard = Protections.from_limits(load_limits(session))
            except InvalidRiskLimits as error:
                fail(str(error))
        try:
            chosen = build_strategy(strategy, _parse_params(param))
            config = BacktestConfig(
                initial_cash=cash,
                fee_bps=fee_bps,
                slippage_bps=slippage_bps,
                stop_loss=stop_loss,
                take_profit=take_profit,
                trailing_stop=trailing_stop,
                protections=guard,
            )
            if pending is not None and engine is EngineKind.FAST:
                warm_up(chosen, config)  # load the compiled kernels while the file is still being parsed
            bars = _load_bars(data, timeframe, _date(start, "--start"), _date(end, "--end"), chosen, pending)
            loaded = time.perf_counter()
            result = run_backtest(chosen, bars, config, engine=engine)
            ran = time.perf_counter()
        except (StrategyError, PriceDataError, ValueError) as error:
            fail(str(error))
        if needs_consensus(chosen) and result.instrument_id is not None:
            from core.backtest.consensus import consensus_contamination

            instrument_id = result.instrument_id
            with open_database().session() as session:
                trades = [
                    (trade.entry_time, trade.pnl() if trade.exit_price is not None else 0.0) for trade in result.trades
                ]
                result.extra["ai_contamination"] = consensus_contamination(session, instrument_id, trades)
        run_id = None
        opened = stored = time.perf_counter()
        if store:
            from core.backtest.store import save_result

            database = open_database(metrics=False)
            opened = time.perf_counter()
            with database.engine.begin() as connection:  # SQLAlchemy Core: no ORM session, no mappers
                run_id = save_result(connection, result)
            stored = time.perf_counter()
        contamination = result.extra.get("ai_contamination")
        if as_json:
            extra: dict[str, object] = {"run_id": run_id, "blocked_orders": result.extra.get("blocked_orders", {})}
            if contamination is not None:
                extra["ai_contamination"] = contamination
            since_start = _process_seconds()
            extra["timing"] = {  # "seconds" of to_dict() is the engine alone, kept for old readers
                "total_seconds": (since_start if since_start is not None else time.perf_counter() - began),
                "load_seconds": loaded - began,
                "kernel_seconds": result.seconds,
                "results_seconds": ran - loaded - result.seconds,
                "database_seconds": opened - ran,  # opening the database (and migrating it) before storing
                "store_seconds": stored - opened,  # writing the run (one row, two compressed archives), commit
            }
            sys.stdout.write(result.to_json(extra, indent=sys.stdout.isatty()).decode() + "\n")
            if pending is not None and not store and guard is None and contamination is None:
                from app.cli._process import skip_teardown

                skip_teardown()  # no database, no logging set up: nothing for the interpreter's teardown to do
        else:
            _print_result(result, run_id)
            if contamination is not None and contamination["contaminated"]:
                typer.echo(
                    f"CONTAMINATED: the model may know these prices — {contamination['contaminated_decisions']} of "
                    f"{contamination['decisions']} recorded decisions come from LLMs asked about times before their "
                    f"training cutoff. Trades on them: {contamination['contaminated_periods']['trades']} "
                    f"(P&L {contamination['contaminated_periods']['pnl']:+.2f}); on clean decisions: "
                    f"{contamination['clean']['trades']} (P&L {contamination['clean']['pnl']:+.2f})."
                )
        if engine is EngineKind.FAST:
            _build_native_kernels()

    @cli.command("backtest-sweep")
    def backtest_sweep(
        strategy: str = typer.Argument(..., help=f"Strategy: {names} or one of yours."),
        data: str = typer.Option(..., "--data", help="A candle CSV file or a stored instrument symbol."),
        grid: list[str] = typer.Option(..., "--grid", help="name=start:stop:step or name=a,b,c (repeatable)."),
        param: list[str] = typer.Option([], "--param", help="Fixed parameter name=value (repeatable)."),
        timeframe: str | None = typer.Option(None, "--timeframe"),
        fee_bps: float = typer.Option(10.0, "--fee-bps"),
        slippage_bps: float = typer.Option(0.0, "--slippage-bps"),
        metric: str = typer.Option("sharpe", "--metric", help="Metric to rank by (sharpe, total_return...)."),
        store: bool = typer.Option(True, "--store/--no-store"),
        job: bool = typer.Option(
            False, "--job", help="Queue the sweep for the jobs worker instead of running it here."
        ),
        as_json: bool = typer.Option(False, "--json"),
        strategy_file: list[Path] = typer.Option([], "--strategy-file", help=STRATEGY_FILE_HELP),
    ) -> None:
        """Run a strategy over a parameter grid with a progress bar; print the best combinations."""
        from tqdm import tqdm

        from core.backtest.engine import BacktestConfig
        from core.backtest.series import PriceDataError
        from core.backtest.strategies import strategy_class
        from core.backtest.strategy import StrategyError

        _user_strategies(strategy_file)
        from core.backtest.sweep import parse_values, run_sweep

        if job:
            from app.cli.jobs import queue_job

            texts = {}
            for item in grid:
                name, separator, text = item.partition("=")
                if not separator:
                    fail(f"--grid takes name=range, got {item!r}")
                texts[name.strip()] = text.strip()
            queue_job(
                "backtest-sweep",
                {
                    "strategy": strategy,
                    "data": data,
                    "grid": texts,
                    "base_parameters": _parse_params(param),
                    "timeframe": timeframe,
                    "fee_bps": fee_bps,
                    "slippage_bps": slippage_bps,
                    "metric": metric,
                    "store": store,
                },
                as_json=as_json,
            )
            return
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
            echo_json(
                {
                    "run_id": run_id,
                    "metric": metric,
                    "rows": ranked.to_dict(orient="records"),
                    "warning": sweep.overfitting_warning(metric),
                    "overfitting": sweep.overfitting.to_dict() if sweep.overfitting else None,
                }
            )
            return
        typer.echo(ranked.head(10).to_string(index=False))
        warning = sweep.overfitting_warning(metric)
        if warning is not None:
            typer.echo(warning)
        if sweep.overfitting is not None:
            typer.echo(f"Best Sharpe among the combinations — {sweep.overfitting.verdict()}")
        if run_id is not None:
            typer.echo(f"Stored as run {run_id}.")

    @cli.command("backtest-lookahead")
    def backtest_lookahead(
        strategy: str = typer.Argument(..., help="A strategy name or a Python strategy file."),
        data: str = typer.Option(..., "--data", help="A candle CSV file or a stored instrument symbol."),
        timeframe: str | None = typer.Option(None, "--timeframe", help="Timeframe of stored candles (default 1h)."),
        param: list[str] = typer.Option([], "--param", help="Strategy parameter name=value (repeatable)."),
        start: str | None = typer.Option(None, "--start", help="First candle time (UTC)."),
        end: str | None = typer.Option(None, "--end", help="End (exclusive, UTC)."),
        cuts: int = typer.Option(8, "--cuts", help="How many truncations of the data to compare (1-100)."),
        name: str | None = typer.Option(None, "--name", help="Which strategy of the file (if it holds several)."),
        as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
    ) -> None:
        """Check a strategy for look-ahead: recompute on truncated data, report every value that changes."""
        from core.backtest.lookahead import check_lookahead
        from core.backtest.series import PriceDataError
        from core.backtest.strategies import build_strategy
        from core.backtest.strategy import StrategyError

        if not 1 <= cuts <= 100:
            fail("--cuts must be between 1 and 100")
        chosen_name = strategy
        files: list[Path] = []
        if strategy.endswith(".py") or Path(strategy).is_file():
            path = Path(strategy)
            files.append(path)
            catalog = _user_strategies(files)
            names = [item.name for item in catalog.strategies.values() if item.path == path.resolve()]
            if name is None and len(names) > 1:
                fail(f"{path} holds several strategies ({', '.join(names)}): choose one with --name")
            chosen_name = name or names[0]
            if chosen_name not in names:
                fail(f"{path} has no strategy {chosen_name!r} (it has: {', '.join(names)})")
        else:
            _user_strategies(files)
        try:
            chosen = build_strategy(chosen_name, _parse_params(param))
            bars = _load_bars(data, timeframe, _date(start, "--start"), _date(end, "--end"), chosen)
            report = check_lookahead(chosen, bars, cut_count=cuts)
        except (StrategyError, PriceDataError, ValueError) as error:
            fail(str(error))
        if as_json:
            echo_json(report.to_dict())
        else:
            typer.echo(report.summary())
            for finding in report.findings[:50]:
                typer.echo(f"  cut {finding.cut}: {finding.describe()}")
            if len(report.findings) > 50:
                typer.echo(f"  ... and {len(report.findings) - 50} more (--json lists all)")
        if not report.clean:
            raise typer.Exit(3)

    @cli.command("backtest-runs")
    def backtest_runs(limit: int = typer.Option(20, "--limit"), as_json: bool = typer.Option(False, "--json")) -> None:
        """List stored backtests, newest first."""
        from dataclasses import asdict

        from core.backtest.results import format_metric
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
                f"return={format_metric(run.total_return, 'pct')}  hold={format_metric(run.baseline_return, 'pct')}"
            )


def register_replay(cli: typer.Typer) -> None:
    """``konsens replay``: stored candles through the paper executor at a simulated clock."""
    names = ", ".join(BUILT_IN_NAMES)

    @cli.command("replay")
    def replay_command(
        strategy: str = typer.Argument(..., help=f"Strategy: {names} or one of yours."),
        data: str = typer.Option(..., "--data", help="Stored instrument symbol, e.g. BTC/EUR."),
        timeframe: str = typer.Option("1h", "--timeframe", help="A stored timeframe."),
        param: list[str] = typer.Option([], "--param", help="Strategy parameter name=value (repeatable)."),
        start: str | None = typer.Option(None, "--start", help="First candle time (UTC)."),
        end: str | None = typer.Option(None, "--end", help="End (exclusive, UTC)."),
        cash: str = typer.Option("10000", "--cash", help="Starting paper cash (EUR)."),
        fraction: str = typer.Option("0.45", "--fraction", help="Share of the cash per entry."),
        stop_loss_pct: str | None = typer.Option(None, "--stop-loss-pct", help="Attached stop-loss, % of entry."),
        take_profit_pct: str | None = typer.Option(None, "--take-profit-pct", help="Attached take-profit, %."),
        trailing_stop_pct: str | None = typer.Option(None, "--trailing-stop-pct", help="Attached trailing stop, %."),
        target: str | None = typer.Option(None, "--target", help="Scratch database URL (default: a new SQLite file)."),
        compare: bool = typer.Option(True, "--compare/--no-compare", help="Also backtest and compare the trades."),
        job: bool = typer.Option(False, "--job", help="Queue the replay for the jobs worker (no comparison)."),
        as_json: bool = typer.Option(False, "--json"),
        strategy_file: list[Path] = typer.Option([], "--strategy-file", help=STRATEGY_FILE_HELP),
    ) -> None:
        """Replay history through the real paper executor, worker loop, ledger and risk limits."""
        _user_strategies(strategy_file)
        from decimal import InvalidOperation

        if job:
            from app.cli.jobs import queue_job

            queue_job(
                "replay",
                {
                    "strategy": strategy,
                    "data": data,
                    "timeframe": timeframe,
                    "parameters": _parse_params(param),
                    "start": start,
                    "end": end,
                    "cash": cash,
                    "fraction": fraction,
                    "stop_loss_pct": stop_loss_pct,
                    "take_profit_pct": take_profit_pct,
                    "trailing_stop_pct": trailing_stop_pct,
                    "target": target,
                },
                as_json=as_json,
            )
            return

        from tqdm import tqdm

        from core.backtest.compare import first_difference
        from core.backtest.data import load_stored_series
        from core.backtest.engine import BacktestConfig, run_event_loop
        from core.backtest.replay import ReplayConfig, default_target, replay
        from core.backtest.series import PriceDataError
        from core.backtest.strategies import build_strategy
        from core.backtest.strategy import StrategyError
        from core.config import get_settings
        from core.db.engine import Database
        from workers.executor import build_worker

        try:
            chosen = build_strategy(strategy, _parse_params(param))
            own = chosen.exit_fractions()  # the strategy's own exits where the command gives none
            try:
                config = ReplayConfig(
                    initial_cash=Decimal(cash),
                    position_fraction=Decimal(fraction),
                    stop_loss_pct=_percent(stop_loss_pct, own["stop_loss"]),
                    take_profit_pct=_percent(take_profit_pct, own["take_profit"]),
                    trailing_stop_pct=_percent(trailing_stop_pct, own["trailing_stop"]),
                )
            except InvalidOperation:
                fail("--cash, --fraction and the exit percentages must be numbers")
            if not (config.initial_cash > 0 and 0 < config.position_fraction <= 1):
                fail("--cash must be positive and --fraction in (0, 1]")
            source = open_database()
            target_url = target or default_target(get_settings().home)
            destination = Database(target_url)
            with tqdm(total=1, desc=f"replay {strategy}", unit="candle", disable=as_json) as bar:

                def progress(done: int, total: int) -> None:
                    bar.total = total
                    bar.update(done - bar.n)

                result = replay(
                    source,
                    destination,
                    chosen,
                    data,
                    timeframe,
                    start=_date(start, "--start"),
                    end=_date(end, "--end"),
                    config=config,
                    progress=progress,
                    executor_worker=build_worker,
                )
        except (StrategyError, PriceDataError, ValueError) as error:
            fail(str(error))
        output = result.to_dict()
        output["target"] = target_url.split("///")[-1] if target_url.startswith("sqlite") else "(given --target)"
        if compare:
            with source.session() as session:
                bars = load_stored_series(
                    session, data, timeframe, start=_date(start, "--start"), end=_date(end, "--end")
                )
            backtest_config = BacktestConfig(
                initial_cash=float(config.initial_cash),
                fee_bps=float(result.fee_rate) * 1e4,
                slippage_bps=float(result.slippage) * 1e4,
                position_fraction=float(config.position_fraction),
                stop_loss=float(config.stop_loss_pct) / 100 if config.stop_loss_pct else None,
                take_profit=float(config.take_profit_pct) / 100 if config.take_profit_pct else None,
                trailing_stop=float(config.trailing_stop_pct) / 100 if config.trailing_stop_pct else None,
            )
            expected = run_event_loop(build_strategy(strategy, _parse_params(param)), bars, backtest_config)
            difference = first_difference(expected.trades, result.trades, quantity_tolerance=1e-6)
            output["backtest_agrees"] = difference is None
            output["first_difference"] = difference
        if as_json:
            echo_json(output)
            return
        typer.echo(
            f"Replayed {result.candles} candles of {data} {timeframe} in {result.seconds:.1f} s: "
            f"{result.signals} signals, orders {result.orders_by_status}, {len(result.trades)} trades; "
            f"cash {result.final_cash:.2f}, position {result.final_position}."
        )
        for rejection in result.rejections[:10]:
            typer.echo(f"  refused ({rejection['rule']}): {rejection['reason']}")
        if compare:
            verdict = "the same trades" if output["backtest_agrees"] else f"a difference: {output['first_difference']}"
            typer.echo(f"Backtest of the same bars with the paper broker's fees: {verdict}")
        typer.echo(f"Replay database: {output['target']}")
