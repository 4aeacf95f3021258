"""Store backtests and read them back, so past runs can be listed and compared.

The equity curve and its buy-and-hold baseline are kept as one compressed numpy archive per
run (``equity_blob``): timestamps in epoch seconds plus two float arrays. Curves longer than
``MAX_STORED_POINTS`` are thinned evenly (first and last point kept) before storing; the trades
and metrics are always complete.

The trades are one compressed columnar archive too (``trades_blob``, ``trade_count``; revision
0240): one array per field, written in one go. A row per trade through the ORM cost about three
times the backtest itself at 20,000 trades; the archive costs a few per cent. They hold the
engine's own floats (bit for bit what the run computed). Runs stored before 0240 keep their
``backtest_trades`` rows and are read back the same way.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.backtest.models import BacktestKind, BacktestRun, BacktestTrade
from core.backtest.results import BacktestResult
from core.backtest.sweep import SweepResult
from core.backtest.trades import Trade

MAX_STORED_POINTS = 20_000


def _decimal(value: float | None) -> Decimal | None:
    if value is None or not math.isfinite(value):
        return None
    return Decimal(repr(float(value)))


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    return {key: (float(value) if math.isfinite(value) else None) for key, value in values.items()}


def pack_equity(equity: pd.Series, baseline: pd.Series) -> bytes:
    """Compress an equity curve and its baseline (thinned to ``MAX_STORED_POINTS``)."""
    positions: np.ndarray = np.arange(len(equity))
    if len(equity) > MAX_STORED_POINTS:
        positions = np.unique(np.linspace(0, len(equity) - 1, MAX_STORED_POINTS).round().astype(np.int64))
    seconds = (equity.index[positions] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        ts=np.asarray(seconds, dtype=np.int64),
        equity=equity.to_numpy(dtype=np.float64)[positions],
        baseline=baseline.to_numpy(dtype=np.float64)[positions],
    )
    return buffer.getvalue()


def unpack_equity(blob: bytes) -> pd.DataFrame:
    """Return the stored curves as a frame with columns ``equity`` and ``baseline`` by UTC time."""
    with np.load(io.BytesIO(blob)) as archive:
        index = pd.DatetimeIndex(pd.to_datetime(archive["ts"], unit="s", utc=True), name="ts")
        return pd.DataFrame({"equity": archive["equity"], "baseline": archive["baseline"]}, index=index)


TRADE_FLOAT_FIELDS = ("entry_price", "quantity", "entry_fee", "exit_price", "exit_fee", "pnl")
NO_TIME = np.iinfo(np.int64).min  # an open trade's exit time in the archive


def pack_trades(trades: list[Trade]) -> bytes:
    """Compress trades as columns: times in epoch microseconds, floats, side and exit reason as text."""
    count = len(trades)
    entry = pd.DatetimeIndex([trade.entry_time for trade in trades], tz="UTC").as_unit("us").asi8 if count else []
    exits = [trade.exit_time for trade in trades]
    exit_known = np.array([value is not None for value in exits], dtype=bool)
    exit_us = np.full(count, NO_TIME, dtype=np.int64)
    if exit_known.any():
        known = pd.DatetimeIndex([value for value in exits if value is not None], tz="UTC")
        exit_us[exit_known] = known.as_unit("us").asi8
    nan = math.nan
    columns: dict[str, np.ndarray] = {
        "entry_us": np.asarray(entry, dtype=np.int64),
        "exit_us": exit_us,
        "entry_index": np.array([trade.entry_index for trade in trades], dtype=np.int64),
        "exit_index": np.array(
            [-1 if trade.exit_index is None else trade.exit_index for trade in trades], dtype=np.int64
        ),
        "side": np.array([trade.side.value for trade in trades], dtype="<U8"),
        "exit_reason": np.array(
            [trade.exit_reason.value if trade.exit_reason else "" for trade in trades], dtype="<U16"
        ),
        "entry_price": np.array([trade.entry_price for trade in trades], dtype=np.float64),
        "quantity": np.array([trade.quantity for trade in trades], dtype=np.float64),
        "entry_fee": np.array([trade.entry_fee for trade in trades], dtype=np.float64),
        "exit_price": np.array(
            [nan if trade.exit_price is None else trade.exit_price for trade in trades], dtype=np.float64
        ),
        "exit_fee": np.array([trade.exit_fee for trade in trades], dtype=np.float64),
        "pnl": np.array([nan if trade.is_open else trade.pnl() for trade in trades], dtype=np.float64),
    }
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **columns)  # type: ignore[arg-type]  # numpy stubs: allow_pickle swallows the names
    return buffer.getvalue()


def unpack_trades(blob: bytes) -> pd.DataFrame:
    """Return archived trades as the frame ``load_run`` gives (``TRADE_COLUMNS``; NaN/None when open)."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        columns = {name: archive[name] for name in archive.files}
    exit_us = columns["exit_us"]
    exit_at = pd.to_datetime(np.where(exit_us == NO_TIME, 0, exit_us), unit="us", utc=True)
    reasons = columns["exit_reason"].astype(object)
    reasons[reasons == ""] = None
    frame = pd.DataFrame(
        {
            "side": columns["side"].astype(object),
            "entry_at": pd.to_datetime(columns["entry_us"], unit="us", utc=True),
            "entry_price": columns["entry_price"],
            "exit_at": pd.Series(exit_at).where(exit_us != NO_TIME),
            "exit_price": columns["exit_price"],
            "quantity": columns["quantity"],
            "exit_reason": reasons,
            "pnl": columns["pnl"],
        },
        columns=list(TRADE_COLUMNS),
    )
    return frame


