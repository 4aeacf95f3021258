"""Parameter sweeps: run a strategy over a grid of parameters, report progress, build heatmaps."""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from core.backtest.engine import BacktestConfig, EngineKind, buy_and_hold_trades, equity_curve, simulate
from core.backtest.parameters import MAX_COMBINATIONS as MAX_COMBINATIONS  # light home, re-exported
from core.backtest.parameters import parse_values as parse_values
from core.backtest.results import assemble_result, daily_returns, performance_metrics, periods_per_year
from core.backtest.series import PriceSeries
from core.backtest.strategies import build_strategy, strategy_class
from core.backtest.strategy import Parameter, StrategyError
from core.lab.overfitting import OverfittingReport, overfitting_report

logger = logging.getLogger(__name__)


Progress = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class SweepRow:
    """One combination of a sweep and its metrics (empty when the combination is invalid)."""

    parameters: dict[str, int | float]
    metrics: dict[str, float]
    error: str | None = None


@dataclass
class SweepResult:
    """The metrics of every combination of a parameter grid."""

    strategy: str
    base_parameters: dict[str, int | float]
    grid: dict[str, list[int | float]]
    engine: EngineKind
    data_label: str
    instrument_id: int | None
    timeframe: str
    start: datetime
    end: datetime
    candles: int
    config: BacktestConfig
    baseline_metrics: dict[str, float]
    rows: list[SweepRow] = field(default_factory=list)
    seconds: float = 0.0
    # The deflated Sharpe ratio and PBO of picking the best Sharpe among the combinations (core.lab.overfitting).
    overfitting: OverfittingReport | None = None

    def table(self) -> pd.DataFrame:
        """One row per combination: parameter columns then metric columns."""
        return pd.DataFrame([{**row.parameters, **row.metrics} for row in self.rows])

    def heatmap(self, x: str, y: str, metric: str) -> pd.DataFrame:
        """A ``y`` × ``x`` table of ``metric`` (other swept parameters: their best value)."""
        table = self.table()
        if metric not in table.columns:
            return pd.DataFrame()
        return table.pivot_table(index=y, columns=x, values=metric, aggfunc="max").sort_index(ascending=False)

    def best(self, metric: str) -> SweepRow | None:
        """The combination with the highest finite ``metric``."""
        scored = [row for row in self.rows if math.isfinite(row.metrics.get(metric, math.nan))]
        return max(scored, key=lambda row: row.metrics[metric]) if scored else None

    def overfitting_warning(self, metric: str) -> str | None:
        """The in-sample caveat of picking the best combination by ``metric`` (None for one combination)."""
        values = [row.metrics.get(metric, math.nan) for row in self.rows]
        return overfitting_warning(values, metric, self.baseline_metrics.get(metric))


def overfitting_warning(values: Sequence[float | None], metric: str, baseline: float | None = None) -> str | None:
    """Warn that the best of several combinations, scored on the data it was picked on, is optimistic.

    ``values`` holds ``metric`` of every combination (None/NaN for invalid ones); ``baseline`` the
    buy-and-hold value of the same metric, if there is one. Returns None for fewer than two
    scored combinations (nothing was selected).
    """
    scored = sorted(float(value) for value in values if value is not None and math.isfinite(value))
    if len(scored) < 2:
        return None
    best = scored[-1]
    middle = len(scored) // 2
    median = scored[middle] if len(scored) % 2 else (scored[middle - 1] + scored[middle]) / 2
    text = (
        f"In-sample: the best {metric} ({best:.3g}) is the top of {len(scored)} combinations scored on the same "
        f"candles they were chosen on, so it overstates what to expect on new data (median {median:.3g}"
    )
    if baseline is not None and math.isfinite(baseline):
        beating = sum(value > baseline for value in scored)
        text += f"; {beating} of {len(scored)} beat buy-and-hold's {baseline:.3g}"
    return text + "). Check the chosen parameters on a later period before trusting them."


