"""The cross-check: our engine and backtrader make identical trades on the real data."""

from __future__ import annotations

import pytest

from core.backtest.backtrader_bridge import run_backtrader
from core.backtest.compare import first_difference
from core.backtest.engine import BacktestConfig, run_event_loop, run_fast
from core.backtest.series import PriceSeries
from core.backtest.strategies import build_strategy
from core.backtest.strategy import StrategyError

from .conftest import real_series


def test_sma_cross_trades_are_identical_to_backtrader_on_every_real_file(real_bars: PriceSeries) -> None:
    strategy = build_strategy("sma-cross", {"fast": 10, "slow": 30})
    config = BacktestConfig(fee_bps=10.0)
    ours = run_event_loop(strategy, real_bars, config)
    theirs = run_backtrader(strategy, real_bars, config)
    assert len(ours.trades) > 20
    assert first_difference(ours.trades, theirs.trades) is None
    assert first_difference(run_fast(strategy, real_bars, config).trades, theirs.trades) is None
    assert ours.final_cash == pytest.approx(theirs.final_cash, rel=1e-9)
    assert ours.rejected_orders == theirs.rejected_orders


@pytest.mark.parametrize(
    ("file_name", "name", "params"),
    [
        ("GOOG_1d.csv", "sma-cross", {"fast": 20, "slow": 50}),  # has entries rejected after gaps
        ("ORCL_1d.csv", "rsi-reversion", {}),
        ("ADA_BTC_5m.csv", "bollinger-breakout", {"period": 30, "width": 1.5}),
    ],
)
def test_other_strategies_match_backtrader_with_fees_and_slippage(
    file_name: str, name: str, params: dict[str, object]
) -> None:
    bars = real_series(file_name)
    strategy = build_strategy(name, params)
    config = BacktestConfig(fee_bps=25.0, slippage_bps=5.0)
    ours = run_event_loop(strategy, bars, config)
    theirs = run_backtrader(strategy, bars, config)
    assert len(ours.trades) > 5
    assert first_difference(ours.trades, theirs.trades) is None


def test_entries_rejected_after_a_gap_are_the_same_in_both() -> None:
    real_bars = real_series("GOOG_1d.csv")
    strategy = build_strategy("sma-cross", {"fast": 10, "slow": 30})
    config = BacktestConfig(fee_bps=10.0, position_fraction=1.0)
    ours = run_event_loop(strategy, real_bars, config)
    theirs = run_backtrader(strategy, real_bars, config)
    assert ours.rejected_orders > 0 and ours.rejected_orders == theirs.rejected_orders
    assert first_difference(ours.trades, theirs.trades) is None


def test_bridge_refuses_protective_exits() -> None:
    with pytest.raises(StrategyError, match="signal orders only"):
        run_backtrader(build_strategy("sma-cross"), real_series("SPY_1d.csv"), BacktestConfig(stop_loss=0.05))
