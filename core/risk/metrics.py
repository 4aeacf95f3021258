"""Risk and performance metrics over periodic simple returns (vectorised numpy).

Every public function takes a pandas Series (or a 1-D array) of *periodic simple returns*
(0.01 = +1 %) and returns a float. ``metrics_table`` computes all of them at once for the
columns of a DataFrame (many instruments), with the same code path.

Conventions (the reference libraries are named so results can be compared with them):

- ``periods_per_year`` annualises: 365 for crypto (it trades every day), 252 for
  exchange-traded assets, 365 for the portfolio (its equity is valued every calendar day).
  ``periods_per_year_for(asset_class)`` returns the right one.
- ``risk_free`` and ``required_return`` are *per period* returns (a float, or a Series aligned
  with the returns), not annual rates.
- NaNs are ignored: a NaN is a period without a return. Means and standard deviations skip it;
  compounding (drawdown, CAGR) treats it as a flat period, so it still counts as elapsed time in
  CAGR — exactly as empyrical does.
- Sharpe, Sortino, annual volatility, max drawdown, CAGR, Calmar, beta, alpha and the
  historical VaR / CVaR follow empyrical (empyrical-reloaded): sample standard deviation
  (ddof=1), Sortino's downside deviation as the root mean square of the returns below the
  required return over *all* periods, drawdown from a start value of 100, CAGR as
  ``total_growth ** (periods_per_year / number_of_periods) - 1``, alpha annualised by
  compounding the mean per-period alpha, historical VaR as numpy's linear percentile and CVaR as
  the mean of the ``int((n - 1) * (1 - level)) + 1`` lowest returns. Differences from empyrical:
  the VaR/CVaR functions drop NaNs first (empyrical would return NaN).
- Gaussian VaR and CVaR follow quantstats (0.0.83 and later, its default "parametric"
  method): VaR is the ``1 - level`` quantile of a normal distribution with the sample mean μ
  and sample standard deviation σ (ddof=1) of the returns (NaN when σ is 0, as scipy gives);
  CVaR is that normal's expected shortfall μ − σ·φ(z)/(1 − level), z the standard normal
  quantile (μ when σ is 0). NaNs are skipped, as in quantstats.
- VaR and CVaR are returned as returns: negative numbers are losses (``-0.031`` = a 3.1 % loss
  that is not exceeded with probability ``level``).
- Too little data gives NaN (fewer than 2 returns for ratios and volatility, none for drawdown
  and CAGR); a zero deviation gives ±inf for Sharpe and Sortino, as in empyrical.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from statistics import NormalDist
from typing import Literal, TypeAlias

import numpy as np
import pandas as pd

PERIODS_PER_YEAR_CRYPTO = 365
PERIODS_PER_YEAR_EXCHANGE = 252
PERIODS_PER_YEAR_PORTFOLIO = 365

VarMethod: TypeAlias = Literal["historical", "gaussian"]
ReturnsLike: TypeAlias = pd.Series | np.ndarray | Sequence[float]
Adjustment: TypeAlias = float | pd.Series | np.ndarray


class Metric(StrEnum):
    """The columns of ``metrics_table``."""

    SHARPE = "sharpe"
    SORTINO = "sortino"
    VOLATILITY = "volatility"
    MAX_DRAWDOWN = "max_drawdown"
    CAGR = "cagr"
    CALMAR = "calmar"
    VAR_95 = "var_95"
    CVAR_95 = "cvar_95"
    VAR_99 = "var_99"
    CVAR_99 = "cvar_99"
    GAUSSIAN_VAR_95 = "gaussian_var_95"
    GAUSSIAN_CVAR_95 = "gaussian_cvar_95"
    GAUSSIAN_VAR_99 = "gaussian_var_99"
    GAUSSIAN_CVAR_99 = "gaussian_cvar_99"


def periods_per_year_for(asset_class: str | None) -> int:
    """Return the periods per year for daily returns of an asset class: 365 crypto, 252 otherwise.

    ``None`` (the portfolio) gives 365.
    """
    if asset_class is None or str(asset_class).lower() in {"crypto", "portfolio"}:
        return PERIODS_PER_YEAR_CRYPTO
    return PERIODS_PER_YEAR_EXCHANGE


# --- array helpers (axis 0 = time, axis 1 = series) -------------------------------------------


def _to_2d(values: ReturnsLike | pd.DataFrame) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        return array[:, np.newaxis]
    if array.ndim != 2:
        raise ValueError("returns must be one- or two-dimensional")
    return array


def _adjusted(returns: ReturnsLike, adjustment: Adjustment) -> ReturnsLike:
    """Subtract a per-period adjustment (a constant or a series aligned by index)."""
    if isinstance(adjustment, int | float | np.number) and adjustment == 0:
        return returns
    if isinstance(returns, pd.Series) and isinstance(adjustment, pd.Series):
        return returns - adjustment
    return np.asarray(returns, dtype=float) - np.asarray(adjustment, dtype=float)


def _nanmean(values: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=0)


def _nanstd(values: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanstd(values, axis=0, ddof=1)


def _scalar(result: np.ndarray) -> float:
    return float(result[0])


def _ppy(periods_per_year: float | np.ndarray, columns: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(periods_per_year, dtype=float), (columns,))


# --- vectorised kernels ------------------------------------------------------------------------


def _sharpe(values: np.ndarray, periods_per_year: np.ndarray) -> np.ndarray:
    if len(values) < 2:
        return np.full(values.shape[1], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _nanmean(values) / _nanstd(values) * np.sqrt(periods_per_year)


def _sortino(values: np.ndarray, periods_per_year: np.ndarray) -> np.ndarray:
    if len(values) < 2:
        return np.full(values.shape[1], np.nan)
    average_annual = _nanmean(values) * periods_per_year
    with np.errstate(divide="ignore", invalid="ignore"):
        return average_annual / _downside_risk(values, periods_per_year)


def _downside_risk(values: np.ndarray, periods_per_year: np.ndarray) -> np.ndarray:
    downside = np.clip(values, -np.inf, 0.0)
    np.square(downside, out=downside)
    return np.sqrt(_nanmean(downside)) * np.sqrt(periods_per_year)


def _volatility(values: np.ndarray, periods_per_year: np.ndarray) -> np.ndarray:
    if len(values) < 2:
        return np.full(values.shape[1], np.nan)
    return _nanstd(values) * np.sqrt(periods_per_year)


def _drawdowns(values: np.ndarray) -> np.ndarray:
    """Return the drawdown after each period (0 at a new peak, -0.2 = 20 % below the peak)."""
    growth = np.where(np.isnan(values), 0.0, values) + 1.0
    wealth = np.empty((len(values) + 1, values.shape[1]))
    wealth[0] = 100.0
    np.cumprod(growth, axis=0, out=wealth[1:])
    wealth[1:] *= 100.0
    peaks = np.fmax.accumulate(wealth, axis=0)
    return ((wealth - peaks) / peaks)[1:]


def _max_drawdown(values: np.ndarray) -> np.ndarray:
    if len(values) < 1:
        return np.full(values.shape[1], np.nan)
    return np.minimum(np.nanmin(_drawdowns(values), axis=0), 0.0)


def _cagr(values: np.ndarray, periods_per_year: np.ndarray) -> np.ndarray:
    if len(values) < 1:
        return np.full(values.shape[1], np.nan)
    years = len(values) / periods_per_year
    ending_value = np.nanprod(values + 1.0, axis=0)
    with np.errstate(invalid="ignore"):
        return ending_value ** (1.0 / years) - 1.0


def _calmar(values: np.ndarray, periods_per_year: np.ndarray) -> np.ndarray:
    drawdown = _max_drawdown(values)
    growth = _cagr(values, periods_per_year)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = growth / np.abs(drawdown)
    ratio[~(drawdown < 0)] = np.nan
    ratio[np.isinf(ratio)] = np.nan
    return ratio


def _cutoff(level: float) -> float:
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"level must be between 0 and 1, not {level}")
    return round(1.0 - level, 12)


def _historical_var(values: np.ndarray, level: float) -> np.ndarray:
    """numpy's linear percentile at ``1 - level`` per column, NaNs dropped."""
    cutoff = _cutoff(level)
    ordered = np.sort(values, axis=0)  # NaNs sort last
    counts = np.count_nonzero(~np.isnan(values), axis=0)
    result = np.full(values.shape[1], np.nan)
    present = counts > 0
    if not present.any():
        return result
    columns = np.nonzero(present)[0]
    position = (counts[present] - 1) * cutoff
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, counts[present] - 1)
    fraction = position - lower
    below = ordered[lower, columns]
    above = ordered[upper, columns]
    difference = above - below
    # numpy's lerp, including its choice of end point for fractions >= 0.5
    interpolated = np.where(fraction >= 0.5, above - difference * (1 - fraction), below + difference * fraction)
    result[present] = np.where(lower == upper, below, interpolated)
    return result


