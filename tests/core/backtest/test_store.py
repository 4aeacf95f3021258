from __future__ import annotations

import pytest

from core.backtest.engine import BacktestConfig
from core.backtest.models import BacktestKind
from core.backtest.results import run_backtest
from core.backtest.store import delete_run, list_runs, load_run, save_result, save_sweep
from core.backtest.strategies import build_strategy
from core.backtest.sweep import run_sweep
from core.db.engine import Database

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
