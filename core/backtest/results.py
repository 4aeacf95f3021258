"""Run a backtest end to end: simulate, build the equity curve, the baseline and the metrics."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from core.backtest.engine import (
    BacktestConfig,
    EngineKind,
    Trade,
    TradeLog,
    buy_and_hold_trades,
    equity_curve,
    simulate,
    trade_columns,
)
from core.backtest.series import PriceSeries
from core.backtest.strategy import Strategy, with_strategy_exits
from core.risk import metrics as risk

logger = logging.getLogger(__name__)

DAY_SECONDS = 86_400
DAYS_PER_YEAR = 365.25

# The metrics shown for a run and its baseline, in display order (name, label, kind).
METRIC_LABELS: tuple[tuple[str, str, str], ...] = (
    ("total_return", "Total return", "pct"),
    ("cagr", "CAGR", "pct"),
    ("annual_volatility", "Volatility (annual)", "pct"),
    ("sharpe", "Sharpe", "ratio"),
    ("sortino", "Sortino", "ratio"),
    ("max_drawdown", "Max drawdown", "pct"),
    ("calmar", "Calmar", "ratio"),
    ("var_95", "VaR 95 % (1 day)", "pct"),
    ("cvar_95", "CVaR 95 % (1 day)", "pct"),
    ("trades", "Trades", "count"),
    ("win_rate", "Win rate", "share"),
    ("profit_factor", "Profit factor", "ratio"),
    ("average_trade_return", "Average trade", "pct"),
    ("exposure", "Time in market", "share"),
    ("fees_paid", "Fees paid", "money"),
    ("final_equity", "Final equity", "money"),
)


def format_metric(value: float | None, kind: str) -> str:
    """Format a metric value for display by its kind (pct, share, count, money, ratio); "–" when missing.

    In the number style of ``core.numbers``; money is in the run's quote currency, so no symbol.
    """
    from core import numbers

    if value is None or not math.isfinite(value):
        return "–"
    if kind == "pct":
        return numbers.percent(value)
    if kind == "share":
        return numbers.percent(value, places=1, signed=False)
    if kind == "count":
        return numbers.number(value, 0)
    return numbers.number(value, 2)


@dataclass
class BacktestResult:
    """Everything one backtest produced."""

    strategy: str
    parameters: dict[str, int | float]
    config: BacktestConfig
    data_label: str
    timeframe: str
    instrument_id: int | None
    engine: EngineKind
    trades: list[Trade]
    equity: pd.Series  # account value at each bar's close
    baseline_equity: pd.Series  # buy-and-hold
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    seconds: float
    candles: int
    rejected_orders: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def start(self) -> pd.Timestamp:
        return self.equity.index[0]

    @property
    def end(self) -> pd.Timestamp:
        return self.equity.index[-1]

    def drawdown(self) -> pd.Series:
        """The drawdown of the equity curve at each bar (≤ 0)."""
        return drawdown_of(self.equity, self.config.initial_cash)

    def baseline_drawdown(self) -> pd.Series:
        return drawdown_of(self.baseline_equity, self.config.initial_cash)

    def config_dict(self) -> dict[str, Any]:
        """The backtest settings as stored with a run and printed in the JSON."""
        return {
            "initial_cash": self.config.initial_cash,
            "fee_bps": self.config.fee_bps,
            "slippage_bps": self.config.slippage_bps,
            "position_fraction": self.config.position_fraction,
            "stop_loss": self.config.stop_loss,
            "take_profit": self.config.take_profit,
            "trailing_stop": self.config.trailing_stop,
            "protections": self.config.protections.to_dict() if self.config.protections is not None else None,
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: settings, trades and metrics (``konsens backtest --json`` writes :meth:`to_json`)."""
        data = self.to_dict_base()
        data["trades"] = trade_dicts(self.trades)
        return data

    def to_json(self, extra: dict[str, Any] | None = None, *, indent: bool = False) -> bytes:
        """``to_dict()`` followed by the keys of ``extra``, as UTF-8 JSON (one line unless ``indent``).

        Parsed, it gives what ``json.dumps({**to_dict(), **extra}, default=str)`` gives (the same keys in
        the same order, the same values), by orjson at a tenth of the cost: orjson writes each trade's
        times itself, in the text of ``datetime.isoformat``, so the trades are not formatted one by one
        first. A NaN or infinity (not valid JSON) is written as null; any other type as its ``str``.
        """
        import orjson

        data = self.to_dict_base()
        data["trades"] = _trade_rows(self.trades)
        if extra:
            data.update(extra)
        options = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY | (orjson.OPT_INDENT_2 if indent else 0)
        return orjson.dumps(data, default=str, option=options)

    def to_dict_base(self) -> dict[str, Any]:
        """:meth:`to_dict` without formatting the trades (``"trades"`` holds the ``Trade`` objects)."""
        return {
            "strategy": self.strategy,
            "parameters": self.parameters,
            "data": self.data_label,
            "timeframe": self.timeframe,
            "engine": self.engine.value,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "candles": self.candles,
            "config": self.config_dict(),
            "trades": self.trades,
            "rejected_orders": self.rejected_orders,
            "metrics": _json_numbers(self.metrics),
            "baseline_metrics": _json_numbers(self.baseline_metrics),
            "seconds": self.seconds,
        }