def _historical_cvar(values: np.ndarray, level: float) -> np.ndarray:
    """Mean of the ``int((n - 1) * cutoff) + 1`` lowest returns per column, NaNs dropped."""
    cutoff = _cutoff(level)
    ordered = np.sort(values, axis=0)
    counts = np.count_nonzero(~np.isnan(values), axis=0)
    result = np.full(values.shape[1], np.nan)
    present = counts > 0
    if not present.any():
        return result
    columns = np.nonzero(present)[0]
    tail = ((counts[present] - 1) * cutoff).astype(int)
    sums = np.cumsum(np.where(np.isnan(ordered), 0.0, ordered), axis=0)
    result[present] = sums[tail, columns] / (tail + 1)
    return result


def _gaussian_var(values: np.ndarray, level: float) -> np.ndarray:
    quantile = NormalDist().inv_cdf(_cutoff(level)) if 0.0 < level < 1.0 else np.nan
    mean = _nanmean(values)
    deviation = _nanstd(values)
    var = mean + deviation * quantile
    var[~(deviation > 0)] = np.nan  # a normal with no spread has no quantile (scipy gives NaN)
    return var


def _gaussian_cvar(values: np.ndarray, level: float) -> np.ndarray:
    """Closed-form expected shortfall of the fitted normal: μ − σ·φ(z)/α (μ when σ is 0)."""
    cutoff = _cutoff(level)
    if not 0.0 < cutoff < 1.0:
        return np.full(values.shape[1], np.nan)
    standard = NormalDist()
    tail_factor = standard.pdf(standard.inv_cdf(cutoff)) / cutoff
    mean = _nanmean(values)
    deviation = _nanstd(values)
    shortfall = mean - deviation * tail_factor
    return np.where(deviation == 0, mean, shortfall)


