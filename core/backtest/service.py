"""What the backtest page and the CLI call: data choices, run-and-store, sweeps over stored candles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.backtest.data import load_stored_series
from core.backtest.engine import BacktestConfig, EngineKind
from core.backtest.results import BacktestResult, run_backtest
from core.backtest.series import PriceSeries
from core.backtest.store import save_result, save_sweep
from core.backtest.strategies import build_strategy, needs_consensus, strategy_class
from core.backtest.strategy import Strategy
from core.backtest.sweep import Progress, SweepResult, run_sweep
from core.db.engine import Database
from core.market.models import Instrument

# Timeframes offered for stored data: the stored ones plus these aggregates of finer candles.
AGGREGATE_TIMEFRAMES = ("1h", "4h", "1d")


@dataclass(frozen=True)
class DataChoice:
    """An instrument with stored candles that can be backtested."""

    instrument_id: int
    symbol: str
    timeframes: tuple[str, ...]
    first: datetime
    last: datetime
    candles: int


def data_choices(session: Session) -> list[DataChoice]:
    """Return the instruments with stored candles, with their timeframes and time span."""
    from core.market.series import series_keys, series_span

    # The series by a skip scan along the primary key (index seeks), then per series its first and
    # last open time (two seeks) and its count (an index range count): no sort of the candles,
    # and no grouping over the whole table.
    symbols = {int(row[0]): str(row[1]) for row in session.execute(select(Instrument.id, Instrument.symbol))}
    rows = []
    for instrument_id, source, timeframe in series_keys(session):
        if instrument_id not in symbols:
            continue
        span = series_span(session, instrument_id, source, timeframe)
        if span is not None:  # (deleted since the scan)
            rows.append((instrument_id, symbols[instrument_id], timeframe, *span))
    rows.sort(key=lambda row: (row[1], row[2]))
    from core.market.query import TIMEFRAME_SECONDS

    # One entry per (instrument, timeframe), its sources combined.
    combined: dict[tuple[int, str], tuple[str, datetime, datetime, int]] = {}
    for instrument_id, symbol, timeframe, first, last, count in rows:
        known = combined.get((instrument_id, timeframe))
        if known is not None:
            first, last, count = min(known[1], first), max(known[2], last), known[3] + count
        combined[(instrument_id, timeframe)] = (symbol, first, last, count)
    grouped: dict[int, list[tuple[str, str, datetime, datetime, int]]] = {}
    for (instrument_id, timeframe), (symbol, first, last, count) in combined.items():
        grouped.setdefault(instrument_id, []).append((symbol, timeframe, first, last, count))
    choices = []
    for instrument_id, entries in grouped.items():
        stored = {entry[1] for entry in entries if entry[1] in TIMEFRAME_SECONDS}
        finest = min((TIMEFRAME_SECONDS[name] for name in stored), default=None)
        offered = set(stored)
        if finest is not None:
            offered |= {name for name in AGGREGATE_TIMEFRAMES if TIMEFRAME_SECONDS[name] >= finest}
        choices.append(
            DataChoice(
                instrument_id=instrument_id,
                symbol=entries[0][0],
                timeframes=tuple(sorted(offered, key=lambda name: TIMEFRAME_SECONDS[name])),
                first=min(entry[2] for entry in entries),
                last=max(entry[3] for entry in entries),
                candles=max(entry[4] for entry in entries),
            )
        )
    return choices


def load_bars(
    session: Session,
    symbol: str,
    timeframe: str,
    strategy: Strategy | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> PriceSeries:
    """Load stored candles, with the recorded AI consensus when ``strategy`` reads it."""
    bars = load_stored_series(session, symbol, timeframe, start=start, end=end)
    if strategy is not None and needs_consensus(strategy):
        from core.backtest.consensus import with_consensus

        bars = with_consensus(session, bars)
    return bars


def run_stored_backtest(
    database: Database,
    strategy_name: str,
    parameters: dict[str, object],
    symbol: str,
    timeframe: str,
    config: BacktestConfig,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    engine: EngineKind = EngineKind.EVENT,
) -> tuple[int, BacktestResult]:
    """Backtest a strategy on stored candles and store the run; return (run id, result)."""
    strategy = build_strategy(strategy_name, parameters)
    with database.session() as session:
        bars = load_bars(session, symbol, timeframe, strategy, start=start, end=end)
    result = run_backtest(strategy, bars, config, engine=engine)
    with database.session() as session:
        run_id = save_result(session, result)
    return run_id, result


def run_stored_sweep(
    database: Database,
    strategy_name: str,
    grid: dict[str, list[int | float]],
    symbol: str,
    timeframe: str,
    config: BacktestConfig,
    *,
    base_parameters: dict[str, object] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    progress: Progress | None = None,
) -> tuple[int, SweepResult]:
    """Run a parameter sweep on stored candles and store it; return (run id, sweep)."""
    with database.session() as session:
        bars = load_bars(session, symbol, timeframe, strategy_class(strategy_name)(), start=start, end=end)
    sweep = run_sweep(strategy_name, grid, bars, config, base_parameters=base_parameters, progress=progress)
    with database.session() as session:
        run_id = save_sweep(session, sweep)
    return run_id, sweep