def cls_parameter(known: dict[str, Parameter], name: str, value: object) -> int | float:
    """Parse one base parameter of a sweep."""
    if name not in known:
        raise StrategyError(f"unknown parameter {name}")
    return known[name].parse(value)


def run_sweep(
    strategy_name: str,
    grid: Mapping[str, Sequence[int | float]],
    bars: PriceSeries,
    config: BacktestConfig | None = None,
    *,
    base_parameters: dict[str, object] | None = None,
    engine: EngineKind | None = None,
    progress: Progress | None = None,
    done_rows: Sequence[SweepRow] = (),
    on_row: Callable[[SweepRow], None] | None = None,
) -> SweepResult:
    """Run every combination of ``grid`` (other parameters from ``base_parameters``).

    ``done_rows`` are the rows of an interrupted run of the same sweep (a job's checkpoint): the
    first ``len(done_rows)`` combinations are taken from them instead of being run again.
    ``on_row`` sees every new row as it is made (to checkpoint them).
    """
    config = config or BacktestConfig()
    cls = strategy_class(strategy_name)
    known = {parameter.name: parameter for parameter in cls.parameters}
    for name in grid:
        if name not in known:
            raise StrategyError(f"{strategy_name} has no parameter {name}")
    parsed = {name: [known[name].parse(value) for value in values] for name, values in grid.items()}
    names = list(parsed)
    combinations = list(itertools.product(*(parsed[name] for name in names)))
    if len(combinations) > MAX_COMBINATIONS:
        raise StrategyError(f"{len(combinations)} combinations is too many (at most {MAX_COMBINATIONS})")
    base = dict(base_parameters or {})
    if engine is None:
        engine = EngineKind.FAST if cls.has_fast_path() else EngineKind.EVENT
    baseline_trades = buy_and_hold_trades(bars, config)
    baseline = pd.Series(equity_curve(bars, baseline_trades, config.initial_cash), index=bars.index)
    result = SweepResult(
        strategy=strategy_name,
        base_parameters={key: cls_parameter(known, key, value) for key, value in base.items()},
        grid={name: list(parsed[name]) for name in names},
        engine=engine,
        data_label=bars.label,
        instrument_id=bars.instrument_id,
        timeframe=bars.timeframe,
        start=bars.index[0].to_pydatetime(),
        end=bars.index[-1].to_pydatetime(),
        candles=len(bars),
        config=config,
        baseline_metrics=performance_metrics(baseline, periods_per_year(bars), config.initial_cash),
    )
    if len(done_rows) > len(combinations):
        raise StrategyError(f"{len(done_rows)} rows done, but the grid has only {len(combinations)} combinations")
    result.rows.extend(done_rows)
    began = time.perf_counter()
    returns: list[np.ndarray] = []
    sharpes: list[float] = []
    for done, values in enumerate(combinations, start=1):
        if done <= len(done_rows):
            continue
        parameters = dict(zip(names, values, strict=True))
        try:
            strategy = build_strategy(strategy_name, {**base, **parameters})
        except StrategyError as error:
            result.rows.append(SweepRow(parameters, {}, str(error)))
        else:
            log = simulate(strategy, bars, config, engine)
            single = assemble_result(strategy, bars, config, log)
            result.rows.append(SweepRow(dict(strategy.params), single.metrics))
            returns.append(daily_returns(single.equity, config.initial_cash).to_numpy())
            sharpes.append(single.metrics.get("sharpe", math.nan))
        if on_row is not None:
            on_row(result.rows[-1])
        if progress is not None:
            progress(done, len(combinations))
    if sharpes:
        scored = np.where(np.isfinite(sharpes), sharpes, -np.inf)
        result.overfitting = overfitting_report(returns, int(np.argmax(scored)))
    result.seconds = time.perf_counter() - began
    logger.info("Sweep of %s: %d combinations in %.1f s", strategy_name, len(combinations), result.seconds)
    return result