def _beta(values: np.ndarray, benchmark: np.ndarray) -> np.ndarray:
    if len(values) < 1 or len(benchmark) < 2:
        return np.full(values.shape[1], np.nan)
    independent = np.where(np.isnan(values), np.nan, benchmark)
    residual = independent - _nanmean(independent)
    covariance = _nanmean(residual * values)
    variance = _nanmean(np.square(residual))
    variance[variance < 1.0e-30] = np.nan
    return covariance / variance


def _alpha(
    values: np.ndarray, benchmark: np.ndarray, periods_per_year: np.ndarray, risk_free: np.ndarray | float
) -> np.ndarray:
    if len(values) < 2:
        return np.full(values.shape[1], np.nan)
    slope = _beta(values, benchmark)
    alpha_series = (values - risk_free) - slope * (benchmark - risk_free)
    with np.errstate(invalid="ignore"):
        return (_nanmean(alpha_series) + 1.0) ** periods_per_year - 1.0


# --- public functions over one series --------------------------------------------------------


def sharpe_ratio(returns: ReturnsLike, periods_per_year: float, risk_free: Adjustment = 0.0) -> float:
    """Return the annualised Sharpe ratio: mean excess return / its sample deviation × √periods.

    ``risk_free`` is a per-period return. As empyrical's ``sharpe_ratio``; NaN for fewer than
    two periods, ±inf when the excess returns do not vary.
    """
    values = _to_2d(_adjusted(returns, risk_free))
    return _scalar(_sharpe(values, _ppy(periods_per_year, 1)))


