"""What makes ``konsens backtest --data FILE --engine fast`` start fast gives exactly the old results.

The CSV parse runs in a thread while pandas and numba are imported (``start_reading``), the
compiled kernels are loaded on synthetic bars first (``warm_up``), and the results are built
from whole arrays (equity curve, trade statistics, days, the JSON's times).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.backtest import kernels
from core.backtest.data import read_candle_csv, start_reading
from core.backtest.engine import BacktestConfig, EngineKind, Trade, equity_curve, run_fast, warm_up
from core.backtest.results import daily_returns, periods_per_year, run_backtest, trade_dicts, trade_statistics
from core.backtest.series import PriceDataError, PriceSeries
from core.backtest.strategies import build_strategy
from core.backtest.strategy import Indicator, Sma, Strategy
from core.execution.enums import OrderSide
from tests.shared_data import shared_data_path

from .conftest import REAL_FILES, real_series

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", REAL_FILES)
def test_a_file_parsed_in_the_background_gives_the_same_series(name: str) -> None:
    direct = real_series(name)
    path = shared_data_path("ohlcv", name)
    background = read_candle_csv(path, pending=start_reading(path))
    assert background.index.equals(direct.index) and background.index.dtype == direct.index.dtype
    for column in ("open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(background, column), getattr(direct, column))
    assert (background.label, background.timeframe) == (direct.label, direct.timeframe)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("timestamp,open,high,low,close,volume\n2024-01-01,1,2,0.5,x,3\n", "line 2, column 'close'"),
        ("timestamp,open,high,low,close\n2024-01-01,1,2,0.5,1\n", "missing column(s) volume"),
        ("", "empty"),
        ("date;open;high;low;close;volume\n01.02.2024;1,5;2;1;1,5;3\n", None),  # the text path reads it
    ],
)
def test_a_file_pyarrow_declines_gets_the_text_paths_answer(tmp_path: Path, content: str, message: str | None) -> None:
    path = tmp_path / "candles.csv"
    path.write_text(content, encoding="utf-8")
    if message is None:
        direct = read_candle_csv(path)
        background = read_candle_csv(path, pending=start_reading(path))
        assert background.index.equals(direct.index) and np.array_equal(background.open, direct.open)
        return
    with pytest.raises(PriceDataError) as direct_error:
        read_candle_csv(path)
    with pytest.raises(PriceDataError) as background_error:
        read_candle_csv(path, pending=start_reading(path))
    assert str(background_error.value) == str(direct_error.value) and message in str(direct_error.value)


def test_a_missing_file_is_refused_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "nothing.csv"
    with pytest.raises(PriceDataError, match="no such file"):
        read_candle_csv(path, pending=start_reading(path))


def test_warm_up_loads_the_kernels_of_the_run() -> None:
    strategy = build_strategy("bollinger-breakout", {"period": 20})
    warm_up(strategy, BacktestConfig(stop_loss=0.05))
    # a series holds read-only arrays (as pandas 3 hands them out), so the warm-up loads that signature
    types = kernels.numba.types
    float_array = types.Array(types.float64, 1, "C", readonly=True)
    assert any(signature[0] == float_array for signature in kernels.sma.signatures)
    assert kernels.rolling_std.signatures and kernels.simulate_long_only.signatures


class _BrokenIndicators(Strategy):
    name = "broken-indicators"
    title = "Broken"

    def indicators(self) -> dict[str, Indicator]:
        raise RuntimeError("no indicators today")

    def on_bar(self, bar: object) -> None:
        return None


def test_warm_up_leaves_a_strategys_error_to_the_run() -> None:
    warm_up(_BrokenIndicators(), BacktestConfig())  # nothing raised: the run reports it with the file and line
    warm_up(type("Tiny", (_BrokenIndicators,), {"indicators": lambda self: {"fast": Sma(500)}})(), BacktestConfig())


def _loop_equity(bars: PriceSeries, trades: list[Trade], initial_cash: float) -> np.ndarray:
    """The equity curve trade by trade (the code ``equity_curve`` replaced)."""
    cash_change = np.zeros(len(bars))
    quantity_change = np.zeros(len(bars))
    for trade in trades:
        cash_change[trade.entry_index] -= trade.entry_price * trade.quantity + trade.entry_fee
        quantity_change[trade.entry_index] += trade.quantity
        if trade.exit_index is not None and trade.exit_price is not None:
            cash_change[trade.exit_index] += trade.exit_price * trade.quantity - trade.exit_fee
            quantity_change[trade.exit_index] -= trade.quantity
    cash = initial_cash + np.cumsum(cash_change)
    held = np.cumsum(quantity_change)
    held[np.abs(held) < 1e-12] = 0.0
    return cash + held * bars.close


@pytest.mark.parametrize("name", REAL_FILES)
def test_array_results_equal_the_trade_by_trade_ones(name: str) -> None:
    bars = real_series(name)
    config = BacktestConfig(fee_bps=7.0, stop_loss=0.03)
    log = run_fast(build_strategy("sma-cross", {"fast": 5, "slow": 20}), bars, config)
    trades = log.trades
    # an exit and the next entry on the same bar, and an open trade at the end
    trades = [*trades, replace(trades[0], entry_index=trades[-1].exit_index or 0, exit_index=None, exit_price=None)]
    assert np.array_equal(equity_curve(bars, trades, 10_000.0), _loop_equity(bars, trades, 10_000.0))
    statistics = trade_statistics(trades, bars, config)
    last_close = float(bars.close[-1])
    profits = np.array([trade.pnl(last_close) for trade in trades])
    assert statistics["fees_paid"] == float(sum(trade.entry_fee + trade.exit_fee for trade in trades))
    assert statistics["win_rate"] == float(np.mean(profits > 0))
    assert statistics["profit_factor"] == float(profits[profits > 0].sum() / -profits[profits < 0].sum())
    returns = np.array([trade.return_fraction(last_close) for trade in trades])
    assert statistics["average_trade_return"] == float(returns.mean())
    equity = pd.Series(equity_curve(bars, trades, 10_000.0), index=bars.index, name="equity")
    expected = equity.groupby(equity.index.normalize()).last()
    ours = daily_returns(equity, 10_000.0)
    assert ours.index.equals(expected.index)
    assert np.array_equal(ours.to_numpy()[1:], expected.pct_change().to_numpy()[1:])
    assert ours.iloc[0] == expected.iloc[0] / 10_000.0 - 1.0
    assert periods_per_year(bars) == (252 if name in {"SPY_1d.csv", "GOOG_1d.csv", "ORCL_1d.csv"} else 365)


def test_json_times_are_isoformat() -> None:
    start = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    trades = [
        Trade(OrderSide.BUY, 0, start, 10.0, 1.0, 0.01, 5, start + timedelta(microseconds=7), 11.0, 0.01),
        Trade(OrderSide.BUY, 6, datetime(999, 1, 2, tzinfo=UTC), 10.0, 2.0, 0.02),  # open
        Trade(OrderSide.BUY, 7, datetime(2024, 1, 1, tzinfo=timezone(timedelta(0))), 1.0, 1.0, 0.0, 8, start, 2.0),
    ]
    assert trade_dicts(trades) == [trade.to_dict() for trade in trades]
    elsewhere = [replace(trades[0], entry_time=datetime(2024, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))))]
    assert trade_dicts(elsewhere) == [trade.to_dict() for trade in elsewhere]  # not UTC: each by isoformat
    assert trade_dicts([]) == []


def test_the_json_of_a_run_is_unchanged() -> None:
    bars = real_series("ETH_BTC_5m.csv")
    result = run_backtest(build_strategy("sma-cross"), bars, BacktestConfig(), engine=EngineKind.FAST)
    assert result.to_dict()["trades"] == [trade.to_dict() for trade in result.trades]


def test_the_command_module_imports_neither_pandas_nor_numba() -> None:
    code = "import sys, app.cli.backtest; print(sorted({'pandas', 'numba', 'sqlalchemy'} & set(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert output.stdout.strip() == "[]"


def test_to_json_parses_to_what_json_dumps_of_to_dict_gives() -> None:
    import json

    bars = real_series("ETH_BTC_5m.csv")
    config = BacktestConfig(stop_loss=0.02)
    result = run_backtest(build_strategy("sma-cross", {"fast": 5, "slow": 20}), bars, config, engine=EngineKind.FAST)
    start = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    result.trades = [  # times orjson must write as isoformat does: microseconds, year < 1000, other offsets
        *result.trades,
        Trade(OrderSide.BUY, 0, start, 10.0, 1.0, 0.01, 5, start + timedelta(microseconds=7), 11.0, 0.01),
        Trade(OrderSide.BUY, 6, datetime(999, 1, 2, tzinfo=UTC), 10.0, 2.0, 0.02),  # open
        Trade(OrderSide.BUY, 7, datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=1))), 1.0, 1.0, 0.0, 8, start, 2),
    ]
    extra = {"run_id": None, "blocked_orders": {}, "timing": {"total_seconds": 0.5}}
    expected = json.dumps({**result.to_dict(), **extra}, default=str)
    written = result.to_json(extra)
    assert b"\n" not in written
    assert json.loads(written) == json.loads(expected)
    assert list(json.loads(written)) == list(json.loads(expected))  # the same keys in the same order
    assert json.loads(result.to_json(extra, indent=True)) == json.loads(expected)
