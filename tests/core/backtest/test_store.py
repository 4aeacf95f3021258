from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import func, insert, select

from core.backtest.engine import BacktestConfig
from core.backtest.models import BacktestKind, BacktestRun, BacktestTrade
from core.backtest.results import run_backtest
from core.backtest.store import TRADE_COLUMNS, delete_run, list_runs, load_run, save_result, save_sweep
from core.backtest.strategies import build_strategy
from core.backtest.sweep import run_sweep
from core.backtest.trades import Trade
from core.db.engine import Database
from core.execution.enums import ExitReason

from .conftest import real_series


def test_a_stored_run_reads_back_with_its_trades_equity_and_metrics(database: Database) -> None:
    bars = real_series("GOOG_1d.csv")
    result = run_backtest(build_strategy("sma-cross", {"fast": 10, "slow": 40}), bars, BacktestConfig(fee_bps=15.0))
    with database.session() as session:
        run_id = save_result(session, result)
    with database.session() as session:
        stored = load_run(session, run_id)
        runs = list_runs(session)
    assert stored is not None
    assert stored.summary.strategy == "sma-cross" and stored.summary.parameters == {"fast": 10, "slow": 40}
    assert stored.summary.trades == len(result.trades) and stored.summary.fee_bps == 15.0
    assert stored.summary.data_label == "GOOG_1d.csv" and stored.summary.kind is BacktestKind.SINGLE
    assert stored.metrics["total_return"] == pytest.approx(result.metrics["total_return"])
    assert len(stored.equity) == len(bars)
    assert stored.equity["equity"].iloc[-1] == pytest.approx(result.equity.iloc[-1])
    assert stored.equity["baseline"].iloc[-1] == pytest.approx(result.baseline_equity.iloc[-1])
    first = result.trades[0]
    assert stored.trades.iloc[0]["entry_at"] == first.entry_time
    assert stored.trades.iloc[0]["entry_price"] == pytest.approx(first.entry_price, rel=1e-15)
    assert stored.trades.iloc[0]["pnl"] == pytest.approx(first.pnl(), rel=1e-9)
    assert [run.id for run in runs] == [run_id]
    with database.session() as session:
        assert delete_run(session, run_id)
    with database.session() as session:
        assert load_run(session, run_id) is None and list_runs(session) == []


def test_a_sweep_is_stored_with_every_combination(database: Database) -> None:
    sweep = run_sweep("rsi-reversion", {"period": [7, 14], "lower": [20, 30]}, real_series("SPY_1d.csv"))
    with database.session() as session:
        run_id = save_sweep(session, sweep)
    with database.session() as session:
        stored = load_run(session, run_id)
    assert stored is not None and stored.summary.kind is BacktestKind.SWEEP
    assert stored.sweep is not None and stored.sweep["names"] == ["period", "lower"]
    assert len(stored.sweep["rows"]) == 4
    assert stored.equity.empty and stored.trades.empty


def test_long_equity_curves_are_thinned_when_stored(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    import core.backtest.store as store

    monkeypatch.setattr(store, "MAX_STORED_POINTS", 500)
    bars = real_series("ETH_BTC_5m.csv")
    result = run_backtest(build_strategy("sma-cross"), bars)
    with database.session() as session:
        run_id = save_result(session, result)
    with database.session() as session:
        stored = load_run(session, run_id)
    assert stored is not None and len(stored.equity) == 500
    assert stored.equity.index[0] == bars.index[0] and stored.equity.index[-1] == bars.index[-1]
    assert stored.summary.trades == len(result.trades)  # trades are never thinned


def _legacy_rows(run_id: int, trades: list[Trade]) -> list[dict[str, object]]:
    """The rows ``save_result`` wrote per trade before revision 0240."""
    return [
        {
            "run_id": run_id,
            "sequence": sequence,
            "side": trade.side,
            "entry_at": trade.entry_time,
            "entry_price": Decimal(repr(trade.entry_price)),
            "quantity": Decimal(repr(trade.quantity)),
            "entry_fee": Decimal(repr(trade.entry_fee)),
            "exit_at": trade.exit_time,
            "exit_price": None if trade.exit_price is None else Decimal(repr(trade.exit_price)),
            "exit_fee": Decimal(repr(trade.exit_fee)),
            "exit_reason": trade.exit_reason,
            "pnl": None if trade.is_open else Decimal(repr(trade.pnl())),
        }
        for sequence, trade in enumerate(trades, start=1)
    ]


def test_trades_are_one_archive_and_read_back_as_the_rows_of_older_runs_are(database: Database) -> None:
    bars = real_series("ETH_BTC_5m.csv")
    # A stop-loss and an open trade at the end: exit reasons of several kinds and a missing exit.
    config = BacktestConfig(fee_bps=10.0, stop_loss=0.01)
    result = run_backtest(build_strategy("sma-cross", {"fast": 5, "slow": 20}), bars, config)
    trades = [
        *result.trades,
        replace(result.trades[-1], exit_index=None, exit_time=None, exit_price=None, exit_fee=0.0, exit_reason=None),
    ]
    result.trades = trades
    assert {trade.exit_reason for trade in trades} >= {ExitReason.SIGNAL, ExitReason.STOP_LOSS, None}
    with database.session() as session:
        run_id = save_result(session, result)
        legacy_id = save_result(session, result)
        legacy = session.get(BacktestRun, legacy_id)
        assert legacy is not None
        legacy.trades_blob, legacy.trade_count = None, None  # as a run stored before 0240
        session.flush()
        session.execute(insert(BacktestTrade), _legacy_rows(legacy_id, trades))
    with database.session() as session:
        rows_of_run = select(func.count()).select_from(BacktestTrade).where(BacktestTrade.run_id == run_id)
        assert session.scalar(rows_of_run) == 0
        archived, rows = load_run(session, run_id), load_run(session, legacy_id)
        counts = {run.id: run.trades for run in list_runs(session)}
    assert archived is not None and rows is not None
    assert counts == {run_id: len(trades), legacy_id: len(trades)}
    assert archived.summary.trades == rows.summary.trades == len(trades)
    # The rows are Decimal columns (PostgreSQL rounds money to its scale); the archive keeps the floats.
    pd.testing.assert_frame_equal(archived.trades, rows.trades, check_exact=False, rtol=1e-9, atol=1e-6)
    assert archived.trades["entry_price"].tolist() == [trade.entry_price for trade in trades]  # bit for bit
    closed = [not trade.is_open for trade in trades]
    assert archived.trades["pnl"][closed].tolist() == [trade.pnl() for trade in trades if not trade.is_open]
    last = archived.trades.iloc[-1]
    assert pd.isna(last["exit_at"]) and pd.isna(last["exit_price"]) and pd.isna(last["exit_reason"])
    with database.session() as session:
        assert delete_run(session, run_id) and delete_run(session, legacy_id)


def test_a_run_without_trades_is_stored(database: Database) -> None:
    bars = real_series("GOOG_1d.csv")
    result = run_backtest(build_strategy("sma-cross", {"fast": 10, "slow": 40}), bars, BacktestConfig())
    result.trades = []
    with database.session() as session:
        run_id = save_result(session, result)
    with database.session() as session:
        stored = load_run(session, run_id)
    assert stored is not None and stored.summary.trades == 0 and stored.trades.empty
    assert list(stored.trades.columns) == list(TRADE_COLUMNS)
