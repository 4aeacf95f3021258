"""Read market data for analytics and display: candle frames, latest prices, prices at a time."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Float, func, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from core.market.models import Candle, Instrument
from core.market.series import series_keys
from core.market.timeframes import TIMEFRAME_SECONDS as TIMEFRAME_SECONDS  # re-exported: its old home

if TYPE_CHECKING:  # pandas and numpy are imported by the functions that build frames (lazy: light processes)
    import numpy as np
    import pandas as pd

TIMEFRAME_RULES = {
    "1m": "1min",
    "5m": "5min",
    "15m": "15min",
    "30m": "30min",
    "1h": "1h",
    "4h": "4h",
    "1d": "1D",
    "1w": "W-MON",
}
CANDLE_VALUE_COLUMNS = ("open", "high", "low", "close", "volume")


def instrument_by_symbol(session: Session, symbol: str) -> Instrument | None:
    """Return the instrument with ``symbol`` (case-insensitive), or None."""
    return session.scalar(select(Instrument).where(Instrument.symbol == symbol.upper()))


def tracked_instruments(session: Session) -> list[Instrument]:
    """Return the tracked instruments, by symbol."""
    return list(session.scalars(select(Instrument).where(Instrument.tracked.is_(True)).order_by(Instrument.symbol)))


def candle_sources(session: Session, instrument_id: int) -> list[tuple[str, str]]:
    """Return the (source, timeframe) pairs that hold candles for an instrument."""
    # A skip scan along the primary key: one index seek per series, not a read of every candle.
    return sorted((source, timeframe) for _instrument, source, timeframe in series_keys(session, instrument_id))


def load_candles(
    session: Session,
    instrument_id: int,
    timeframe: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    source: str | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Return candles as a float frame indexed by aware UTC ``ts`` (analytics only: floats).

    ``source`` None takes the source with the most candles for that timeframe. ``limit`` keeps
    the latest ``limit`` rows. ``start`` is inclusive, ``end`` exclusive.

    Read column-wise, with no Python object per value where the driver allows it (issue 21):
    PostgreSQL (psycopg2) sends the series as one ``COPY ... TO STDOUT (FORMAT csv)`` that pyarrow
    parses straight into arrays; SQLite (stdlib ``sqlite3``, 3.38+), in one snapshot, the times as
    one text built in C (``group_concat``) parsed by pyarrow and the raw REALs read by
    ``np.fromiter`` into one structured array. The frame is the same as ``load_candles_by_rows``
    builds (tested on both databases).
    """
    _check_limit(limit)
    if source is None:
        source = _preferred_source(session, instrument_id, timeframe)
        if source is None:
            return _empty_frame()
    connection = session.connection()
    dialect = connection.dialect
    # The bounds exactly as the ORM binds them (UTC; on SQLite its naive text form); naive times refused.
    bind_ts = Candle.__table__.c.ts.type.dialect_impl(dialect).bind_processor(dialect)
    if bind_ts is None:  # pragma: no cover - UTCDateTime always processes its binds
        raise TypeError("the candle time column has no bind processor")
    lower = None if start is None else bind_ts(start)
    upper = None if end is None else bind_ts(end)
    driver = connection.connection.driver_connection
    if dialect.name == "sqlite" and dialect.driver == "pysqlite" and _SQLITE_HAS_UNIXEPOCH:
        columns = _sqlite_columns(driver, instrument_id, source, timeframe, lower, upper, limit)
    elif dialect.name == "postgresql" and dialect.driver == "psycopg2":
        columns = _postgresql_columns(driver, instrument_id, source, timeframe, lower, upper, limit)
    else:  # another driver: the row reader
        return load_candles_by_rows(session, instrument_id, timeframe, start=start, end=end, source=source, limit=limit)
    return _columns_frame(*columns, newest_first=limit is not None)


