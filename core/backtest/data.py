"""Load backtest data: a candle CSV file or stored candles, as a validated ``PriceSeries``.

CSV files are read by the market area's importer (``core.market.csv_import.read_candle_csv``:
the real-world variants of ``../shared/data/ohlcv`` — ``timestamp``/``date``/``Date`` or an
unnamed index column of dates, ISO-8601 or Unix seconds/milliseconds, any column case,
``Adj Close`` ignored); a malformed file is refused with one clear message naming the line.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from core.market.csv_import import BackgroundRead, CsvFormatError, read_candle_columns
from core.market.timeframes import TIMEFRAME_SECONDS

if TYPE_CHECKING:  # a CSV backtest loads no database code; ``load_stored_series`` imports it
    from sqlalchemy.orm import Session

    from core.backtest.series import PriceSeries

# pandas (``core.backtest.series``) is imported where a series is built, so that this module and
# :func:`start_reading` are cheap: ``konsens backtest`` starts the parse before its heavy imports.

logger = logging.getLogger(__name__)


def start_reading(path: str | Path) -> BackgroundRead:
    """Start parsing a candle CSV file in a thread; pass it to ``read_candle_csv(path, pending=...)``.

    The parse runs in pyarrow's C++ code without the GIL, so what the caller imports or compiles
    meanwhile costs no wall time (``konsens backtest`` imports pandas and numba and loads its
    compiled kernels while the file is parsed).
    """
    return BackgroundRead(path)


def read_candle_csv(
    path: str | Path, *, timeframe: str | None = None, pending: BackgroundRead | None = None
) -> PriceSeries:
    """Read an OHLCV CSV file into a validated ``PriceSeries`` (its file name is the label).

    ``pending`` is the parse :func:`start_reading` started for the same file (the result is the same).
    """
    from core.backtest.series import PriceDataError, PriceSeries

    path = Path(path)
    try:
        columns = pending.result() if pending is not None else read_candle_columns(path)
    except CsvFormatError as error:
        raise PriceDataError(str(error)) from None
    values = columns.values
    return PriceSeries.from_arrays(
        columns.ts,
        open=values["open"],
        high=values["high"],
        low=values["low"],
        close=values["close"],
        volume=values["volume"],
        label=path.name,
        timeframe=timeframe,
    )


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
    from core.backtest.series import PriceDataError, PriceSeries
    from core.market.query import candle_sources, instrument_by_symbol, load_candles, resample_candles

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
