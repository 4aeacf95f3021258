"""Fixtures of the backtest tests: the real OHLCV files and small hand-made bar series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.backtest.data import read_candle_csv
from core.backtest.series import PriceSeries
from tests.shared_data import shared_data_path

REAL_FILES = ("ETH_BTC_5m.csv", "ADA_BTC_5m.csv", "SPY_1d.csv", "GOOG_1d.csv", "ORCL_1d.csv")


@pytest.fixture(autouse=True)
def _jit_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests here run numba's JIT kernels, built or not (``test_native.py`` compares the compiled module)."""
    from core.backtest import native

    monkeypatch.setattr(native, "_loaded", {"module": None})


def real_series(name: str) -> PriceSeries:
    """A real OHLCV file of the shared data (skipped if missing, failed under CI)."""
    return read_candle_csv(shared_data_path("ohlcv", name))


@pytest.fixture(params=REAL_FILES)
def real_bars(request: pytest.FixtureRequest) -> PriceSeries:
    """Each real OHLCV file of ../shared/data/ohlcv in turn."""
    return real_series(request.param)


def make_bars(rows: list[tuple[float, float, float, float]], *, start: str = "2024-01-01") -> PriceSeries:
    """Hourly bars from (open, high, low, close) rows."""
    index = pd.date_range(start, periods=len(rows), freq="1h", tz="UTC")
    values = np.array(rows, dtype=float)
    frame = pd.DataFrame(values, columns=["open", "high", "low", "close"], index=index)
    frame["volume"] = 1.0
    return PriceSeries.from_frame(frame, label="test", timeframe="1h")