def load_candles_by_rows(
    session: Session,
    instrument_id: int,
    timeframe: str,
    *,
    source: str,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """The row reader: the same frame as ``load_candles`` for one source, built from one driver row per candle.

    Used for drivers without a columnar path; the reference the columnar readers are tested and
    benchmarked against (``tests/core/market/test_candle_read.py``, ``bench/candle_read.py``).
    """
    _check_limit(limit)
    import numpy as np
    import pandas as pd

    # Raw column values (no per-row type processing), converted column-wise. SQLite returns the
    # naive UTC time as ISO text, PostgreSQL an aware datetime; both become the same UTC index.
    raw = [type_coerce(getattr(Candle, name), NullType()) for name in ("ts", *CANDLE_VALUE_COLUMNS)]
    query = select(*raw).where(
        Candle.instrument_id == instrument_id, Candle.timeframe == timeframe, Candle.source == source
    )
    if start is not None:
        query = query.where(Candle.ts >= start)
    if end is not None:
        query = query.where(Candle.ts < end)
    query = query.order_by(Candle.ts.desc()).limit(limit) if limit is not None else query.order_by(Candle.ts)
    rows = session.connection().execute(query).all()
    if not rows:
        return _empty_frame()
    columns = list(zip(*rows, strict=True))
    times = list(columns[0])
    index = pd.DatetimeIndex(
        pd.to_datetime(times, utc=True, format="ISO8601" if isinstance(times[0], str) else None), name="ts"
    )
    values = {
        name: np.asarray(columns[position + 1], dtype=float) for position, name in enumerate(CANDLE_VALUE_COLUMNS)
    }
    return pd.DataFrame(values, index=index).sort_index()


def _check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a whole number of candles, 0 or more, not {limit!r}")


# SQLite has no columnar API. In one read snapshot (a savepoint) two statements read the series:
# the times as one text built by SQLite in C (``group_concat`` over the ordered series, parsed by
# pyarrow) and the raw REALs through ``np.fromiter`` (SQLite's float-to-text conversion costs more
# than fetching the floats and need not round-trip, so values never go through text). Absent
# bounds are sentinels that every stored time text passes ("" sorts first; a digit before "A").
_SQLITE_HAS_UNIXEPOCH = sqlite3.sqlite_version_info >= (3, 38, 0)
_SQLITE_LOWEST, _SQLITE_HIGHEST = "", "A"
SQLITE_TIMES_OLDEST_FIRST = (
    "SELECT group_concat(ts, char(10)) FROM (SELECT ts "
    "FROM candles WHERE instrument_id = ? AND source = ? AND timeframe = ? AND ts >= ? AND ts < ? "
    "ORDER BY ts)"
)
SQLITE_TIMES_NEWEST_FIRST = (
    "SELECT group_concat(ts, char(10)) FROM (SELECT ts "
    "FROM candles WHERE instrument_id = ? AND source = ? AND timeframe = ? AND ts >= ? AND ts < ? "
    "ORDER BY ts DESC LIMIT ?)"
)
SQLITE_VALUES_OLDEST_FIRST = (
    "SELECT open, high, low, close, volume "
    "FROM candles WHERE instrument_id = ? AND source = ? AND timeframe = ? AND ts >= ? AND ts < ? "
    "ORDER BY ts"
)
SQLITE_VALUES_NEWEST_FIRST = (
    "SELECT open, high, low, close, volume "
    "FROM candles WHERE instrument_id = ? AND source = ? AND timeframe = ? AND ts >= ? AND ts < ? "
    "ORDER BY ts DESC LIMIT ?"
)
# The fallback, one statement: the time as integer epoch microseconds computed in C (``unixepoch``,
# SQLite 3.38+, of the text without its fraction — it would round .999999 s up to the next second —
# plus the fraction digits, zero-padded when shorter or missing) next to the REALs. Used when the
# series' time text exceeds SQLite's string limit or is not plain ISO text in order.
SQLITE_ROWS_OLDEST_FIRST = (
    "SELECT unixepoch(substr(ts, 1, 19)) * 1000000 + CAST(substr(ts || '000000', 21, 6) AS INTEGER), "
    "open, high, low, close, volume "
    "FROM candles WHERE instrument_id = ? AND source = ? AND timeframe = ? AND ts >= ? AND ts < ? "
    "ORDER BY ts"
)
SQLITE_ROWS_NEWEST_FIRST = (
    "SELECT unixepoch(substr(ts, 1, 19)) * 1000000 + CAST(substr(ts || '000000', 21, 6) AS INTEGER), "
    "open, high, low, close, volume "
    "FROM candles WHERE instrument_id = ? AND source = ? AND timeframe = ? AND ts >= ? AND ts < ? "
    "ORDER BY ts DESC LIMIT ?"
)
# PostgreSQL: one COPY of the series as CSV. The time in UTC without an offset (independent of the
# session's TimeZone), the numeric values in their exact text form (pyarrow parses them correctly
# rounded, as ``float(Decimal)`` does; NaN included). Bounds default to ±infinity.
POSTGRES_COPY_OLDEST_FIRST = (
    "COPY (SELECT ts AT TIME ZONE 'UTC', open, high, low, close, volume FROM candles "
    "WHERE instrument_id = %s AND source = %s AND timeframe = %s AND ts >= %s AND ts < %s ORDER BY ts) "
    "TO STDOUT WITH (FORMAT csv)"
)
POSTGRES_COPY_NEWEST_FIRST = (
    "COPY (SELECT ts AT TIME ZONE 'UTC', open, high, low, close, volume FROM candles "
    "WHERE instrument_id = %s AND source = %s AND timeframe = %s AND ts >= %s AND ts < %s "
    "ORDER BY ts DESC LIMIT %s) TO STDOUT WITH (FORMAT csv)"
)

_Columns = tuple["np.ndarray", dict[str, "np.ndarray"]]


def _sqlite_columns(
    driver: Any,
    instrument_id: int,
    source: str,
    timeframe: str,
    lower: object,
    upper: object,
    limit: int | None,
) -> _Columns:
    import numpy as np

    bounds = (_SQLITE_LOWEST if lower is None else lower, _SQLITE_HIGHEST if upper is None else upper)
    parameters: tuple[object, ...] = (instrument_id, source, timeframe, *bounds)
    if limit is not None:
        parameters = (*parameters, limit)
    cursor = driver.cursor()
    try:
        cursor.execute("SAVEPOINT konsens_candle_read")  # one snapshot for both statements (WAL: a writer may commit)
        try:
            columns = _sqlite_split_columns(cursor, parameters, newest_first=limit is not None)
        finally:
            cursor.execute("RELEASE konsens_candle_read")
        if columns is None:
            row = np.dtype([("ts", "i8"), *((name, "f8") for name in CANDLE_VALUE_COLUMNS)])
            sql = SQLITE_ROWS_OLDEST_FIRST if limit is None else SQLITE_ROWS_NEWEST_FIRST
            rows = np.fromiter(cursor.execute(sql, parameters), dtype=row)
            columns = rows["ts"], {name: rows[name] for name in CANDLE_VALUE_COLUMNS}
    finally:
        cursor.close()
    return columns


def _sqlite_split_columns(cursor: Any, parameters: tuple[object, ...], *, newest_first: bool) -> _Columns | None:
    """The times as one text, the values by ``np.fromiter``; None if the times cannot be read that way."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    try:
        times = cursor.execute(
            SQLITE_TIMES_NEWEST_FIRST if newest_first else SQLITE_TIMES_OLDEST_FIRST, parameters
        ).fetchone()[0]
    except sqlite3.DataError:  # longer than SQLite's string limit (SQLITE_MAX_LENGTH, 1e9 bytes by default)
        return None
    # fromiter fills one structured array row by row from the cursor: no list of row tuples.
    row = np.dtype([(name, "f8") for name in CANDLE_VALUE_COLUMNS])
    values = np.fromiter(
        cursor.execute(SQLITE_VALUES_NEWEST_FIRST if newest_first else SQLITE_VALUES_OLDEST_FIRST, parameters),
        dtype=row,
    )
    if times is None:  # no candles (group_concat of no rows is NULL)
        return (
            (np.empty(0, dtype="int64"), {name: values[name] for name in CANDLE_VALUE_COLUMNS})
            if len(values) == 0
            else None
        )
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(times.encode()),
            read_options=pa_csv.ReadOptions(column_names=["ts"], block_size=_CSV_BLOCK_BYTES),
            convert_options=pa_csv.ConvertOptions(
                column_types={"ts": pa.timestamp("us")}, null_values=[], strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid:  # not plain naive ISO text (never written by Konsens): the one-statement path
        return None
    stamps = table.column("ts").to_numpy().astype("int64")
    steps = np.diff(stamps)
    in_order = bool((steps < 0).all() if newest_first else (steps > 0).all())
    if len(stamps) != len(values) or not in_order:
        return None
    return stamps, {name: values[name] for name in CANDLE_VALUE_COLUMNS}


def _postgresql_columns(
    driver: Any,
    instrument_id: int,
    source: str,
    timeframe: str,
    lower: object,
    upper: object,
    limit: int | None,
) -> _Columns:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    from core.db import pgcopy

    bounds = ("-infinity" if lower is None else lower, "infinity" if upper is None else upper)
    parameters: tuple[object, ...] = (instrument_id, source, timeframe, *bounds)
    sql = POSTGRES_COPY_OLDEST_FIRST if limit is None else POSTGRES_COPY_NEWEST_FIRST
    if limit is not None:
        parameters = (*parameters, limit)
    cursor = driver.cursor()
    try:
        # mogrify quotes every value as psycopg2 does for execute(); no value is formatted into SQL by us.
        buffer = pgcopy.copy_to(cursor, cursor.mogrify(sql, parameters).decode())
    finally:
        cursor.close()
    if buffer.tell() == 0:  # no rows (pyarrow refuses an empty file)
        empty = np.empty(0, dtype=float)
        return np.empty(0, dtype="int64"), dict.fromkeys(CANDLE_VALUE_COLUMNS, empty)
    names = ["ts", *CANDLE_VALUE_COLUMNS]
    table = pa_csv.read_csv(
        pa.BufferReader(pa.py_buffer(buffer.getbuffer())),
        read_options=pa_csv.ReadOptions(column_names=names, block_size=_CSV_BLOCK_BYTES),
        parse_options=pa_csv.ParseOptions(newlines_in_values=False),
        convert_options=pa_csv.ConvertOptions(
            column_types={"ts": pa.timestamp("us"), **{name: pa.float64() for name in CANDLE_VALUE_COLUMNS}},
            null_values=[""],
            strings_can_be_null=False,
        ),
    )
    stamps = table.column("ts").to_numpy().astype("int64")
    return stamps, {name: table.column(name).to_numpy() for name in CANDLE_VALUE_COLUMNS}


_CSV_BLOCK_BYTES = 8 << 20  # pyarrow parses blocks in parallel; 1M candles are about 140 MB of CSV


def _columns_frame(stamps: np.ndarray, values: dict[str, np.ndarray], *, newest_first: bool) -> pd.DataFrame:
    """Return the frame of epoch-microsecond ``stamps`` and float ``values`` (reversed if ``newest_first``)."""
    import numpy as np
    import pandas as pd

    if len(stamps) == 0:
        return _empty_frame()
    order = slice(None, None, -1) if newest_first else slice(None)
    index = pd.DatetimeIndex(np.asarray(stamps[order], dtype="int64").view("datetime64[us]"), name="ts")
    data = {name: np.asarray(values[name][order], dtype=float) for name in CANDLE_VALUE_COLUMNS}
    return pd.DataFrame(data, index=index.tz_localize("UTC"))


def daily_closes(session: Session, instrument_id: int, timeframe: str, *, start: datetime | None = None) -> pd.Series:
    """Return the last close of each UTC day from an instrument's ``timeframe`` candles (float, named ``close``).

    The same closes as ``resample_candles(load_candles(...), "1d")["close"]``, but the database picks
    the last candle of each day, so only one row per day reaches Python.
    """
    import pandas as pd

    source = _preferred_source(session, instrument_id, timeframe)
    if source is None:
        return pd.Series(dtype=float, name="close", index=pd.DatetimeIndex([], tz="UTC", name="ts"))
    in_series = (Candle.instrument_id == instrument_id, Candle.timeframe == timeframe, Candle.source == source)
    if session.get_bind().dialect.name == "sqlite":
        day = func.substr(Candle.ts, 1, 10)  # naive UTC text "YYYY-MM-DD HH:MM:SS.ffffff"
        # SQLite takes a bare column of an aggregate query with max() from the row holding the
        # maximum (documented), so this is "the close of the newest candle of each day" in one
        # grouped pass — about twice as fast as the window function below.
        last = select(day.label("day"), type_coerce(Candle.close, Float).label("close"), func.max(Candle.ts))
        last = last.where(*in_series)
        if start is not None:
            last = last.where(Candle.ts >= start)
        rows = session.execute(last.group_by(day).order_by(day)).all()
        return _closes_frame([(row[0], row[1]) for row in rows])
    day = func.date(func.timezone("UTC", Candle.ts))
    ranked = select(
        day.label("day"),
        type_coerce(Candle.close, Float).label("close"),
        func.row_number().over(partition_by=day, order_by=Candle.ts.desc()).label("rank"),
    ).where(*in_series)
    if start is not None:
        ranked = ranked.where(Candle.ts >= start)
    inner = ranked.subquery()
    rows = session.execute(select(inner.c.day, inner.c.close).where(inner.c.rank == 1).order_by(inner.c.day)).all()
    return _closes_frame([(row[0], row[1]) for row in rows])


def _closes_frame(rows: list[tuple[object, object]]) -> pd.Series:
    import pandas as pd

    index = pd.DatetimeIndex(pd.to_datetime([str(day) for day, _ in rows], utc=True), name="ts")
    closes = pd.Series([close for _, close in rows], index=index, dtype=float, name="close")
    return closes.dropna()


def _preferred_source(session: Session, instrument_id: int, timeframe: str) -> str | None:
    """Return the source with the most ``timeframe`` candles of an instrument, or None."""
    # The instrument's series by a skip scan (index seeks); counting is needed only to choose
    # between several sources — counting a single source would read all its candles for nothing.
    sources = [source for _instrument, source, stored in series_keys(session, instrument_id) if stored == timeframe]
    if len(sources) <= 1:
        return sources[0] if sources else None
    row = session.execute(
        select(Candle.source, func.count())
        .where(Candle.instrument_id == instrument_id, Candle.timeframe == timeframe)
        .group_by(Candle.source)
        .order_by(func.count().desc())
        .limit(1)
    ).first()
    return None if row is None else str(row[0])


def _empty_frame() -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(columns=["open", "high", "low", "close", "volume"], dtype=float)
    frame.index = pd.DatetimeIndex([], tz="UTC", name="ts")
    return frame


def resample_candles(frame: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """Aggregate candles to a coarser ``timeframe`` (first open, max high, min low, last close, sum volume)."""
    rule = TIMEFRAME_RULES[timeframe]
    aggregated = frame.resample(rule, label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    return aggregated.dropna(subset=["open", "close"])


def latest_close(session: Session, instrument_id: int) -> tuple[datetime, Decimal] | None:
    """Return the time and close of the newest candle of any source and timeframe, or None."""
    row = session.execute(
        select(Candle.ts, Candle.close).where(Candle.instrument_id == instrument_id).order_by(Candle.ts.desc()).limit(1)
    ).first()
    return None if row is None else (row[0], row[1])


def close_at(session: Session, instrument_id: int, when: datetime) -> Decimal | None:
    """Return the close of the last candle that opened at or before ``when``, or None."""
    return session.scalar(
        select(Candle.close)
        .where(Candle.instrument_id == instrument_id, Candle.ts <= when)
        .order_by(Candle.ts.desc())
        .limit(1)
    )


def eur_price_of_asset(session: Session, asset: str, when: datetime) -> Decimal | None:
    """Return the EUR price of ``asset`` (e.g. ``BTC``) at ``when`` from collected candles, or None."""
    if asset.upper() == "EUR":
        return Decimal(1)
    instrument = session.scalar(
        select(Instrument).where(Instrument.base == asset.upper(), Instrument.quote == "EUR").limit(1)
    )
    if instrument is None:
        return None
    return close_at(session, instrument.id, when)
