"""Metrics reproduce the published reference values of empyrical(-reloaded) and quantstats.

The input vectors are those of empyrical's ``tests/conftest.py``; the expected values come
from empyrical's ``tests/test_stats.py`` (DAILY = 252, WEEKLY = 52, MONTHLY = 12 periods per
year) and, for the Gaussian VaR/CVaR, from quantstats' ``value_at_risk`` and
``conditional_value_at_risk`` (parametric) on the same inputs. Neither library is a dependency:
the numbers are hard-coded here.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core.risk import metrics
from core.risk.metrics import (
    alpha,
    annual_volatility,
    beta,
    cagr,
    calmar_ratio,
    conditional_value_at_risk,
    downside_risk,
    drawdown_series,
    max_drawdown,
    metrics_table,
    periods_per_year_for,
    sharpe_ratio,
    sortino_ratio,
    value_at_risk,
)

TOLERANCE = 1e-9
DAILY, WEEKLY, MONTHLY, YEARLY = 252, 52, 12, 1


def _daily(values: list[float], periods: int | None = None, freq: str = "D", tz: str | None = None) -> pd.Series:
    return pd.Series(
        np.array(values, dtype=float),
        index=pd.date_range("2000-1-30", periods=periods or len(values), freq=freq, tz=tz),
    )


MIXED = _daily([v / 100 for v in [math.nan, 1.0, 10.0, -4.0, 2.0, 3.0, 2.0, 1.0, -10.0]])
WEEKLY_RETURNS = _daily([v / 100 for v in [0.0, 1.0, 10.0, -4.0, 2.0, 3.0, 2.0, 1.0, -10.0]], freq="W")
MONTHLY_RETURNS = _daily([v / 100 for v in [0.0, 1.0, 10.0, -4.0, 2.0, 3.0, 2.0, 1.0, -10.0]], freq="ME")
POSITIVE = _daily([v / 100 for v in [1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
NEGATIVE = _daily([v / 100 for v in [0.0, -6.0, -7.0, -1.0, -9.0, -2.0, -6.0, -8.0, -5.0]])
ALL_NEGATIVE = _daily([v / 100 for v in [-2.0, -6.0, -7.0, -1.0, -9.0, -2.0, -6.0, -8.0, -5.0]])
SIMPLE_BENCHMARK = _daily([v / 100 for v in [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]])
FLAT_LINE_1 = _daily([0.01] * 9)
FLAT_LINE_1_TZ = _daily(list(np.linspace(0.01, 0.01, num=1000)), tz="UTC")
FLAT_LINE_YEARLY = _daily([0.03, 0.03, 0.03], freq="YE")
ONE_RETURN = _daily([0.01])
UDU = _daily([0.10, -0.10, 0.10])
EMPTY = _daily([])
NOISE = pd.Series(
    np.random.RandomState(1337).normal(0, 0.001, 1000),
    index=pd.date_range("2000-1-30", periods=1000, freq="D", tz="UTC"),
)
DF_ONE = [-0.00171614, 0.01322056, 0.03063862, -0.01422057, -0.00489779, 0.01268925, -0.03357711, 0.01797036]
DF_TWO = [0.01846232, 0.00793951, -0.01448395, 0.00422537, -0.00339611, 0.03756813, 0.0151531, 0.03549769]


def assert_close(observed: float, expected: float) -> None:
    if math.isnan(expected):
        assert math.isnan(observed), observed
    elif math.isinf(expected):
        assert observed == expected
    else:
        assert observed == pytest.approx(expected, abs=TOLERANCE, rel=0)


@pytest.mark.parametrize(
    ("returns", "expected"),
    [
        (EMPTY, math.nan),
        (ONE_RETURN, 0.0),
        (SIMPLE_BENCHMARK, 0.0),
        (MIXED, -0.1),
        (POSITIVE, -0.0),
        # empyrical's test states these two rounded (-0.36590730, -0.378589157); full precision
        # as empyrical computes them:
        (NEGATIVE, -0.365907303498736),
        (ALL_NEGATIVE, -0.3785891574287616),
        (UDU, -0.10),
    ],
)
def test_max_drawdown_matches_empyrical(returns: pd.Series, expected: float) -> None:
    assert_close(max_drawdown(returns), expected)


def test_max_drawdown_exact_value_of_negative_returns() -> None:
    wealth = np.cumprod(1 + NEGATIVE.to_numpy())
    assert_close(max_drawdown(NEGATIVE), wealth.min() - 1)


@pytest.mark.parametrize(
    ("returns", "periods", "expected"),
    [
        (MIXED, DAILY, 1.9135925373194231),
        (WEEKLY_RETURNS, WEEKLY, 0.24690830513998208),
        (MONTHLY_RETURNS, MONTHLY, 0.052242061386048144),
        (EMPTY, DAILY, math.nan),
        (ONE_RETURN, DAILY, 11.274002099240244),
        (FLAT_LINE_1_TZ, DAILY, 11.274002099240256),
        (FLAT_LINE_YEARLY, YEARLY, 0.03),
    ],
)
def test_cagr_matches_empyrical(returns: pd.Series, periods: int, expected: float) -> None:
    assert_close(cagr(returns, periods), expected)


@pytest.mark.parametrize(
    ("returns", "periods", "expected"),
    [
        (FLAT_LINE_1_TZ, DAILY, 0.0),
        (MIXED, DAILY, 0.9136465399704637),
        (WEEKLY_RETURNS, WEEKLY, 0.38851569394870583),
        (MONTHLY_RETURNS, MONTHLY, 0.18663690238892558),
        (ONE_RETURN, DAILY, math.nan),
    ],
)
def test_annual_volatility_matches_empyrical(returns: pd.Series, periods: int, expected: float) -> None:
    assert_close(annual_volatility(returns, periods), expected)


@pytest.mark.parametrize(
    ("returns", "periods", "expected"),
    [
        (EMPTY, DAILY, math.nan),
        (ONE_RETURN, DAILY, math.nan),
        (MIXED, DAILY, 19.135925373194233),
        (WEEKLY_RETURNS, WEEKLY, 2.4690830513998208),
        (MONTHLY_RETURNS, MONTHLY, 0.52242061386048144),
        (POSITIVE, DAILY, math.nan),  # no drawdown
    ],
)
def test_calmar_matches_empyrical(returns: pd.Series, periods: int, expected: float) -> None:
    assert_close(calmar_ratio(returns, periods), expected)


@pytest.mark.parametrize(
    ("returns", "risk_free", "expected"),
    [
        (EMPTY, 0.0, math.nan),
        (ONE_RETURN, 0.0, math.nan),
        (MIXED, MIXED, math.nan),
        (MIXED, 0.0, 1.7238613961706866),
        (MIXED, SIMPLE_BENCHMARK, 0.34111411441060574),
        (POSITIVE, 0.0, 52.915026221291804),
        (NEGATIVE, 0.0, -24.406808633910085),
        (FLAT_LINE_1, 0.0, math.inf),
    ],
)
def test_sharpe_matches_empyrical(returns: pd.Series, risk_free: float | pd.Series, expected: float) -> None:
    assert_close(sharpe_ratio(returns, DAILY, risk_free=risk_free), expected)


@pytest.mark.parametrize(
    ("returns", "required", "periods", "expected"),
    [
        (EMPTY, 0.0, DAILY, math.nan),
        (ONE_RETURN, 0.0, DAILY, math.nan),
        (MIXED, MIXED, DAILY, math.nan),
        (MIXED, 0.0, DAILY, 2.605531251673693),
        (MIXED, FLAT_LINE_1, DAILY, -1.3934779588919977),
        (POSITIVE, 0.0, DAILY, math.inf),
        (NEGATIVE, 0.0, DAILY, -13.532743075043401),
        (SIMPLE_BENCHMARK, 0.0, DAILY, math.inf),
        (WEEKLY_RETURNS, 0.0, WEEKLY, 1.1158901056866439),
        (MONTHLY_RETURNS, 0.0, MONTHLY, 0.53605626741889756),
        (_daily(DF_ONE), 0.0, DAILY, 3.0639640966566306),
        (_daily(DF_TWO), 0.0, DAILY, 38.090963117002495),
        (_daily(DF_ONE, freq="W"), 0.0, WEEKLY, 1.3918264112070571),
        (_daily(DF_TWO, freq="ME"), 0.0, MONTHLY, 8.3121296084492844),
    ],
)
def test_sortino_matches_empyrical(
    returns: pd.Series, required: float | pd.Series, periods: int, expected: float
) -> None:
    assert_close(sortino_ratio(returns, periods, required_return=required), expected)


@pytest.mark.parametrize(
    ("returns", "required", "periods", "expected"),
    [
        (ONE_RETURN, 0.0, DAILY, 0.0),
        (MIXED, 0.0, DAILY, 0.60448325038829653),
        (MIXED, 0.1, DAILY, 1.7161730681956295),
        (WEEKLY_RETURNS, 0.0, WEEKLY, 0.25888650451930134),
        (WEEKLY_RETURNS, 0.1, WEEKLY, 0.7733045971672482),
        (MONTHLY_RETURNS, 0.0, MONTHLY, 0.1243650540411842),
        (MONTHLY_RETURNS, 0.1, MONTHLY, 0.37148351242013422),
        (_daily(DF_ONE), 0.0, DAILY, 0.20671788246185202),
        (_daily(DF_TWO), 0.0, DAILY, 0.083495680595704475),
    ],
)
def test_downside_risk_matches_empyrical(returns: pd.Series, required: float, periods: int, expected: float) -> None:
    assert_close(downside_risk(returns, periods, required_return=required), expected)


def test_alpha_and_beta_match_empyrical() -> None:
    benchmark = NEGATIVE.iloc[1:]
    assert_close(alpha(MIXED, benchmark, DAILY), -0.9997853834885004)
    assert_close(beta(MIXED, benchmark), -0.71296296296296313)
    assert_close(alpha(MIXED, MIXED, DAILY), 0.0)
    assert_close(beta(MIXED, MIXED), 1.0)
    assert_close(alpha(MIXED, -MIXED, DAILY), 0.0)
    assert_close(beta(MIXED, -MIXED), -1.0)
    assert_close(alpha(EMPTY, SIMPLE_BENCHMARK, DAILY), math.nan)
    assert_close(alpha(ONE_RETURN, ONE_RETURN, DAILY), math.nan)
    assert_close(beta(EMPTY, SIMPLE_BENCHMARK), math.nan)
    assert_close(beta(ONE_RETURN, ONE_RETURN), math.nan)
    assert_close(beta(NOISE, NOISE), 1.0)
    assert_close(beta(2 * NOISE, NOISE), 2.0)
    assert_close(beta(NOISE, -NOISE), -1.0)
    assert_close(beta(2 * NOISE, -NOISE), -2.0)


def test_historical_var_matches_empyrical() -> None:
    # empyrical's cutoff c is our level 1 - c.
    assert_close(value_at_risk([1.0, 2.0], level=1.0), 1.0)
    assert_close(value_at_risk([1.0, 2.0], level=0.7), 1.3)
    assert_close(value_at_risk([1.0, 2.0], level=0.0), 2.0)
    returns = [1, 81, 82, 83, 84, 85]
    assert_close(value_at_risk(returns, level=0.9), 41.0)
    assert_close(value_at_risk(returns, level=0.8), 81.0)
    assert_close(value_at_risk(returns, level=0.7), 81.5)


def test_single_return_is_its_own_cvar() -> None:
    assert_close(conditional_value_at_risk([-0.013], level=1.0), -0.013)
    assert_close(conditional_value_at_risk([-0.013], level=0.0), -0.013)


# (series, level, historical VaR, historical CVaR, Gaussian VaR, Gaussian CVaR)
TAIL_REFERENCES = [
    (MIXED, 0.95, -0.079, -0.1, -0.0884184355616541, -0.11246803745943681),
    (MIXED, 0.99, -0.09580000000000001, -0.1, -0.12764137501298395, -0.14714459787947137),
    (NEGATIVE, 0.95, -0.086, -0.09, -0.10119190073361736, -0.11447897583376021),
    (NEGATIVE, 0.99, -0.0892, -0.09, -0.12286203666157319, -0.13363729972094773),
    (NOISE, 0.95, -0.0016923387183601275, -0.0020581538175858155, -0.0016409556958215659, -0.002051340512460692),
    (NOISE, 0.99, -0.0022671199240052236, -0.0026592563488573202, -0.0023102598648966303, -0.0026430648141824394),
]


@pytest.mark.parametrize(("returns", "level", "hvar", "hcvar", "gvar", "gcvar"), TAIL_REFERENCES)
def test_var_and_cvar_match_references(
    returns: pd.Series, level: float, hvar: float, hcvar: float, gvar: float, gcvar: float
) -> None:
    assert_close(value_at_risk(returns, level), hvar)
    assert_close(conditional_value_at_risk(returns, level), hcvar)
    assert_close(value_at_risk(returns, level, method="gaussian"), gvar)
    assert_close(conditional_value_at_risk(returns, level, method="gaussian"), gcvar)


def test_var_is_a_negative_return_for_losses_and_cvar_is_worse() -> None:
    for level in (0.95, 0.99):
        for method in ("historical", "gaussian"):
            var = value_at_risk(NOISE, level, method=method)
            cvar = conditional_value_at_risk(NOISE, level, method=method)
            assert var < 0
            assert cvar <= var


def test_gaussian_var_of_a_flat_series_is_nan_and_cvar_the_mean() -> None:
    assert math.isnan(value_at_risk(FLAT_LINE_1, 0.95, method="gaussian"))
    assert_close(conditional_value_at_risk(FLAT_LINE_1, 0.95, method="gaussian"), 0.01)


def test_unknown_method_and_bad_level_are_refused() -> None:
    with pytest.raises(ValueError, match="method"):
        value_at_risk(NOISE, 0.95, method="monte-carlo")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="level"):
        value_at_risk(NOISE, 1.5)


def test_noise_series_matches_empyrical_at_365_periods() -> None:
    assert_close(sharpe_ratio(NOISE, 365), -0.4965171595346733)
    assert_close(sortino_ratio(NOISE, 365), -0.6787655220723882)
    assert_close(annual_volatility(NOISE, 365), 0.01876323718124055)
    assert_close(max_drawdown(NOISE), -0.04051095073911093)
    assert_close(cagr(NOISE, 365), -0.009447351902006962)
    assert_close(calmar_ratio(NOISE, 365), -0.23320489224870503)


def test_nans_are_ignored_in_means_and_tails() -> None:
    with_gaps = NOISE.copy()
    with_gaps.iloc[[5, 50, 500]] = np.nan
    clean = with_gaps.dropna()
    assert_close(sharpe_ratio(with_gaps, 365), sharpe_ratio(clean, 365))
    assert_close(annual_volatility(with_gaps, 365), annual_volatility(clean, 365))
    assert_close(value_at_risk(with_gaps, 0.95), value_at_risk(clean, 0.95))
    assert_close(
        conditional_value_at_risk(with_gaps, 0.99, "gaussian"), conditional_value_at_risk(clean, 0.99, "gaussian")
    )
    assert_close(max_drawdown(with_gaps), max_drawdown(clean))


def test_metrics_table_agrees_with_the_single_series_functions() -> None:
    frame = pd.DataFrame({"noise": NOISE.to_numpy(), "double": 2 * NOISE.to_numpy() + 0.0002})
    frame.iloc[[3, 9], 1] = np.nan
    table = metrics_table(frame, {"noise": 365, "double": 252})
    for column, periods in (("noise", 365), ("double", 252)):
        series = frame[column]
        row = table.loc[column]
        assert_close(row["sharpe"], sharpe_ratio(series, periods))
        assert_close(row["sortino"], sortino_ratio(series, periods))
        assert_close(row["volatility"], annual_volatility(series, periods))
        assert_close(row["max_drawdown"], max_drawdown(series))
        assert_close(row["cagr"], cagr(series, periods))
        assert_close(row["calmar"], calmar_ratio(series, periods))
        for level, suffix in ((0.95, "95"), (0.99, "99")):
            assert_close(row[f"var_{suffix}"], value_at_risk(series, level))
            assert_close(row[f"cvar_{suffix}"], conditional_value_at_risk(series, level))
            assert_close(row[f"gaussian_var_{suffix}"], value_at_risk(series, level, "gaussian"))
            assert_close(row[f"gaussian_cvar_{suffix}"], conditional_value_at_risk(series, level, "gaussian"))


def test_drawdown_series_is_zero_at_peaks_and_ends_at_the_current_drawdown() -> None:
    drawdowns = drawdown_series(UDU)
    assert list(drawdowns.round(12)) == [0.0, -0.1, pytest.approx(-0.01)]
    assert drawdowns.index.equals(UDU.index)


def test_periods_per_year_per_asset_class() -> None:
    assert periods_per_year_for("crypto") == 365
    assert periods_per_year_for("stock") == 252
    assert periods_per_year_for("etf") == 252
    assert periods_per_year_for(None) == metrics.PERIODS_PER_YEAR_PORTFOLIO == 365
