"""Load backtest data: a candle CSV file (the common real-world variants) or stored candles.

CSV variants read (see ``../shared/data/ohlcv``): a time column named ``timestamp``, ``date``,
``datetime``, ``time``, ``ts`` or ``open_time`` (any case), or an unnamed first column holding
dates (an exported pandas index); ISO-8601 text, dates, or Unix seconds / milliseconds; price
columns ``open high low close`` in any case, ``volume`` optional, extra columns (``Adj Close``)
ignored; files without a header whose columns are ``time, open, high, low, close[, volume]``.
Anything else is refused with one clear message naming the file and the problem.

This is a small reader private to backtests; when the market area's candle importer lands it
can replace ``read_candle_csv`` without changing callers.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from core.backtest.series import PriceDataError, PriceSeries
from core.market.query import (
    TIMEFRAME_SECONDS,
    candle_sources,
    instrument_by_symbol,
    load_candles,
    resample_candles,
)

logger = logging.getLogger(__name__)

TIME_COLUMNS = ("timestamp", "date", "datetime", "time", "ts", "open_time")
PRICE_COLUMNS = ("open", "high", "low", "close")


def read_candle_csv(path: str | Path, *, timeframe: str | None = None) -> PriceSeries:
    """Read an OHLCV CSV file into a validated ``PriceSeries``."""
    path = Path(path)
    label = path.name
    if not path.is_file():
        raise PriceDataError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise PriceDataError(f"{label}: not a readable CSV file ({str(error).splitlines()[0]})") from None
    lowered = {str(column).strip().lower(): column for column in frame.columns}
    if not all(name in lowered for name in PRICE_COLUMNS):
        frame, lowered = _headerless(path, frame, label)
    time_values = _time_column(frame, lowered, label)
    index = _parse_times(time_values, label)
    prices = pd.DataFrame(index=index)
    for name in (*PRICE_COLUMNS, "volume"):
        if name not in lowered:
            continue
        values = pd.to_numeric(frame[lowered[name]], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if name != "volume" and bad.any():
            row = int(np.argmax(bad))
            raise PriceDataError(f"{label}: line {row + 2}: {name} is {frame[lowered[name]].iloc[row]!r}, not a number")
        prices[name] = values
    if not index.is_monotonic_increasing:
        order = np.argsort(index.asi8, kind="stable")
        prices = prices.iloc[order]
    if prices.index.has_duplicates:
        duplicated = prices.index[prices.index.duplicated()][0]
        raise PriceDataError(f"{label}: the time {duplicated.isoformat()} appears twice")
    return PriceSeries.from_frame(prices, label=label, timeframe=timeframe)


def _headerless(path: Path, frame: pd.DataFrame, label: str) -> tuple[pd.DataFrame, dict[str, object]]:
    """Re-read a file whose first line is data: columns time, open, high, low, close[, volume]."""
    try:
        first = [float(str(value)) for value in list(frame.columns)[1:5]]
    except ValueError:
        raise PriceDataError(
            f"{label}: no open/high/low/close columns found (columns: {', '.join(map(str, frame.columns))})"
        ) from None
    del first
    headerless = pd.read_csv(path, header=None)
    if headerless.shape[1] not in (5, 6):
        raise PriceDataError(f"{label}: a file without a header needs time, open, high, low, close[, volume]")
    names = ["time", *PRICE_COLUMNS, "volume"][: headerless.shape[1]]
    headerless.columns = names
    return headerless, {name: name for name in names}


def _time_column(frame: pd.DataFrame, lowered: dict[str, object], label: str) -> pd.Series:
    for name in TIME_COLUMNS:
        if name in lowered:
            return frame[lowered[name]]
    first = frame.columns[0]
    if str(first).startswith("Unnamed") or str(first).strip() == "":
        return frame[first]
    raise PriceDataError(f"{label}: no time column (expected one of {', '.join(TIME_COLUMNS)})")


def _parse_times(values: pd.Series, label: str) -> pd.DatetimeIndex:
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.to_numpy(dtype=np.float64)
        if not np.isfinite(numbers).all():
            raise PriceDataError(f"{label}: a time value is missing")
        unit = "ms" if np.nanmax(numbers) > 1e11 else "s"
        if np.nanmax(numbers) < 1e8:
            raise PriceDataError(f"{label}: the time column holds small numbers, not Unix times or dates")
        return pd.DatetimeIndex(pd.to_datetime(numbers, unit=unit, utc=True), name="ts")
    try:
        parsed = pd.to_datetime(values, utc=True, format="mixed")
    except (ValueError, TypeError) as error:
        raise PriceDataError(f"{label}: cannot read the times ({str(error).splitlines()[0]})") from None
    if parsed.isna().any():
        row = int(np.argmax(parsed.isna().to_numpy()))
        raise PriceDataError(f"{label}: line {row + 2}: the time is missing")
    return pd.DatetimeIndex(parsed, name="ts")


def load_stored_series(
    session: Session,
    symbol: str,
    timeframe: str = "1h",
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    source: str | None = None,
) -> PriceSeries:
    """Load an instrument's stored candles (by symbol) as a ``PriceSeries``.

    A timeframe that is not stored is built from the coarsest finer stored one (e.g. 1d from 1h).
    """
    if timeframe not in TIMEFRAME_SECONDS:
        raise PriceDataError(f"unknown timeframe {timeframe!r} (choose from {', '.join(TIMEFRAME_SECONDS)})")
    instrument = instrument_by_symbol(session, symbol)
    if instrument is None:
        raise PriceDataError(f"no instrument {symbol!r} in the database")
    frame = load_candles(session, instrument.id, timeframe, start=start, end=end, source=source)
    if frame.empty:
        finer = [
            stored
            for _source, stored in candle_sources(session, instrument.id)
            if stored in TIMEFRAME_SECONDS and TIMEFRAME_SECONDS[stored] < TIMEFRAME_SECONDS[timeframe]
        ]
        if finer:  # aggregate the finest stored candles to the requested timeframe
            base = max(finer, key=lambda name: TIMEFRAME_SECONDS[name])
            frame = load_candles(session, instrument.id, base, start=start, end=end, source=source)
            frame = resample_candles(frame, timeframe) if not frame.empty else frame
    if frame.empty:
        raise PriceDataError(f"{instrument.symbol}: no stored {timeframe} candles in that range")
    return PriceSeries.from_frame(frame, label=instrument.symbol, timeframe=timeframe, instrument_id=instrument.id)


def looks_like_file(data: str) -> bool:
    """Return True if ``data`` names a file rather than a symbol (a path or a .csv name)."""
    return data.lower().endswith(".csv") or ("/" in data and Path(data).exists()) or Path(data).is_file()
