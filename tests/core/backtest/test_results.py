from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core.backtest.engine import BacktestConfig, EngineKind
from core.backtest.results import daily_returns, format_metric, periods_per_year, run_backtest
from core.backtest.series import PriceSeries
from core.backtest.strategies import build_strategy
from core.risk import metrics as risk

from .conftest import real_series


def test_result_holds_trades_equity_baseline_and_risk_metrics() -> None:
    bars = real_series("SPY_1d.csv")
    config = BacktestConfig(initial_cash=10_000.0, fee_bps=10.0)
    result = run_backtest(build_strategy("sma-cross", {"fast": 20, "slow": 100}), bars, config)
    assert len(result.equity) == len(bars) == len(result.baseline_equity)
    # Flat at the end or not: the last equity is the cash plus the open position at the last close.
    last = result.trades[-1]
    closed_pnl = sum(trade.pnl() for trade in result.trades if not trade.is_open)
    open_value = (
        0.0 if not last.is_open else last.quantity * bars.close[-1] - last.entry_price * last.quantity - last.entry_fee
    )
    assert result.equity.iloc[-1] == pytest.approx(10_000.0 + closed_pnl + open_value, rel=1e-9)
    assert result.metrics["total_return"] == pytest.approx(result.equity.iloc[-1] / result.equity.iloc[0] - 1)
    returns = daily_returns(result.equity)
    assert periods_per_year(bars) == 252
    assert result.metrics["sharpe"] == risk.sharpe_ratio(returns, 252)
    assert result.metrics["sortino"] == risk.sortino_ratio(returns, 252)
    assert result.metrics["cagr"] == risk.cagr(returns, 252)
    assert result.metrics["var_95"] == risk.value_at_risk(returns, 0.95)
    assert result.metrics["max_drawdown"] == pytest.approx(float(result.drawdown().min()))
    assert -1 < result.metrics["max_drawdown"] < 0
    assert result.metrics["trades"] == len(result.trades)
    assert 0 <= result.metrics["win_rate"] <= 1


def test_buy_and_hold_baseline_buys_at_the_first_open_and_holds() -> None:
    bars = real_series("GOOG_1d.csv")
    config = BacktestConfig(initial_cash=10_000.0, fee_bps=10.0, position_fraction=1.0)
    result = run_backtest(build_strategy("sma-cross"), bars, config)
    quantity = 10_000.0 / (bars.open[0] * 1.001)
    fee = quantity * bars.open[0] * 0.001
    expected = 10_000.0 - quantity * bars.open[0] - fee + quantity * bars.close[-1]
    assert result.baseline_equity.iloc[-1] == pytest.approx(expected)
    assert result.baseline_metrics["trades"] == 1
    assert result.baseline_metrics["exposure"] == 1.0


def test_crypto_data_is_annualised_with_365_days() -> None:
    assert periods_per_year(real_series("ETH_BTC_5m.csv")) == 365


def test_json_view_has_trades_and_metrics_without_nan() -> None:
    result = run_backtest(build_strategy("rsi-reversion"), real_series("ORCL_1d.csv"), engine=EngineKind.FAST)
    data = result.to_dict()
    trade = data["trades"][0]
    assert {"side", "entry_time", "entry_price", "exit_time", "exit_price", "quantity"} <= set(trade)
    assert trade["side"] == "buy"
    assert all(value is None or math.isfinite(value) for value in data["metrics"].values())
    assert data["engine"] == "fast"


def test_drawdown_is_zero_at_peaks() -> None:
    result = run_backtest(build_strategy("sma-cross"), real_series("SPY_1d.csv"))
    drawdown = result.drawdown().to_numpy()
    peaks = result.equity.to_numpy() >= np.maximum.accumulate(result.equity.to_numpy())
    assert np.allclose(drawdown[peaks], 0.0)


def test_format_metric_by_kind() -> None:
    assert format_metric(0.1234, "pct") == "+12.34 %"
    assert format_metric(-0.05, "pct") == "-5.00 %"
    assert format_metric(0.5, "share") == "50.0 %"
    assert format_metric(12.0, "count") == "12"
    assert format_metric(12345.678, "money") == "12,345.68"
    assert format_metric(1.234, "ratio") == "1.23"
    assert format_metric(1234.5, "ratio") == "1,234.50" and format_metric(12345.0, "count") == "12,345"
    assert format_metric(0.1235, "pct") == "+12.35 %"  # half-up, as every report rounds
    assert format_metric(None, "pct") == "–"
    assert format_metric(math.inf, "ratio") == "–"
    assert format_metric(math.nan, "money") == "–"


def _daily_bars(
    closes: list[float], *, freq: str = "1D", start: str = "2024-01-01", timeframe: str = "1d"
) -> PriceSeries:
    index = pd.date_range(start, periods=len(closes), freq=freq, tz="UTC")
    values = np.array(closes, dtype=float)
    frame = pd.DataFrame({"open": values, "high": values, "low": values, "close": values}, index=index)
    return PriceSeries.from_frame(frame, label="flat", timeframe=timeframe)


def test_baseline_returns_start_from_the_cash_so_its_entry_fee_counts() -> None:
    # Flat prices: buy-and-hold loses exactly its entry fee, at the first bar.
    bars = _daily_bars([100.0] * 30)
    config = BacktestConfig(initial_cash=10_000.0, fee_bps=50.0, position_fraction=1.0)
    result = run_backtest(build_strategy("sma-cross", {"fast": 2, "slow": 3}), bars, config)
    fee = result.baseline_equity.iloc[0] - 10_000.0
    assert fee < 0
    baseline = result.baseline_metrics
    assert baseline["total_return"] == pytest.approx(baseline["final_equity"] / 10_000.0 - 1.0)
    assert baseline["total_return"] == pytest.approx(fee / 10_000.0)
    assert baseline["max_drawdown"] == pytest.approx(fee / 10_000.0)
    assert baseline["cagr"] < 0
    assert float(result.baseline_drawdown().min()) == pytest.approx(fee / 10_000.0)


def test_weekly_bars_are_annualised_per_week() -> None:
    # 0.5 % a week for three years: CAGR is 1.005 ** 52.18 - 1, whatever weekday the bars carry.
    weeks = 157
    bars = _daily_bars(list(100.0 * 1.005 ** np.arange(weeks)), freq="W-MON", start="2021-01-04", timeframe="1w")
    config = BacktestConfig(initial_cash=10_000.0, fee_bps=0.0, position_fraction=1.0)
    result = run_backtest(build_strategy("sma-cross", {"fast": 2, "slow": 3}), bars, config)
    assert periods_per_year(bars) == pytest.approx(365.25 / 7)
    growth = result.baseline_metrics["final_equity"] / 10_000.0
    assert result.baseline_metrics["cagr"] == pytest.approx(growth ** (365.25 / 7 / weeks) - 1.0)
    assert result.baseline_metrics["cagr"] == pytest.approx(1.005 ** (365.25 / 7) - 1.0, rel=0.05)
