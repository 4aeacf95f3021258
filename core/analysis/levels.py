"""Support and resistance levels from swing points, clustered by price.

A swing high is a bar whose high is the highest of the ``window`` bars on each side (a swing low
mirrors it). Nearby swing prices (within ``tolerance`` as a fraction of price) form one level;
a level's strength is the number of swings in it, and recent touches count more.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd


class LevelKind(StrEnum):
    SUPPORT = "support"
    RESISTANCE = "resistance"


@dataclass(frozen=True)
class PriceLevel:
    price: float
    kind: LevelKind
    touches: int
    strength: float
    last_touch: pd.Timestamp


def swing_points(frame: pd.DataFrame, window: int = 5) -> tuple[pd.Series, pd.Series]:
    """Return (swing highs, swing lows) as price series at the bars where they occur."""
    span = 2 * window + 1
    highs = frame["high"].astype(float)
    lows = frame["low"].astype(float)
    is_high = highs == highs.rolling(span, center=True).max()
    is_low = lows == lows.rolling(span, center=True).min()
    return highs[is_high], lows[is_low]


def _index_numbers(index: pd.Index) -> np.ndarray:
    """Return sortable numbers for an index (nanoseconds for a DatetimeIndex, aware or not)."""
    return index.asi8 if isinstance(index, pd.DatetimeIndex) else np.asarray(index)


def support_resistance(
    frame: pd.DataFrame, *, window: int = 5, tolerance: float = 0.01, max_levels: int = 6
) -> list[PriceLevel]:
    """Return the strongest support and resistance levels relative to the last close.

    ``frame`` needs float columns ``high low close`` on a DatetimeIndex.
    """
    if len(frame) < 2 * window + 1:
        return []
    swing_highs, swing_lows = swing_points(frame, window)
    points = pd.concat([swing_highs, swing_lows]).sort_index()
    if points.empty:
        return []
    last_close = float(frame["close"].iloc[-1])
    positions = np.searchsorted(_index_numbers(frame.index), _index_numbers(points.index))
    recency = 0.5 + positions / max(len(frame) - 1, 1)  # 0.5 for the oldest bar .. 1.5 for the newest
    order = np.argsort(points.values)
    prices = points.values[order]
    weights = recency[order]
    times = np.asarray(points.index)[order]
    clusters: list[tuple[list[float], list[float], list[np.datetime64]]] = []
    for price, weight, when in zip(prices, weights, times, strict=True):
        if clusters and abs(price - np.mean(clusters[-1][0])) <= tolerance * price:
            clusters[-1][0].append(float(price))
            clusters[-1][1].append(float(weight))
            clusters[-1][2].append(when)
        else:
            clusters.append(([float(price)], [float(weight)], [when]))
    levels = [
        PriceLevel(
            price=float(np.average(cluster_prices, weights=cluster_weights)),
            kind=LevelKind.SUPPORT if np.mean(cluster_prices) < last_close else LevelKind.RESISTANCE,
            touches=len(cluster_prices),
            strength=float(sum(cluster_weights)),
            last_touch=pd.Timestamp(max(cluster_times)),
        )
        for cluster_prices, cluster_weights, cluster_times in clusters
    ]
    levels = [level for level in levels if level.touches >= 2] or levels
    levels.sort(key=lambda level: level.strength, reverse=True)
    return sorted(levels[:max_levels], key=lambda level: level.price)