def sortino_ratio(returns: ReturnsLike, periods_per_year: float, required_return: Adjustment = 0.0) -> float:
    """Return the annualised Sortino ratio against a per-period ``required_return``.

    Numerator: mean of (returns − required) × periods. Denominator: the downside deviation,
    √(mean over all periods of min(returns − required, 0)²) × √periods. As empyrical.
    """
    values = _to_2d(_adjusted(returns, required_return))
    return _scalar(_sortino(values, _ppy(periods_per_year, 1)))


def downside_risk(returns: ReturnsLike, periods_per_year: float, required_return: Adjustment = 0.0) -> float:
    """Return the annualised downside deviation below ``required_return`` (empyrical)."""
    values = _to_2d(_adjusted(returns, required_return))
    if len(values) < 1:
        return float("nan")
    return _scalar(_downside_risk(values, _ppy(periods_per_year, 1)))


def annual_volatility(returns: ReturnsLike, periods_per_year: float) -> float:
    """Return the annualised volatility: sample standard deviation (ddof=1) × √periods (empyrical)."""
    return _scalar(_volatility(_to_2d(returns), _ppy(periods_per_year, 1)))


def drawdown_series(returns: pd.Series) -> pd.Series:
    """Return the drawdown after each period, as a fraction below the running peak (≤ 0)."""
    if len(returns) == 0:
        return pd.Series(dtype=float, index=returns.index)
    return pd.Series(_drawdowns(_to_2d(returns))[:, 0], index=returns.index)


def max_drawdown(returns: ReturnsLike) -> float:
    """Return the maximum drawdown as a negative fraction (-0.25 = 25 % below the peak).

    Wealth starts at 100 and compounds the returns (NaN = flat period); as empyrical. NaN for
    no returns.
    """
    return _scalar(_max_drawdown(_to_2d(returns)))


def cagr(returns: ReturnsLike, periods_per_year: float) -> float:
    """Return the compound annual growth rate: growth ** (periods_per_year / n) − 1.

    ``n`` counts every period including NaNs (flat periods), as empyrical's ``cagr``.
    """
    return _scalar(_cagr(_to_2d(returns), _ppy(periods_per_year, 1)))


def calmar_ratio(returns: ReturnsLike, periods_per_year: float) -> float:
    """Return CAGR / |max drawdown|; NaN without a drawdown or when infinite (empyrical)."""
    return _scalar(_calmar(_to_2d(returns), _ppy(periods_per_year, 1)))


def value_at_risk(returns: ReturnsLike, level: float = 0.95, method: VarMethod = "historical") -> float:
    """Return the one-period Value at Risk at ``level`` as a return (negative = loss).

    ``historical``: the linear ``1 - level`` percentile of the returns (empyrical).
    ``gaussian``: the ``1 - level`` quantile of a normal distribution with the returns' mean and
    sample deviation (quantstats). NaNs are dropped.
    """
    values = _to_2d(returns)
    values = values[~np.isnan(values[:, 0])]
    if method == "historical":
        return _scalar(_historical_var(values, level))
    if method == "gaussian":
        return _scalar(_gaussian_var(values, level))
    raise ValueError(f"unknown VaR method {method!r}: use 'historical' or 'gaussian'")


def conditional_value_at_risk(returns: ReturnsLike, level: float = 0.95, method: VarMethod = "historical") -> float:
    """Return the Conditional VaR (expected shortfall) at ``level`` as a return (negative = loss).

    ``historical``: the mean of the ``int((n - 1) * (1 - level)) + 1`` lowest returns (empyrical).
    ``gaussian``: the expected shortfall μ − σ·φ(z)/(1 − level) of a normal distribution fitted
    with the sample mean and deviation (quantstats' parametric CVaR). NaNs are dropped.
    """
    values = _to_2d(returns)
    values = values[~np.isnan(values[:, 0])]
    if method == "historical":
        return _scalar(_historical_cvar(values, level))
    if method == "gaussian":
        return _scalar(_gaussian_cvar(values, level))
    raise ValueError(f"unknown CVaR method {method!r}: use 'historical' or 'gaussian'")