def save_result(session: Session, result: BacktestResult, *, is_demo: bool = False) -> int:
    """Store one backtest with its trades; return the run id."""
    config = result.config_dict()
    run = BacktestRun(
        kind=BacktestKind.SINGLE,
        strategy=result.strategy,
        parameters=dict(result.parameters),
        engine=result.engine.value,
        data_label=result.data_label,
        instrument_id=result.instrument_id,
        timeframe=result.timeframe,
        start_at=result.start.to_pydatetime(),
        end_at=result.end.to_pydatetime(),
        candles=result.candles,
        initial_cash=_decimal(result.config.initial_cash),
        final_equity=_decimal(float(result.equity.iloc[-1])),
        fee_bps=result.config.fee_bps,
        slippage_bps=result.config.slippage_bps,
        config=config,
        metrics=_finite(result.metrics),
        baseline_metrics=_finite(result.baseline_metrics),
        equity_blob=pack_equity(result.equity, result.baseline_equity),
        trades_blob=pack_trades(result.trades),
        trade_count=len(result.trades),
        seconds=result.seconds,
        is_demo=is_demo,
    )
    session.add(run)
    session.flush()
    return run.id


def save_sweep(session: Session, sweep: SweepResult, *, is_demo: bool = False) -> int:
    """Store a parameter sweep (every combination's metrics); return the run id."""
    run = BacktestRun(
        kind=BacktestKind.SWEEP,
        strategy=sweep.strategy,
        parameters={"base": sweep.base_parameters, "grid": sweep.grid},
        engine=sweep.engine.value,
        data_label=sweep.data_label,
        instrument_id=sweep.instrument_id,
        timeframe=sweep.timeframe,
        start_at=sweep.start,
        end_at=sweep.end,
        candles=sweep.candles,
        initial_cash=_decimal(sweep.config.initial_cash),
        final_equity=None,
        fee_bps=sweep.config.fee_bps,
        slippage_bps=sweep.config.slippage_bps,
        config={"position_fraction": sweep.config.position_fraction},
        metrics={},
        baseline_metrics=_finite(sweep.baseline_metrics),
        sweep={
            "names": list(sweep.grid),
            "rows": [{"parameters": row.parameters, "metrics": _finite(row.metrics)} for row in sweep.rows],
        },
        seconds=sweep.seconds,
        is_demo=is_demo,
    )
    session.add(run)
    session.flush()
    return run.id


