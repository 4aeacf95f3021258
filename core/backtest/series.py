"""The price data a backtest runs on: OHLCV arrays with a UTC index, validated once."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from core.errors import PermanentError
from core.market.timeframes import TIMEFRAME_SECONDS
from core.timeutil import ensure_utc

FloatArray = np.ndarray


def read_only(values: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """A read-only, C-contiguous view of ``values`` as ``dtype`` (a copy only if the layout or type differs).

    The compiled kernels are keyed by their arguments' types, and numba counts "read-only" as part of
    the type: pandas 3 hands out read-only views (copy-on-write), arrays built with numpy are
    writable. Passing one kind everywhere keeps one signature per kernel — one on-disk cache entry,
    and a warm-up on synthetic bars loads the very kernel a real run calls.
    """
    view: np.ndarray = np.ascontiguousarray(values, dtype=dtype).view()
    view.flags.writeable = False
    return view


class PriceDataError(PermanentError, ValueError):
    """The price data cannot be backtested (empty, unordered, NaN or non-positive prices)."""


@dataclass(frozen=True)
class PriceSeries:
    """OHLCV bars of one instrument, oldest first; ``index`` holds each bar's open time (UTC).

    ``extras`` holds further causal per-bar columns aligned to the bars (e.g. the recorded AI
    consensus as of each bar's close), which strategies can read through ``Column`` indicators.
    """

    label: str
    timeframe: str
    index: pd.DatetimeIndex
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    instrument_id: int | None = None
    extras: dict[str, FloatArray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("open", "high", "low", "close", "volume"):  # one argument type for the kernels
            object.__setattr__(self, name, read_only(getattr(self, name)))

    def __len__(self) -> int:
        return int(self.close.shape[0])

    @property
    def bar_seconds(self) -> int:
        """The length of one bar in seconds."""
        return TIMEFRAME_SECONDS.get(self.timeframe, 86400)

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, *, label: str, timeframe: str | None = None, instrument_id: int | None = None
    ) -> PriceSeries:
        """Build a validated series from a frame with ``open high low close [volume]`` and a UTC index."""
        if len(frame) == 0:
            raise PriceDataError(f"{label}: no candles")
        if not isinstance(frame.index, pd.DatetimeIndex):
            raise PriceDataError(f"{label}: the index must hold timestamps")
        for name in ("open", "high", "low", "close"):
            if name not in frame.columns:
                raise PriceDataError(f"{label}: missing column {name!r}")
        columns = {name: frame[name].to_numpy(dtype=np.float64) for name in ("open", "high", "low", "close")}
        volume = frame["volume"].to_numpy(dtype=np.float64) if "volume" in frame.columns else None
        return cls.from_arrays(
            frame.index, **columns, volume=volume, label=label, timeframe=timeframe, instrument_id=instrument_id
        )

    @classmethod
    def from_arrays(
        cls,
        index: pd.DatetimeIndex,
        *,
        open: FloatArray,
        high: FloatArray,
        low: FloatArray,
        close: FloatArray,
        volume: FloatArray | None,
        label: str,
        timeframe: str | None = None,
        instrument_id: int | None = None,
    ) -> PriceSeries:
        """Build a validated series from float arrays and their UTC index (no frame, no copy of valid arrays)."""
        if len(index) == 0:
            raise PriceDataError(f"{label}: no candles")
        index = index if index.tz is not None else index.tz_localize("UTC")
        index = index.tz_convert("UTC")
        if not index.is_monotonic_increasing or index.has_duplicates:
            raise PriceDataError(f"{label}: timestamps must be strictly increasing (sorted, no duplicates)")
        columns: dict[str, np.ndarray] = {}
        for name, given in (("open", open), ("high", high), ("low", low), ("close", close)):
            values = np.ascontiguousarray(given, dtype=np.float64)
            if values.shape[0] != len(index):
                raise PriceDataError(f"{label}: column {name!r} does not match the index")
            bad = ~np.isfinite(values) | (values <= 0)
            if bad.any():
                position = int(np.argmax(bad))
                raise PriceDataError(
                    f"{label}: {name} at {index[position].isoformat()} is {values[position]!r} "
                    "(prices must be finite and positive)"
                )
            columns[name] = values
        if volume is None:
            volume = np.zeros(len(index))
        else:
            volume = np.ascontiguousarray(volume, dtype=np.float64)
            finite = np.isfinite(volume)
            if not finite.all():
                volume = np.where(finite, volume, 0.0)
        return cls(
            label=label,
            timeframe=timeframe or infer_timeframe(index),
            index=index if index.name == "ts" else index.rename("ts"),
            open=columns["open"],
            high=columns["high"],
            low=columns["low"],
            close=columns["close"],
            volume=volume,
            instrument_id=instrument_id,
        )

    def between(self, start: datetime | None = None, end: datetime | None = None) -> PriceSeries:
        """Return the bars with ``start <= ts < end`` (either bound optional)."""
        mask = np.ones(len(self), dtype=bool)
        if start is not None:
            mask &= self.index >= pd.Timestamp(ensure_utc(start))
        if end is not None:
            mask &= self.index < pd.Timestamp(ensure_utc(end))
        if mask.all():
            return self
        if not mask.any():
            raise PriceDataError(f"{self.label}: no candles in the chosen range")
        return PriceSeries(
            label=self.label,
            timeframe=self.timeframe,
            index=self.index[mask],
            open=self.open[mask],
            high=self.high[mask],
            low=self.low[mask],
            close=self.close[mask],
            volume=self.volume[mask],
            instrument_id=self.instrument_id,
            extras={name: values[mask] for name, values in self.extras.items()},
        )

    def head(self, count: int) -> PriceSeries:
        """Return the first ``count`` bars (as if the later candles had not happened yet)."""
        if not 0 < count <= len(self):
            raise PriceDataError(f"{self.label}: cannot keep {count} of {len(self)} candles")
        return PriceSeries(
            label=self.label,
            timeframe=self.timeframe,
            index=self.index[:count],
            open=self.open[:count],
            high=self.high[:count],
            low=self.low[:count],
            close=self.close[:count],
            volume=self.volume[:count],
            instrument_id=self.instrument_id,
            extras={name: values[:count] for name, values in self.extras.items()},
        )

    def with_extras(self, **extras: FloatArray) -> PriceSeries:
        """Return a copy with further per-bar columns."""
        for name, values in extras.items():
            if values.shape[0] != len(self):
                raise PriceDataError(f"{self.label}: extra column {name!r} does not match the bars")
        return PriceSeries(
            label=self.label,
            timeframe=self.timeframe,
            index=self.index,
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=self.volume,
            instrument_id=self.instrument_id,
            extras={**self.extras, **extras},
        )

    def to_frame(self) -> pd.DataFrame:
        """Return the bars as a float frame indexed by ``ts``."""
        return pd.DataFrame(
            {"open": self.open, "high": self.high, "low": self.low, "close": self.close, "volume": self.volume},
            index=self.index,
        )


def infer_timeframe(index: pd.DatetimeIndex) -> str:
    """Name the timeframe of bars from the most common spacing of their timestamps (``1d`` if unsure)."""
    if len(index) < 2:
        return "1d"
    nanoseconds = index.as_unit("ns").asi8
    steps = np.diff(nanoseconds) // 1_000_000_000
    values, counts = np.unique(steps, return_counts=True)
    seconds = float(values[np.argmax(counts)])  # the most common spacing (the smallest of equally common ones)
    best = min(TIMEFRAME_SECONDS.items(), key=lambda item: abs(math.log(item[1] / max(seconds, 1.0))))
    return best[0]