def _trade_rows(trades: list[Trade]) -> list[dict[str, object]]:
    """The rows of :func:`trade_dicts` with the times left as ``datetime`` (for a serialiser that formats them)."""
    return [
        {
            "side": trade.side.value,
            "entry_time": trade.entry_time,
            "entry_price": trade.entry_price,
            "exit_time": trade.exit_time if trade.exit_time else None,
            "exit_price": trade.exit_price,
            "quantity": trade.quantity,
            "entry_fee": trade.entry_fee,
            "exit_fee": trade.exit_fee,
            "exit_reason": trade.exit_reason.value if trade.exit_reason else None,
            "pnl": trade.pnl() if not trade.is_open else None,
        }
        for trade in trades
    ]


def trade_dicts(trades: list[Trade]) -> list[dict[str, object]]:
    """``[trade.to_dict() for trade in trades]``, with the UTC times formatted all at once.

    ``datetime.isoformat`` one trade at a time was most of the JSON's cost at 20k trades; numpy
    formats the same text (``YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00``). Times not in UTC are left to
    ``Trade.to_dict``.
    """
    times = [trade.entry_time for trade in trades] + [trade.exit_time for trade in trades if trade.exit_time]
    texts = _iso_utc(times)
    if texts is None:
        return [trade.to_dict() for trade in trades]
    exits = iter(texts[len(trades) :])
    return [
        {
            "side": trade.side.value,
            "entry_time": entry_time,
            "entry_price": trade.entry_price,
            "exit_time": next(exits) if trade.exit_time else None,
            "exit_price": trade.exit_price,
            "quantity": trade.quantity,
            "entry_fee": trade.entry_fee,
            "exit_fee": trade.exit_fee,
            "exit_reason": trade.exit_reason.value if trade.exit_reason else None,
            "pnl": trade.pnl() if not trade.is_open else None,
        }
        for trade, entry_time in zip(trades, texts, strict=False)
    ]


def _iso_utc(times: list[datetime]) -> list[str] | None:
    """``[time.isoformat() for time in times]`` for aware times at UTC (offset 0); None for any other."""
    if not all(time.tzinfo is not None and time.utcoffset() == _ZERO for time in times):
        return None
    try:
        micros = pd.DatetimeIndex(times).tz_convert("UTC").as_unit("us").asi8
    except (TypeError, ValueError):  # e.g. different tzinfo objects
        return None
    texts = np.datetime_as_string(micros.view("M8[us]"), unit="us").tolist()
    whole = (micros % 1_000_000 == 0).tolist()
    return [
        f"{text[:19]}+00:00" if whole_second else f"{text}+00:00"
        for text, whole_second in zip(texts, whole, strict=True)
    ]


