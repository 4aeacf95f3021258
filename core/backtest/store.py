"""Store backtests and read them back, so past runs can be listed and compared.

The equity curve and its buy-and-hold baseline are kept as one numpy archive per run
(``equity_blob``): timestamps in epoch seconds plus two float arrays. Curves longer than
``MAX_STORED_POINTS`` are thinned evenly (first and last point kept) before storing; the trades
and metrics are always complete.

The trades are one columnar archive too (``trades_blob``, ``trade_count``; revision 0240): one
array per field, written in one go. A row per trade through the ORM cost about three times the
backtest itself at 20,000 trades; the archive costs a few per cent. They hold the engine's own
floats (bit for bit what the run computed). Runs stored before 0240 keep their
``backtest_trades`` rows and are read back the same way.

Writing goes through SQLAlchemy Core (the table of :mod:`core.backtest.run_rows`): a run is one
``INSERT`` on a Core ``Connection`` (or an ORM ``Session``: the page and the jobs pass theirs).
Importing this module imports neither ``sqlalchemy.orm`` nor the models, so a command storing a run
configures no mapper; the readers (:func:`list_runs`, :func:`load_run`) load the models when called.
"""

from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import delete, insert

from core.backtest.run_rows import BACKTEST_RUNS, BacktestKind
from core.execution.enums import ExitReason, OrderSide
from core.timeutil import utc_now

if TYPE_CHECKING:
    from sqlalchemy import Connection, CursorResult
    from sqlalchemy.orm import Session

    from core.backtest.models import BacktestRun
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


_PER_SECOND = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}  # ticks of a DatetimeIndex unit per second


def pack_equity(equity: pd.Series, baseline: pd.Series) -> bytes:
    """Archive an equity curve and its baseline (thinned to ``MAX_STORED_POINTS``; runs stored before 0240
    hold a deflated archive, read the same way).

    Only the kept points are converted: their epoch seconds come from the index's integers (floored
    like ``(t - epoch) // 1 s``), not from timestamp arithmetic over the whole curve.
    """
    positions: np.ndarray = np.arange(len(equity))
    if len(equity) > MAX_STORED_POINTS:
        positions = np.unique(np.linspace(0, len(equity) - 1, MAX_STORED_POINTS).round().astype(np.int64))
    index = pd.DatetimeIndex(equity.index)
    return _archive(
        {
            "ts": np.floor_divide(index.asi8[positions], _PER_SECOND[index.unit]),
            "equity": equity.to_numpy(dtype=np.float64)[positions],
            "baseline": baseline.to_numpy(dtype=np.float64)[positions],
        }
    )


def unpack_equity(blob: bytes) -> pd.DataFrame:
    """Return the stored curves as a frame with columns ``equity`` and ``baseline`` by UTC time."""
    with np.load(io.BytesIO(blob)) as archive:
        index = pd.DatetimeIndex(pd.to_datetime(archive["ts"], unit="s", utc=True), name="ts")
        return pd.DataFrame({"equity": archive["equity"], "baseline": archive["baseline"]}, index=index)


TRADE_FLOAT_FIELDS = ("entry_price", "quantity", "entry_fee", "exit_price", "exit_fee", "pnl")
NO_TIME = np.iinfo(np.int64).min  # an open trade's exit time in the archive


_SIDES = tuple(OrderSide)
_SIDE_CODES = {side: code for code, side in enumerate(_SIDES)}
_SIGNS = np.array([float(side.sign) for side in _SIDES])
_REASONS = (None, *ExitReason)
_REASON_CODES = {reason: code for code, reason in enumerate(_REASONS)}


def pack_trades(trades: list[Trade], index: pd.DatetimeIndex) -> bytes:
    """Archive trades as columns: times in epoch microseconds, floats, side and exit reason as codes.

    ``index`` is the bars' index the trades' bar numbers point into (their times are its entries).
    Each field is read from the trade objects straight into its array (``np.fromiter``: no row
    tuples, so no garbage for the collector to walk at 20,000 trades); everything else is
    vectorised (P&L as ``Trade.pnl`` computes it).
    """
    count, nan = len(trades), math.nan

    def floats(values: Any) -> np.ndarray:
        return np.fromiter(values, np.float64, count)

    def integers(values: Any) -> np.ndarray:
        return np.fromiter(values, np.int64, count)

    entry_index = integers(trade.entry_index for trade in trades)
    exit_index = integers(-1 if trade.exit_index is None else trade.exit_index for trade in trades)
    sides = integers(_SIDE_CODES[trade.side] for trade in trades)
    exit_reason = integers(_REASON_CODES[trade.exit_reason] for trade in trades)
    entry_price = floats(trade.entry_price for trade in trades)
    quantity = floats(trade.quantity for trade in trades)
    entry_fee = floats(trade.entry_fee for trade in trades)
    exit_price = floats(nan if trade.exit_price is None else trade.exit_price for trade in trades)
    exit_fee = floats(trade.exit_fee for trade in trades)
    is_open = exit_index < 0
    pnl = (exit_price - entry_price) * quantity * _SIGNS[sides] - entry_fee - exit_fee
    pnl[is_open] = nan
    columns: dict[str, np.ndarray] = {  # only the trades' times are converted, not the whole index
        "entry_us": index[entry_index].as_unit("us").asi8,
        "exit_us": np.where(is_open, NO_TIME, index[np.where(is_open, 0, exit_index)].as_unit("us").asi8),
        "entry_index": entry_index,
        "exit_index": exit_index,
        "side": sides.astype(np.int8),  # positions in side_names
        "exit_reason": exit_reason.astype(np.int8),  # positions in exit_reason_names ("" while open)
        "side_names": np.array([side.value for side in _SIDES]),
        "exit_reason_names": np.array([reason.value if reason else "" for reason in _REASONS]),
        "entry_price": entry_price,
        "quantity": quantity,
        "entry_fee": entry_fee,
        "exit_price": exit_price,
        "exit_fee": exit_fee,
        "pnl": pnl,
    }
    return _archive(columns)


