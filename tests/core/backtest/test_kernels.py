from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from core.backtest import kernels
from core.backtest.series import PriceSeries

from .conftest import real_series


def test_sma_is_bit_identical_to_math_fsum_over_each_window_on_real_data() -> None:
    for name in ("ETH_BTC_5m.csv", "SPY_1d.csv"):
        close = real_series(name).close
        for period in (2, 10, 30, 200):
            ours = kernels.sma(close, period)
            expected = np.array(
                [
                    math.fsum(close[i - period + 1 : i + 1]) / period if i >= period - 1 else np.nan
                    for i in range(len(close))
                ]
            )
            assert np.array_equal(ours, expected, equal_nan=True), (name, period)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False), min_size=1, max_size=40))
def test_fsum_port_matches_python_fsum(values: list[float]) -> None:
    array = np.array(values, dtype=float)
    assert kernels.fsum_window(array, 0, len(values)) == math.fsum(values)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(min_value=1.0, max_value=1000.0), min_size=30, max_size=120),
    st.integers(min_value=2, max_value=20),
    st.integers(min_value=1, max_value=29),
)
def test_indicators_are_causal_a_prefix_gives_the_same_values(prices: list[float], period: int, cut: int) -> None:
    close = np.array(prices)
    prefix = close[: len(close) - cut]
    for compute in (
        lambda values: kernels.sma(values, period),
        lambda values: kernels.rsi_wilder(values, period),
        lambda values: kernels.rolling_std(values, kernels.sma(values, period), period),
    ):
        full = compute(close)
        assert np.array_equal(compute(prefix), full[: len(prefix)], equal_nan=True)


def test_rsi_is_between_0_and_100_and_matches_wilder_on_a_rising_series() -> None:
    close = real_series("GOOG_1d.csv").close
    rsi = kernels.rsi_wilder(close, 14)
    valid = rsi[~np.isnan(rsi)]
    assert len(valid) == len(close) - 14
    assert ((valid >= 0) & (valid <= 100)).all()
    assert kernels.rsi_wilder(np.arange(1.0, 40.0), 14)[-1] == 100.0


def test_rolling_std_is_the_population_deviation() -> None:
    close = real_series("SPY_1d.csv").close[:300]
    ours = kernels.rolling_std(close, kernels.sma(close, 20), 20)
    expected = pd.Series(close).rolling(20).std(ddof=0).to_numpy()
    assert np.allclose(ours[19:], expected[19:], rtol=1e-9)


def test_price_series_refuses_nan_and_non_positive_prices() -> None:
    import pytest

    from core.backtest.series import PriceDataError

    index = pd.date_range("2024-01-01", periods=3, freq="1h", tz="UTC")
    frame = pd.DataFrame({"open": [1.0, np.nan, 1.0], "high": 1.0, "low": 1.0, "close": 1.0}, index=index)
    with pytest.raises(PriceDataError, match="open at 2024-01-01T01:00:00"):
        PriceSeries.from_frame(frame, label="x")
    frame = pd.DataFrame({"open": 1.0, "high": 1.0, "low": [1.0, 0.0, 1.0], "close": 1.0}, index=index)
    with pytest.raises(PriceDataError, match="finite and positive"):
        PriceSeries.from_frame(frame, label="x")


OHLCV = ("open", "high", "low", "close", "volume")


def test_the_simulator_is_called_with_one_signature_with_or_without_protections() -> None:
    """numba's on-disk cache is keyed by the argument types; an omitted argument with an array default
    gets a type that differs per process, so the cache would never be hit (a 2-7 s compile per run)."""
    from core.backtest.engine import simulate_codes, warm_up
    from core.backtest.protections import Protections
    from core.backtest.series import PriceSeries
    from core.backtest.strategies import SmaCross
    from core.backtest.trades import BacktestConfig

    bars = real_series("SPY_1d.csv")
    codes = np.zeros(len(bars), np.int8)
    codes[10], codes[50] = 1, -1
    simulate_codes(bars, codes, BacktestConfig())
    simulate_codes(bars, codes, BacktestConfig(protections=Protections(daily_loss_limit=0.05, cooldown_minutes=60)))
    # Writable numpy arrays (the warm-up's synthetic bars) and read-only ones (pandas 3 hands out
    # read-only views) must reach the kernel as the same type: numba counts read-only in the type.
    copies = {name: np.array(getattr(bars, name)) for name in OHLCV}
    writable = PriceSeries(
        "writable",
        bars.timeframe,
        bars.index,
        copies["open"],
        copies["high"],
        copies["low"],
        copies["close"],
        copies["volume"],
    )
    read_only_codes = codes.view()
    read_only_codes.flags.writeable = False
    simulate_codes(writable, read_only_codes, BacktestConfig())
    warm_up(SmaCross(), BacktestConfig())
    signatures = kernels.simulate_long_only.signatures
    assert len(signatures) == 1, signatures
    assert not any("omitted" in str(argument).lower() for argument in signatures[0])