_ZERO = timedelta(0)


def run_backtest(
    strategy: Strategy,
    bars: PriceSeries,
    config: BacktestConfig | None = None,
    *,
    engine: EngineKind = EngineKind.EVENT,
) -> BacktestResult:
    """Run ``strategy`` over ``bars`` with one engine and compute its results and baseline."""
    config = with_strategy_exits(config or BacktestConfig(), strategy)
    log = simulate(strategy, bars, config, engine)
    return assemble_result(strategy, bars, config, log)


def assemble_result(strategy: Strategy, bars: PriceSeries, config: BacktestConfig, log: TradeLog) -> BacktestResult:
    """Build the equity curves and metrics of a finished simulation."""
    equity = pd.Series(equity_curve(bars, log.trades, config.initial_cash), index=bars.index, name="equity")
    baseline_trades = buy_and_hold_trades(bars, config)
    baseline = pd.Series(equity_curve(bars, baseline_trades, config.initial_cash), index=bars.index, name="baseline")
    periods = periods_per_year(bars)
    start = config.initial_cash
    metrics = {**performance_metrics(equity, periods, start), **trade_statistics(log.trades, bars, config)}
    baseline_metrics = {
        **performance_metrics(baseline, periods, start),
        **trade_statistics(baseline_trades, bars, config),
    }
    return BacktestResult(
        strategy=strategy.name,
        parameters=dict(strategy.params),
        config=config,
        data_label=bars.label,
        timeframe=bars.timeframe,
        instrument_id=bars.instrument_id,
        engine=log.engine,
        trades=log.trades,
        equity=equity,
        baseline_equity=baseline,
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        seconds=log.seconds,
        candles=len(bars),
        rejected_orders=log.rejected_orders,
        extra={"blocked_orders": dict(log.blocked)} if log.blocked else {},
    )


def periods_per_year(bars: PriceSeries) -> float:
    """Return periods per year of the data's daily returns: 252 when weekends are missing, else 365.

    Bars longer than a day (weekly) give one return per bar, so they are annualised per bar
    (365.25 / 7 ≈ 52.2 for weekly bars), whatever weekday their timestamps fall on.
    """
    if bars.bar_seconds > DAY_SECONDS:
        return DAYS_PER_YEAR * DAY_SECONDS / bars.bar_seconds
    last = _last_of_each_day(bars.index)
    days = bars.index[last].normalize() if last is not None else bars.index.normalize().unique()
    if len(days) < 7:
        return risk.PERIODS_PER_YEAR_CRYPTO
    weekend_share = float(np.mean(days.day_of_week >= 5))
    return risk.PERIODS_PER_YEAR_EXCHANGE if weekend_share < 0.05 else risk.PERIODS_PER_YEAR_CRYPTO


