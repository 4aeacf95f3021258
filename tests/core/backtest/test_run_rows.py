"""Runs are written through SQLAlchemy Core (``core.backtest.run_rows``) and read back as the ORM wrote them.

- The Core table has the model's columns: names, types, lengths, nullability, primary keys.
- A run and a sweep stored through Core equal the same run written as ORM instances (the way
  ``save_sweep`` and the per-trade rows were written before): every column read back through the
  models, and everything the Backtest page's loader (``load_run`` / ``list_runs``) returns.
- The archives hold exactly what the previous writer packed (a frozen copy of it is below).
- Storing a run on a Core connection imports neither ``sqlalchemy.orm`` nor the models.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
import zipfile
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Enum, Table

import core.backtest.store as store
from core.backtest.engine import BacktestConfig
from core.backtest.models import BacktestKind, BacktestRun
from core.backtest.results import BacktestResult, run_backtest
from core.backtest.run_rows import BACKTEST_RUNS
from core.backtest.store import (
    _REASON_CODES,
    _REASONS,
    _SIDE_CODES,
    _SIDES,
    _SIGNS,
    NO_TIME,
    StoredRun,
    list_runs,
    load_run,
    pack_equity,
    pack_trades,
    save_result,
    save_sweep,
)
from core.backtest.strategies import build_strategy
from core.backtest.sweep import SweepResult, run_sweep
from core.backtest.trades import Trade
from core.db.engine import Database
from core.db.registry import import_all_models
from core.timeutil import utc_now
from tests.shared_data import shared_data_path

from .conftest import real_series

ROOT = Path(__file__).resolve().parents[3]


def test_the_core_table_has_the_models_columns() -> None:
    import_all_models()  # a foreign key column takes its type from the referred table
    core, real = BACKTEST_RUNS, BacktestRun.__table__
    assert isinstance(real, Table) and core.name == real.name
    assert [column.name for column in core.c] == [column.name for column in real.c]
    for column in core.c:
        twin = real.c[column.name]
        assert type(column.type) is type(twin.type), column.name
        assert getattr(column.type, "length", None) == getattr(twin.type, "length", None), column.name
        assert column.nullable == twin.nullable and column.primary_key == twin.primary_key, column.name
        if isinstance(column.type, Enum):
            assert isinstance(twin.type, Enum)
            assert column.type.enum_class is twin.type.enum_class and column.type.enums == twin.type.enums
            assert not column.type.native_enum and not twin.type.native_enum


# The writer before the Core tables, frozen: the archives must keep holding exactly this.
def _archive(columns: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, values in columns.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(values), allow_pickle=False)
    return buffer.getvalue()


def _previous_pack_equity(equity: pd.Series, baseline: pd.Series) -> bytes:
    positions: np.ndarray = np.arange(len(equity))
    if len(equity) > store.MAX_STORED_POINTS:
        positions = np.unique(np.linspace(0, len(equity) - 1, store.MAX_STORED_POINTS).round().astype(np.int64))
    seconds = (equity.index[positions] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    return _archive(
        {
            "ts": np.asarray(seconds, dtype=np.int64),
            "equity": equity.to_numpy(dtype=np.float64)[positions],
            "baseline": baseline.to_numpy(dtype=np.float64)[positions],
        }
    )


def _previous_pack_trades(trades: list[Trade], index: pd.DatetimeIndex) -> bytes:
    rows = [
        (
            trade.entry_index,
            -1 if trade.exit_index is None else trade.exit_index,
            _SIDE_CODES[trade.side],
            _REASON_CODES[trade.exit_reason],
            trade.entry_price,
            trade.quantity,
            trade.entry_fee,
            math.nan if trade.exit_price is None else trade.exit_price,
            trade.exit_fee,
        )
        for trade in trades
    ]
    table = np.array(rows, dtype=np.float64).reshape(len(trades), 9)
    codes = table[:, :4].astype(np.int64)
    entry_index, exit_index = codes[:, 0], codes[:, 1]
    entry_price, quantity, entry_fee, exit_price, exit_fee = (np.ascontiguousarray(table[:, i]) for i in range(4, 9))
    microseconds = index.as_unit("us").asi8
    is_open = exit_index < 0
    pnl = (exit_price - entry_price) * quantity * _SIGNS[codes[:, 2]] - entry_fee - exit_fee
    pnl[is_open] = math.nan
    return _archive(
        {
            "entry_us": microseconds[entry_index],
            "exit_us": np.where(is_open, NO_TIME, microseconds[np.where(is_open, 0, exit_index)]),
            "entry_index": entry_index,
            "exit_index": exit_index,
            "side": codes[:, 2].astype(np.int8),
            "exit_reason": codes[:, 3].astype(np.int8),
            "side_names": np.array([side.value for side in _SIDES]),
            "exit_reason_names": np.array([reason.value if reason else "" for reason in _REASONS]),
            "entry_price": entry_price,
            "quantity": quantity,
            "entry_fee": entry_fee,
            "exit_price": exit_price,
            "exit_fee": exit_fee,
            "pnl": pnl,
        }
    )


def _members(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _assert_same_archive(blob: bytes | None, expected: bytes | None) -> None:
    """Same members in the same order, each of the same dtype and shape and equal bit for bit."""
    assert blob is not None and expected is not None
    ours, theirs = _members(blob), _members(expected)
    assert list(ours) == list(theirs)
    for name, values in ours.items():
        assert values.dtype == theirs[name].dtype and values.shape == theirs[name].shape, name
        assert values.tobytes() == theirs[name].tobytes(), name


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None or not math.isfinite(value) else Decimal(repr(float(value)))


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    return {key: (float(value) if math.isfinite(value) else None) for key, value in values.items()}


def _orm_run(result: BacktestResult) -> BacktestRun:
    """The run as an ORM instance, the way runs were written before the Core tables."""
    return BacktestRun(
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
        config=result.config_dict(),
        metrics=_finite(result.metrics),
        baseline_metrics=_finite(result.baseline_metrics),
        equity_blob=_previous_pack_equity(result.equity, result.baseline_equity),
        trades_blob=_previous_pack_trades(result.trades, result.equity.index),
        trade_count=len(result.trades),
        seconds=result.seconds,
        is_demo=False,
    )


def _orm_sweep(sweep: SweepResult) -> BacktestRun:
    """A sweep as ``save_sweep`` wrote it through the ORM before."""
    return BacktestRun(
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
            "overfitting": sweep.overfitting.to_dict() if sweep.overfitting is not None else None,
            "overfitting_verdict": sweep.overfitting.verdict() if sweep.overfitting is not None else None,
        },
        seconds=sweep.seconds,
        is_demo=False,
    )


BLOBS = ("equity_blob", "trades_blob")


def _assert_same_rows(ours: BacktestRun, theirs: BacktestRun) -> None:
    """Every column equal (blobs by content: a zip member records when it was written), but id and created_at."""
    for column in BACKTEST_RUNS.c:
        name = column.name
        if name in ("id", "created_at"):
            continue
        if name in BLOBS and getattr(theirs, name) is not None:
            _assert_same_archive(getattr(ours, name), getattr(theirs, name))
        else:
            assert getattr(ours, name) == getattr(theirs, name), name
            assert type(getattr(ours, name)) is type(getattr(theirs, name)), name


def _assert_same_loaded(ours: StoredRun, theirs: StoredRun) -> None:
    """What the Backtest page shows of a run: equal but for its id and time of storing."""
    assert replace(ours.summary, id=0, created_at=theirs.summary.created_at) == replace(theirs.summary, id=0)
    assert (ours.config, ours.metrics, ours.baseline_metrics, ours.sweep) == (
        theirs.config,
        theirs.metrics,
        theirs.baseline_metrics,
        theirs.sweep,
    )
    pd.testing.assert_frame_equal(ours.equity, theirs.equity, check_exact=True)
    pd.testing.assert_frame_equal(ours.trades, theirs.trades, check_exact=True)


def _run_with_every_kind_of_trade() -> BacktestResult:
    """A stop-loss run on real 5-minute bars with an open trade at the end (every code path of the archive)."""
    bars = real_series("ETH_BTC_5m.csv")
    config = BacktestConfig(fee_bps=10.0, stop_loss=0.01)
    result = run_backtest(build_strategy("sma-cross", {"fast": 5, "slow": 20}), bars, config)
    last = result.trades[-1]
    result.trades = [
        *result.trades,
        replace(last, exit_index=None, exit_time=None, exit_price=None, exit_fee=0.0, exit_reason=None),
    ]
    return result


def test_a_run_stored_through_core_equals_the_orm_written_run(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "MAX_STORED_POINTS", 1_000)  # the curve is thinned too
    result = _run_with_every_kind_of_trade()
    assert len(result.equity) > 1_000 and {trade.exit_reason for trade in result.trades} >= {None}
    before = utc_now()
    with database.engine.begin() as connection:
        core_id = save_result(connection, result)
    with database.session() as session:
        reference = _orm_run(result)
        session.add(reference)
        session.flush()
        orm_id = reference.id
    assert orm_id == core_id + 1  # the same id sequence: ids are the table's own
    with database.session() as session:
        ours, theirs = session.get(BacktestRun, core_id), session.get(BacktestRun, orm_id)
        assert ours is not None and theirs is not None
        _assert_same_rows(ours, theirs)
        assert ours.kind is BacktestKind.SINGLE and ours.trades == [] and before <= ours.created_at <= utc_now()
        loaded_ours, loaded_theirs = load_run(session, core_id), load_run(session, orm_id)
        listed = {run.id: run for run in list_runs(session)}
    assert loaded_ours is not None and loaded_theirs is not None
    _assert_same_loaded(loaded_ours, loaded_theirs)
    assert len(loaded_ours.equity) == 1_000 and loaded_ours.summary.trades == len(result.trades)
    assert replace(listed[core_id], id=0, created_at=before) == replace(listed[orm_id], id=0, created_at=before)


def test_a_sweep_stored_through_core_equals_the_orm_written_sweep(database: Database) -> None:
    sweep = run_sweep("rsi-reversion", {"period": [7, 14], "lower": [20, 30]}, real_series("SPY_1d.csv"))
    with database.session() as session:  # the page and the jobs store through their ORM session
        core_id = save_sweep(session, sweep)
        reference = _orm_sweep(sweep)
        session.add(reference)
        session.flush()
        orm_id = reference.id
    with database.session() as session:
        ours, theirs = session.get(BacktestRun, core_id), session.get(BacktestRun, orm_id)
        assert ours is not None and theirs is not None
        _assert_same_rows(ours, theirs)
        assert ours.kind is BacktestKind.SWEEP and ours.equity_blob is None and ours.trades_blob is None
        loaded_ours, loaded_theirs = load_run(session, core_id), load_run(session, orm_id)
    assert loaded_ours is not None and loaded_theirs is not None
    _assert_same_loaded(loaded_ours, loaded_theirs)


def test_the_archives_hold_what_the_previous_writer_packed(monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run_with_every_kind_of_trade()
    _assert_same_archive(  # a curve kept whole
        pack_equity(result.equity, result.baseline_equity),
        _previous_pack_equity(result.equity, result.baseline_equity),
    )
    monkeypatch.setattr(store, "MAX_STORED_POINTS", 1_000)  # and one thinned
    _assert_same_archive(
        pack_trades(result.trades, result.equity.index), _previous_pack_trades(result.trades, result.equity.index)
    )
    _assert_same_archive(
        pack_equity(result.equity, result.baseline_equity),
        _previous_pack_equity(result.equity, result.baseline_equity),
    )
    assert len(_members(pack_equity(result.equity, result.baseline_equity))["ts"]) == store.MAX_STORED_POINTS
    _assert_same_archive(pack_trades([], result.equity.index), _previous_pack_trades([], result.equity.index))
    # Timestamps of other units and before 1970 floor to the second the same way.
    index = pd.DatetimeIndex(["1969-12-31 23:59:59.5", "2024-01-01 00:00:00.25"], tz="UTC").as_unit("ms")
    curve = pd.Series([1.0, 2.0], index=index)
    _assert_same_archive(pack_equity(curve, curve), _previous_pack_equity(curve, curve))


def test_storing_a_run_on_a_core_connection_imports_no_orm(sqlite_database: Database) -> None:
    probe = (
        "import json, sys\n"
        "from core.backtest.data import read_candle_csv\n"
        "from core.backtest.results import run_backtest\n"
        "from core.backtest.strategies import build_strategy\n"
        "from core.backtest.store import save_result\n"
        "from core.db.engine import Database\n"
        f"database = Database({sqlite_database.url!r}, instrument=False)\n"
        f"bars = read_candle_csv({str(shared_data_path('ohlcv', 'GOOG_1d.csv'))!r})\n"
        "result = run_backtest(build_strategy('sma-cross'), bars)\n"
        "with database.engine.begin() as connection:\n"
        "    run_id = save_result(connection, result)\n"
        "print(json.dumps([run_id, len(result.trades), sorted(sys.modules)]))\n"
    )
    output = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    run_id, trades, modules = json.loads(output.strip().splitlines()[-1])
    assert "sqlalchemy.orm" not in modules and "core.backtest.models" not in modules
    with sqlite_database.session() as session:
        stored = load_run(session, run_id)
    assert stored is not None and stored.summary.trades == trades > 0