def _aligned(returns: ReturnsLike, benchmark: ReturnsLike) -> tuple[np.ndarray, np.ndarray]:
    """Align two series on their index (outer join, as empyrical); arrays must have equal length."""
    if isinstance(returns, pd.Series) and isinstance(benchmark, pd.Series):
        frame = pd.concat([returns, benchmark], axis=1)
        return frame.iloc[:, 0].to_numpy(dtype=float), frame.iloc[:, 1].to_numpy(dtype=float)
    left = np.asarray(returns, dtype=float)
    right = np.asarray(benchmark, dtype=float)
    if left.shape != right.shape:
        raise ValueError("returns and benchmark arrays must have the same length")
    return left, right


def beta(returns: ReturnsLike, benchmark: ReturnsLike) -> float:
    """Return the beta of the returns to a benchmark: Cov(r, b) / Var(b) over common periods.

    Series are aligned on their index; as empyrical's ``beta`` (NaN when the benchmark does not
    vary).
    """
    values, bench = _aligned(returns, benchmark)
    return _scalar(_beta(values[:, np.newaxis], bench[:, np.newaxis]))


def alpha(returns: ReturnsLike, benchmark: ReturnsLike, periods_per_year: float, risk_free: float = 0.0) -> float:
    """Return Jensen's alpha annualised by compounding: (1 + mean(rₑ − β·bₑ)) ** periods − 1.

    ``rₑ`` and ``bₑ`` are the returns and the benchmark in excess of the per-period
    ``risk_free``; as empyrical's ``alpha``.
    """
    values, bench = _aligned(returns, benchmark)
    return _scalar(_alpha(values[:, np.newaxis], bench[:, np.newaxis], _ppy(periods_per_year, 1), float(risk_free)))


# --- many series at once ---------------------------------------------------------------------


def metrics_table(
    returns: pd.DataFrame,
    periods_per_year: float | Mapping[str, float] | pd.Series,
    *,
    levels: tuple[float, float] = (0.95, 0.99),
) -> pd.DataFrame:
    """Return every metric (``Metric`` columns) for each column of ``returns`` (one row each).

    ``periods_per_year`` is one number or one per column. The columns should span the same
    periods: a leading NaN counts as a flat period in CAGR, as in the single-series functions.
    """
    values = returns.to_numpy(dtype=float, copy=True)
    columns = values.shape[1]
    if isinstance(periods_per_year, Mapping | pd.Series):
        ppy = np.array([float(periods_per_year[name]) for name in returns.columns])
    else:
        ppy = _ppy(periods_per_year, columns)
    first, second = levels
    results: dict[str, np.ndarray] = {
        Metric.SHARPE: _sharpe(values, ppy),
        Metric.SORTINO: _sortino(values, ppy),
        Metric.VOLATILITY: _volatility(values, ppy),
        Metric.MAX_DRAWDOWN: _max_drawdown(values),
        Metric.CAGR: _cagr(values, ppy),
        Metric.CALMAR: _calmar(values, ppy),
    }
    tail_kernels: list[tuple[Metric, Callable[[np.ndarray, float], np.ndarray], float]] = [
        (Metric.VAR_95, _historical_var, first),
        (Metric.CVAR_95, _historical_cvar, first),
        (Metric.VAR_99, _historical_var, second),
        (Metric.CVAR_99, _historical_cvar, second),
        (Metric.GAUSSIAN_VAR_95, _gaussian_var, first),
        (Metric.GAUSSIAN_CVAR_95, _gaussian_cvar, first),
        (Metric.GAUSSIAN_VAR_99, _gaussian_var, second),
        (Metric.GAUSSIAN_CVAR_99, _gaussian_cvar, second),
    ]
    for metric, kernel, level in tail_kernels:
        results[metric] = kernel(values, level)
    return pd.DataFrame({str(key): value for key, value in results.items()}, index=returns.columns)


def series_metrics(returns: pd.Series, periods_per_year: float) -> dict[str, float]:
    """Return every ``Metric`` of one return series as a dict."""
    frame = metrics_table(returns.to_frame("series"), periods_per_year)
    return {str(key): float(value) for key, value in frame.iloc[0].items()}


def simple_returns(prices: pd.Series) -> pd.Series:
    """Return the periodic simple returns of a price series (the first period is dropped)."""
    return prices.astype(float).pct_change().iloc[1:]