def _archive(columns: dict[str, np.ndarray]) -> bytes:
    """An undeflated ``.npz`` archive (``np.load`` reads it, like the deflated ones of older runs).

    Random float mantissas barely compress (about 0.6 of their size at level 6), and deflating took
    most of the time of storing a run, so runs are stored undeflated (about 74 bytes a trade and
    24 bytes an equity point, at most 20,000 points).
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, values in columns.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(values), allow_pickle=False)
    return buffer.getvalue()


def unpack_trades(blob: bytes) -> pd.DataFrame:
    """Return archived trades as the frame ``load_run`` gives (``TRADE_COLUMNS``; NaN/None when open)."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        columns = {name: archive[name] for name in archive.files}
    exit_us = columns["exit_us"]
    columns["side"] = columns["side_names"][columns["side"]]
    columns["exit_reason"] = columns["exit_reason_names"][columns["exit_reason"]]
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


def _insert_run(connection: Connection | Session, values: dict[str, Any]) -> int:
    """One Core ``INSERT`` of a ``backtest_runs`` row (every column given); return its id."""
    inserted = cast("CursorResult[Any]", connection.execute(insert(BACKTEST_RUNS), values))
    key = inserted.inserted_primary_key
    if key is None:  # an INSERT of one row always has its key
        raise RuntimeError("the database returned no key for the stored run")
    return int(key[0])


def save_result(connection: Connection | Session, result: BacktestResult, *, is_demo: bool = False) -> int:
    """Store one backtest with its trades in the caller's transaction; return the run id.

    ``connection``: a Core ``Connection`` in a transaction (``Database.engine.begin()``, what
    ``konsens backtest`` uses: no ORM) or an ORM ``Session`` (the page, jobs, the demo data).
    """
    values = {
        "created_at": utc_now(),
        "kind": BacktestKind.SINGLE,
        "strategy": result.strategy,
        "parameters": dict(result.parameters),
        "engine": result.engine.value,
        "data_label": result.data_label,
        "instrument_id": result.instrument_id,
        "timeframe": result.timeframe,
        "start_at": result.start.to_pydatetime(),
        "end_at": result.end.to_pydatetime(),
        "candles": result.candles,
        "initial_cash": _decimal(result.config.initial_cash),
        "final_equity": _decimal(float(result.equity.iloc[-1])),
        "fee_bps": result.config.fee_bps,
        "slippage_bps": result.config.slippage_bps,
        "config": result.config_dict(),
        "metrics": _finite(result.metrics),
        "baseline_metrics": _finite(result.baseline_metrics),
        "equity_blob": pack_equity(result.equity, result.baseline_equity),
        "trades_blob": pack_trades(result.trades, result.equity.index),
        "trade_count": len(result.trades),
        "sweep": None,
        "seconds": result.seconds,
        "is_demo": is_demo,
    }
    return _insert_run(connection, values)


def save_sweep(connection: Connection | Session, sweep: SweepResult, *, is_demo: bool = False) -> int:
    """Store a parameter sweep (every combination's metrics) in the caller's transaction; return the run id."""
    values = {
        "created_at": utc_now(),
        "kind": BacktestKind.SWEEP,
        "strategy": sweep.strategy,
        "parameters": {"base": sweep.base_parameters, "grid": sweep.grid},
        "engine": sweep.engine.value,
        "data_label": sweep.data_label,
        "instrument_id": sweep.instrument_id,
        "timeframe": sweep.timeframe,
        "start_at": sweep.start,
        "end_at": sweep.end,
        "candles": sweep.candles,
        "initial_cash": _decimal(sweep.config.initial_cash),
        "final_equity": None,
        "fee_bps": sweep.config.fee_bps,
        "slippage_bps": sweep.config.slippage_bps,
        "config": {"position_fraction": sweep.config.position_fraction},
        "metrics": {},
        "baseline_metrics": _finite(sweep.baseline_metrics),
        "equity_blob": None,
        "trades_blob": None,
        "trade_count": None,
        "sweep": {
            "names": list(sweep.grid),
            "rows": [{"parameters": row.parameters, "metrics": _finite(row.metrics)} for row in sweep.rows],
            "overfitting": sweep.overfitting.to_dict() if sweep.overfitting is not None else None,
            "overfitting_verdict": sweep.overfitting.verdict() if sweep.overfitting is not None else None,
        },
        "seconds": sweep.seconds,
        "is_demo": is_demo,
    }
    return _insert_run(connection, values)


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
    from sqlalchemy import func, select

    from core.backtest.models import BacktestRun, BacktestTrade

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
    from core.backtest.models import BacktestRun

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
    """Delete a stored run and its trades (rows of runs stored before 0240); return True if it existed.

    ORM-enabled deletes: a run already loaded in ``session`` leaves it too.
    """
    from core.backtest.models import BacktestRun, BacktestTrade

    session.execute(delete(BacktestTrade).where(BacktestTrade.run_id == run_id))
    deleted = session.execute(delete(BacktestRun).where(BacktestRun.id == run_id))
    return bool(deleted.rowcount)  # type: ignore[attr-defined]
