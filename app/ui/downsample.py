"""Thin a long line series to what a chart can show, keeping every extreme (min and max per bucket).

A chart about 1,000 pixels wide cannot show more than a minimum and a maximum per pixel column, so
a 20,000-point equity curve or a year of hourly drawdowns ships and draws ten times what anyone
sees. ``extremes(values, buckets)`` splits the series into ``buckets`` runs of consecutive points
and keeps, for each run, the positions of its lowest and highest value (plus the first and the last
point), in time order: the deepest drawdown, the highest equity and every spike stay exactly where
they were; only points between a bucket's extremes go. A series of at most ``2 * buckets`` points
is returned whole. NaN (a gap) never counts as an extreme.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SCREEN_BUCKETS = 800  # at least one per pixel column of the widest chart (2/3 of a wide page): <= 1,602 points a line


def extremes(values: np.ndarray | pd.Series, buckets: int = SCREEN_BUCKETS) -> np.ndarray:
    """Positions (sorted) of each bucket's minimum and maximum, and of the first and last point."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    array = np.asarray(values, dtype=float)
    count = len(array)
    if count <= 2 * buckets:
        return np.arange(count)
    size = -(-count // buckets)  # points per bucket (the last bucket may be shorter)
    rows = -(-count // size)
    missing = np.isnan(array)
    lows = np.full(rows * size, np.inf)
    lows[:count] = np.where(missing, np.inf, array)
    highs = np.full(rows * size, -np.inf)
    highs[:count] = np.where(missing, -np.inf, array)
    starts = np.arange(rows) * size
    low_positions = lows.reshape(rows, size).argmin(axis=1) + starts
    high_positions = highs.reshape(rows, size).argmax(axis=1) + starts
    keep = np.unique(np.concatenate([[0, count - 1], low_positions, high_positions]))
    return keep[keep < count]


def thin(series: pd.Series, buckets: int = SCREEN_BUCKETS) -> pd.Series:
    """``series`` reduced to its extremes per bucket (index and values of the kept points)."""
    positions = extremes(series.to_numpy(dtype=float, na_value=np.nan), buckets)
    return series if len(positions) == len(series) else series.iloc[positions]