@dataclass(frozen=True)
class RunSummary:
    """One line of the list of past runs."""

    id: int
    created_at: datetime
    kind: BacktestKind
    strategy: str
    parameters: dict[str, Any]
    data_label: str
    instrument_id: int | None
    timeframe: str
    start_at: datetime
    end_at: datetime
    candles: int
    fee_bps: float
    engine: str
    trades: int
    total_return: float | None
    baseline_return: float | None
    sharpe: float | None
    max_drawdown: float | None


def list_runs(session: Session, *, limit: int = 50) -> list[RunSummary]:
    """Return the newest stored runs first."""
    trade_counts = select(BacktestTrade.run_id, func.count().label("trades")).group_by(BacktestTrade.run_id).subquery()
    counted = func.coalesce(BacktestRun.trade_count, trade_counts.c.trades)
    rows = session.execute(
        select(BacktestRun, counted)
        .outerjoin(trade_counts, trade_counts.c.run_id == BacktestRun.id)
        .order_by(BacktestRun.created_at.desc(), BacktestRun.id.desc())
        .limit(limit)
    ).all()
    return [_summarise(run, int(trades or 0)) for run, trades in rows]


def _summarise(run: BacktestRun, trades: int) -> RunSummary:
    return RunSummary(
        id=run.id,
        created_at=run.created_at,
        kind=run.kind,
        strategy=run.strategy,
        parameters=run.parameters,
        data_label=run.data_label,
        instrument_id=run.instrument_id,
        timeframe=run.timeframe,
        start_at=run.start_at,
        end_at=run.end_at,
        candles=run.candles,
        fee_bps=run.fee_bps,
        engine=run.engine,
        trades=trades,
        total_return=run.metrics.get("total_return"),
        baseline_return=run.baseline_metrics.get("total_return"),
        sharpe=run.metrics.get("sharpe"),
        max_drawdown=run.metrics.get("max_drawdown"),
    )


@dataclass(frozen=True)
class StoredRun:
    """A stored run read back: its row values, equity curves and trades."""

    summary: RunSummary
    config: dict[str, Any]
    metrics: dict[str, Any]
    baseline_metrics: dict[str, Any]
    equity: pd.DataFrame  # columns equity, baseline (empty for sweeps)
    trades: pd.DataFrame  # one row per trade
    sweep: dict[str, Any] | None


TRADE_COLUMNS = ("side", "entry_at", "entry_price", "exit_at", "exit_price", "quantity", "exit_reason", "pnl")


def load_run(session: Session, run_id: int) -> StoredRun | None:
    """Return one stored run, or None."""
    run = session.get(BacktestRun, run_id)
    if run is None:
        return None
    summary = _summarise(run, run.trade_count if run.trade_count is not None else len(run.trades))
    equity = (
        unpack_equity(run.equity_blob)
        if run.equity_blob
        else pd.DataFrame(columns=["equity", "baseline"], index=pd.DatetimeIndex([], tz="UTC"))
    )
    if run.trades_blob is not None:
        trades = unpack_trades(run.trades_blob)
        return StoredRun(summary, run.config, run.metrics, run.baseline_metrics, equity, trades, run.sweep)
    trades = pd.DataFrame(  # a run stored before revision 0240: one row per trade
        [
            {
                "side": trade.side.value,
                "entry_at": trade.entry_at,
                "entry_price": float(trade.entry_price),
                "exit_at": trade.exit_at,
                "exit_price": float(trade.exit_price) if trade.exit_price is not None else None,
                "quantity": float(trade.quantity),
                "exit_reason": trade.exit_reason.value if trade.exit_reason else None,
                "pnl": float(trade.pnl) if trade.pnl is not None else None,
            }
            for trade in run.trades
        ],
        columns=list(TRADE_COLUMNS),
    )
    return StoredRun(summary, run.config, run.metrics, run.baseline_metrics, equity, trades, run.sweep)


def delete_run(session: Session, run_id: int) -> bool:
    """Delete a stored run and its trades; return True if it existed."""
    session.execute(delete(BacktestTrade).where(BacktestTrade.run_id == run_id))
    deleted = session.execute(delete(BacktestRun).where(BacktestRun.id == run_id))
    return bool(deleted.rowcount)  # type: ignore[attr-defined]
