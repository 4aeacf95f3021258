"""Shared data for the lab tests: seeded random walks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.backtest.series import PriceSeries

FREQUENCIES = {"1m": "1min", "1h": "1h", "1d": "1D"}


def random_walk(candles: int, timeframe: str = "1h", seed: int = 7, drift: float = 0.0) -> PriceSeries:
    """A seeded OHLCV random walk (the same generator as ``bench/backtest.py``)."""
    generator = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(generator.normal(drift, 0.004, candles)))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(generator.normal(0.0, 0.0005, candles))
    spread = np.abs(generator.normal(0.0, 0.002, candles))
    high = np.maximum(open_, close) * (1.0 + spread)
    low = np.minimum(open_, close) * (1.0 - spread)
    index = pd.date_range("2021-01-01", periods=candles, freq=FREQUENCIES[timeframe], tz="UTC")
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": np.ones(candles)}, index=index
    )
    return PriceSeries.from_frame(frame, label="random walk", timeframe=timeframe)
