"""Thinning a chart line to its extremes per bucket: every minimum and maximum a trader needs stays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.ui.downsample import extremes, thin


def test_a_short_series_is_kept_whole() -> None:
    assert extremes(np.arange(10.0), buckets=5).tolist() == list(range(10))


def test_each_bucket_keeps_its_minimum_and_maximum_in_time_order() -> None:
    values = np.random.default_rng(7).normal(size=20_000).cumsum()
    kept = extremes(values, buckets=500)
    assert len(kept) <= 2 * 500 + 2 and np.all(np.diff(kept) > 0)
    assert kept[0] == 0 and kept[-1] == len(values) - 1
    size = 40  # 20,000 points in 500 buckets
    for start in range(0, len(values), size):
        bucket = values[start : start + size]
        assert start + int(bucket.argmin()) in kept and start + int(bucket.argmax()) in kept
    assert values[kept].min() == values.min() and values[kept].max() == values.max()


def test_a_spike_and_the_deepest_drawdown_survive() -> None:
    values = np.zeros(100_001)
    values[31_337] = 50.0
    values[77_777] = -80.0
    kept = extremes(values, buckets=1000)
    assert 31_337 in kept and 77_777 in kept


def test_nan_is_never_an_extreme_and_a_short_last_bucket_counts() -> None:
    values = np.arange(10_007, dtype=float)
    values[5] = np.nan
    values[10_005] = -1.0
    kept = extremes(values, buckets=100)
    assert 5 not in kept and 10_005 in kept and kept[-1] == 10_006


def test_thin_keeps_the_index_of_the_kept_points() -> None:
    index = pd.date_range("2024-01-01", periods=5_000, freq="h", tz="UTC")
    series = pd.Series(np.sin(np.arange(5_000) / 50.0), index=index)
    series.iloc[1234] = -3.0
    thinned = thin(series, buckets=200)
    assert len(thinned) <= 402 and thinned.min() == -3.0 and thinned.idxmin() == index[1234]
    assert thin(series.iloc[:100], buckets=200) is not None and len(thin(series.iloc[:100], buckets=200)) == 100


def test_buckets_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="buckets must be at least 1"):
        extremes(np.arange(5.0), buckets=0)