def _last_of_each_day(index: pd.Index) -> np.ndarray | None:
    """The position of each UTC day's last timestamp in a sorted UTC index (None: not such an index).

    What ``groupby(index.normalize()).last()`` picks, found by integer arithmetic on the sorted
    timestamps instead of normalising every one of them.
    """
    if not (isinstance(index, pd.DatetimeIndex) and str(index.tz) == "UTC" and index.is_monotonic_increasing):
        return None
    if len(index) == 0:
        return None
    per_day = int(np.timedelta64(1, "D") // np.timedelta64(1, index.unit))
    days = index.asi8 // per_day  # floor division: midnight UTC before each timestamp
    return np.append(np.flatnonzero(days[1:] != days[:-1]), len(days) - 1)


def daily_returns(equity: pd.Series, initial_value: float | None = None) -> pd.Series:
    """Daily simple returns of an equity curve (last value of each UTC day with bars).

    The first return starts from ``initial_value`` (the cash before the first bar; default the
    first bar's value), so a first-bar entry fee and move are part of the returns.
    """
    last = _last_of_each_day(equity.index)
    if last is not None and not equity.isna().any():
        # = ``equity.groupby(equity.index.normalize()).last()`` (which skips NaN; there is none)
        daily = pd.Series(
            equity.to_numpy()[last], index=equity.index[last].normalize(), name=equity.name, dtype=equity.dtype
        )
    else:
        daily = equity.groupby(equity.index.normalize()).last()
    first = float(equity.iloc[0]) if initial_value is None else float(initial_value)
    start = pd.Series([first], index=[daily.index[0] - pd.Timedelta(days=1)])
    return risk.simple_returns(pd.concat([start, daily]))


def performance_metrics(equity: pd.Series, periods: float, initial_value: float) -> dict[str, float]:
    """The risk module's metrics over the daily returns of an equity curve, plus the total return.

    ``equity`` holds the value at each bar's close; ``initial_value`` is the cash before the
    first bar, so returns, drawdown and CAGR include what happened in the first bar (the
    buy-and-hold baseline buys at its open and pays its entry fee there).
    """
    returns = daily_returns(equity, initial_value)
    total_return = float(equity.iloc[-1] / initial_value - 1.0)
    return {
        "total_return": total_return,
        "cagr": risk.cagr(returns, periods),
        "annual_volatility": risk.annual_volatility(returns, periods),
        "sharpe": risk.sharpe_ratio(returns, periods),
        "sortino": risk.sortino_ratio(returns, periods),
        "max_drawdown": risk.max_drawdown(_bar_returns(equity, initial_value)),  # bar by bar, not daily
        "calmar": risk.calmar_ratio(returns, periods),
        "var_95": risk.value_at_risk(returns, 0.95),
        "cvar_95": risk.conditional_value_at_risk(returns, 0.95),
        "final_equity": float(equity.iloc[-1]),
    }


def trade_statistics(trades: list[Trade], bars: PriceSeries, config: BacktestConfig) -> dict[str, float]:
    """Counts and ratios over the round trips (open trades valued at the last close)."""
    last_close = float(bars.close[-1])
    count = len(trades)
    # ``Trade.pnl(last_close)`` and ``Trade.return_fraction`` over all trades at once (the same operations)
    columns = trade_columns(trades)
    entry_prices, quantities, signs = columns.entry_price, columns.quantity, columns.sign
    entry_fees, exit_fees = columns.entry_fee, columns.exit_fee
    exit_prices = np.where(np.isnan(columns.exit_price), last_close, columns.exit_price)
    profits = (exit_prices - entry_prices) * quantities * signs - entry_fees - exit_fees
    returns = profits / (entry_prices * quantities)
    wins = profits[profits > 0].sum()
    losses = -profits[profits < 0].sum()
    held_bars = int((np.where(columns.exit_index < 0, len(bars), columns.exit_index) - columns.entry_index).sum())
    return {
        "trades": float(count),
        "win_rate": float(np.mean(profits > 0)) if count else math.nan,
        "profit_factor": float(wins / losses) if losses > 0 else (math.inf if wins > 0 else math.nan),
        "average_trade_return": float(returns.mean()) if count else math.nan,
        "exposure": held_bars / len(bars),
        "fees_paid": float(sum((entry_fees + exit_fees).tolist())),  # summed in trade order, as before
    }


def drawdown_of(equity: pd.Series, initial_value: float | None = None) -> pd.Series:
    """Drawdown at every bar (≤ 0), by the risk module over the bar-to-bar returns.

    With ``initial_value`` (the cash before the first bar) the first bar's return counts too.
    """
    return risk.drawdown_series(_bar_returns(equity, initial_value))


def _bar_returns(equity: pd.Series, initial_value: float | None) -> pd.Series:
    """Bar-to-bar returns; the first from ``initial_value`` (0 without one)."""
    returns = equity.pct_change()
    returns.iloc[0] = 0.0 if initial_value is None else float(equity.iloc[0]) / float(initial_value) - 1.0
    return returns.fillna(0.0)


def _json_numbers(values: dict[str, float]) -> dict[str, float | None]:
    """Replace NaN and infinities (not valid JSON) with None."""
    return {key: (value if math.isfinite(value) else None) for key, value in values.items()}
