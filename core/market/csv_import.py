"""Import OHLCV candles from CSV files in the real-world variants.

Accepted: a header naming the time column ``timestamp``, ``date``, ``datetime`` or ``time`` (any
case), or an unnamed first column holding the times (pandas' ``to_csv`` of a date index); an
unnamed integer index column (ignored); ``open, high, low, close, volume`` in any case and order;
an ``Adj Close`` column (ignored: raw prices are stored, adjustment is an analysis concern);
times as ISO-8601 with or without offset (naive means UTC), date only, European day-first dates
(``31.01.2024 14:00``), or epoch seconds/ms.

European spreadsheets write ``;``-separated files with decimal commas (``1.234,56``). The
delimiter is detected from the header line (the most frequent of ``;``, tab and ``,``) and the
decimal mark from the values (a comma in a number of a non-comma-separated file); both can be
given instead (``delimiter=``, ``decimal=``; CLI ``--delimiter``, ``--decimal``). With a decimal
comma, ``.`` is read as a thousands separator only in proper groups of three digits.

A malformed file (missing column, unreadable time or number, ragged row, no rows) raises
:class:`CsvFormatError` naming the line and column, and nothing is stored. A readable file is
stored in one transaction; rows that fail validation (high < low, NaN, off-grid time...) go to
quarantine. A re-import stores nothing twice.
"""

from __future__ import annotations

import csv
import importlib
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import PermanentError
from core.market.timeframes import timeframe_seconds

if TYPE_CHECKING:  # the database side is imported by ``import_candle_csv`` only: reading a file needs none of it
    # pandas is imported where a frame or index is built: :class:`BackgroundRead` starts pyarrow's parse
    # before pandas is imported, so the import runs while the file is parsed.
    import pandas as pd

    from core.db.engine import Database
    from core.market.models import AssetClass
    from core.market.store import StoreResult

logger = logging.getLogger(__name__)

TIME_COLUMN_NAMES = ("timestamp", "date", "datetime", "time")
VALUE_NAMES = ("open", "high", "low", "close", "volume")
IGNORED_NAMES = ("adj close", "adj_close", "adjclose")
DEFAULT_IMPORT_SOURCE = "csv"
CANDLE_COLUMNS = ["ts", *VALUE_NAMES]  # the same order as ``core.market.sources.base.CANDLE_COLUMNS``


class CsvFormatError(PermanentError, ValueError):
    """The file is not a readable OHLCV CSV; the message names the line and column."""


@dataclass(frozen=True)
class ImportReport:
    """What an import stored."""

    symbol: str
    source: str
    timeframe: str
    rows: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    result: StoreResult
    created_instrument: bool


def _is_unnamed(name: str) -> bool:
    return name == "" or name.lower().startswith("unnamed:")


DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\t": "\t"}
DECIMAL_MARKS = (".", ",")
_COMMA_NUMBER = re.compile(r"^[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$")


def _header_line(path: Path) -> str:
    try:
        with path.open(encoding="utf-8-sig") as handle:
            for line in handle:
                if line.strip():
                    return line
    except UnicodeDecodeError as error:
        raise CsvFormatError(f"{path.name}: not a UTF-8 text file") from error
    return ""


def detect_delimiter(path: Path) -> str:
    """Return the field delimiter of a CSV file: the most frequent of ``;``, tab and ``,`` in its header."""
    header = _header_line(path)
    counts = {candidate: header.count(candidate) for candidate in (";", "\t", ",")}
    best = max(counts, key=lambda candidate: counts[candidate])
    return best if counts[best] > 0 else ","


def _normalise_delimiter(delimiter: str | None, path: Path) -> str:
    if delimiter is None:
        return detect_delimiter(path)
    if delimiter not in DELIMITERS:
        raise CsvFormatError(f"unknown delimiter {delimiter!r}: use ',', ';' or 'tab'")
    return DELIMITERS[delimiter]


@dataclass(frozen=True)
class CandleColumns:
    """A candle file as columns: the UTC open times (sorted) and one float64 array per OHLCV value."""

    ts: pd.DatetimeIndex
    values: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.ts)

    def to_frame(self) -> pd.DataFrame:
        """The columns as a frame of ``ts, open, high, low, close, volume`` with a range index."""
        import pandas as pd

        return pd.DataFrame({"ts": self.ts, **self.values})[CANDLE_COLUMNS]


def read_candle_csv(path: Path | str, *, delimiter: str | None = None, decimal: str | None = None) -> pd.DataFrame:
    """Read an OHLCV CSV into a frame of ``ts, open, high, low, close, volume`` (floats, aware UTC).

    ``delimiter`` (``,``, ``;`` or ``tab``) and ``decimal`` (``.`` or ``,``) are detected when not given.
    """
    return read_candle_columns(path, delimiter=delimiter, decimal=decimal).to_frame()


def read_candle_columns(path: Path | str, *, delimiter: str | None = None, decimal: str | None = None) -> CandleColumns:
    """Read an OHLCV CSV as :class:`CandleColumns` (the same rules and messages as ``read_candle_csv``).

    A well-formed file with decimal points is parsed by pyarrow straight into arrays
    (:func:`read_columnar`); any other file by the text path, which names the first bad line.
    """
    return _read_columns(Path(path), delimiter, decimal, _NOT_PARSED)


_NOT_PARSED: Any = object()  # ``_read_columns``: the columnar parse has not been tried yet


def _read_columns(
    path: Path, delimiter: str | None, decimal: str | None, parsed: ParsedColumns | None
) -> CandleColumns:
    """``read_candle_columns`` given the columnar parse's answer if it already ran (None: it declined)."""
    if not path.is_file():
        raise CsvFormatError(f"{path}: no such file")
    if decimal is not None and decimal not in DECIMAL_MARKS:
        raise CsvFormatError(f"unknown decimal mark {decimal!r}: use '.' or ','")
    separator = _normalise_delimiter(delimiter, path)
    if decimal == "," and separator == ",":
        raise CsvFormatError(f"{path.name}: a decimal comma needs another delimiter (';' or tab)")
    if decimal != ",":
        if parsed is _NOT_PARSED:
            parsed = parse_columnar(path, separator)
        if parsed is not None:
            return finish_columnar(parsed)
    import pandas as pd

    frame = _read_text(path, separator, decimal)
    return CandleColumns(
        pd.DatetimeIndex(frame["ts"]), {name: frame[name].to_numpy(dtype=np.float64) for name in VALUE_NAMES}
    )


class BackgroundRead:
    """``read_candle_columns(path)`` with pyarrow's parse started at once in a thread.

    pyarrow parses in C++ without holding the GIL, so the caller can import pandas and numba (and
    load compiled kernels) while the file is parsed: ``konsens backtest --data FILE`` overlaps its
    start-up with the read. The thread only parses (pyarrow is imported here, before it starts; it
    imports nothing); :meth:`result` finishes in the calling thread and gives exactly what
    ``read_candle_columns(path)`` gives, the same values and the same errors.
    """

    def __init__(self, path: Path | str) -> None:
        for module in ("pyarrow", "pyarrow.compute", "pyarrow.csv"):  # here, so the thread imports nothing
            importlib.import_module(module)
        self.path = Path(path)
        self._parsed: ParsedColumns | None = _NOT_PARSED
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        try:
            separator = detect_delimiter(self.path) if self.path.is_file() else None
        except CsvFormatError:
            separator = None  # ``result`` raises it again, as ``read_candle_columns`` would
        if separator is not None:
            self._thread = threading.Thread(target=self._parse, args=(separator,), name="csv-parse", daemon=True)
            self._thread.start()

    def _parse(self, separator: str) -> None:
        try:
            # One parse thread: pyarrow's pool would take both cores of a small machine from the imports
            # the caller runs meanwhile, which are the longer path.
            self._parsed = parse_columnar(self.path, separator, use_threads=False)
        except BaseException as error:  # handed to the caller by ``result``
            self._error = error

    def result(self) -> CandleColumns:
        """Wait for the parse and return the file's columns (the text path for a file pyarrow declined)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error
        return _read_columns(self.path, None, None, self._parsed)


def _read_text(path: Path, separator: str, decimal: str | None) -> pd.DataFrame:
    """The text path: every cell as a string, checked one rule at a time; names the first bad line."""
    import pandas as pd

    try:
        raw = pd.read_csv(
            path, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8-sig", sep=separator
        )
    except pd.errors.EmptyDataError as error:
        raise CsvFormatError(f"{path.name}: the file is empty") from error
    except pd.errors.ParserError as error:
        raise CsvFormatError(f"{path.name}: {str(error).strip()}") from error
    except UnicodeDecodeError as error:
        raise CsvFormatError(f"{path.name}: not a UTF-8 text file") from error
    headers = [str(column).strip() for column in raw.columns]
    lowered = [header.lower() for header in headers]
    time_index = next((lowered.index(name) for name in TIME_COLUMN_NAMES if name in lowered), None)
    if time_index is None and headers and _is_unnamed(headers[0]):
        time_index = 0  # a date index written without a name (e.g. ",Open,High,...")
    if time_index is None:
        raise CsvFormatError(
            f"{path.name}, line 1: no time column (expected one of {', '.join(TIME_COLUMN_NAMES)} "
            "or an unnamed first column of dates)"
        )
    missing = [name for name in VALUE_NAMES if name not in lowered]
    if missing:
        raise CsvFormatError(f"{path.name}, line 1: missing column(s) {', '.join(missing)}")
    if raw.empty:
        raise CsvFormatError(f"{path.name}: no data rows after the header")
    _check_row_lengths(path, len(headers), separator)
    frame = pd.DataFrame({"ts": _parse_times(path, raw.iloc[:, time_index], headers[time_index] or "(unnamed)")})
    value_columns = {name: raw.iloc[:, lowered.index(name)] for name in VALUE_NAMES}
    if decimal is None:
        decimal = (
            ","
            if separator != "," and any(column.str.contains(",").any() for column in value_columns.values())
            else "."
        )
    for name, column in value_columns.items():
        frame[name] = _parse_numbers(path, column, headers[lowered.index(name)], decimal=decimal)
    return frame[CANDLE_COLUMNS].sort_values("ts", kind="stable").reset_index(drop=True)


_EPOCH_TIMES = r"^\d{9,13}$"


@dataclass(frozen=True)
class ParsedColumns:
    """What pyarrow parsed, before pandas: the times (pyarrow UTC timestamps or epoch integers) and the floats."""

    stamps: Any  # a pyarrow timestamp("us", "UTC") array, or None for epoch times
    epoch: np.ndarray | None  # int64 epoch seconds or milliseconds, or None
    values: dict[str, np.ndarray]


def read_columnar(path: Path, separator: str) -> CandleColumns | None:
    """Read a well-formed point-decimal file with pyarrow's multi-threaded parser, or return None.

    This is the fast path of :func:`read_candle_csv`: the cells are parsed straight into float64
    and timestamp columns, the checks are vectorised. It accepts only what the text path accepts
    and gives the same values; anything it is not sure of (a malformed or ragged row, an empty or
    padded cell, a decimal comma, day-first dates, a header that is not on the first line) returns
    None, and the caller reads the file by the text path, which names the first bad line.
    """
    parsed = parse_columnar(path, separator)
    return finish_columnar(parsed) if parsed is not None else None


def parse_columnar(path: Path, separator: str, *, use_threads: bool = True) -> ParsedColumns | None:
    """The pyarrow half of :func:`read_columnar` (no pandas; safe in a thread): parse, or None to decline.

    ``use_threads=False`` parses on one core (:class:`BackgroundRead`: the calling thread keeps the other).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
        headers = next(csv.reader([first], delimiter=separator))
    except (UnicodeDecodeError, StopIteration, csv.Error):
        return None
    headers = [header.strip() for header in headers]
    lowered = [header.lower() for header in headers]
    time_index = next((lowered.index(name) for name in TIME_COLUMN_NAMES if name in lowered), None)
    if time_index is None and headers and _is_unnamed(headers[0]):
        time_index = 0
    if time_index is None or any(name not in lowered for name in VALUE_NAMES):
        return None  # the text path refuses it with the message naming what is missing
    positions = {"ts": time_index, **{name: lowered.index(name) for name in VALUE_NAMES}}
    names = [f"c{position}" for position in range(len(headers))]
    try:
        table = pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1, use_threads=use_threads),
            parse_options=pa_csv.ParseOptions(delimiter=separator),
            convert_options=pa_csv.ConvertOptions(
                include_columns=[names[position] for position in positions.values()],
                column_types={
                    names[position]: (pa.string() if column == "ts" else pa.float64())
                    for column, position in positions.items()
                },
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError):
        return None
    if table.num_rows == 0:
        return None
    text = pc.utf8_trim_whitespace(table.column(names[time_index]))
    if pc.any(pc.equal(text, "")).as_py():
        return None
    values = {name: table.column(names[positions[name]]).to_numpy() for name in VALUE_NAMES}
    # epoch times? (the first time decides cheaply when it is not one: the whole-column scan is the cost)
    if re.fullmatch(r"\d{9,13}", text[0].as_py()) and pc.all(pc.match_substring_regex(text, _EPOCH_TIMES)).as_py():
        return ParsedColumns(None, pc.cast(text, pa.int64()).to_numpy(), values)
    try:  # every time with its offset (``Z``, ``+01:00``) ...
        stamps = pc.cast(text, pa.timestamp("us", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        try:  # ... or every time naive, which means UTC
            stamps = pc.assume_timezone(pc.cast(text, pa.timestamp("us")), timezone="UTC")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None  # mixed, day-first or malformed: the text path decides
    if stamps.null_count:
        return None
    return ParsedColumns(stamps, None, values)


def finish_columnar(parsed: ParsedColumns) -> CandleColumns:
    """The pandas half of :func:`read_columnar`: the times as a UTC index, the rows sorted by time."""
    import pandas as pd

    if parsed.epoch is not None:
        numbers = pd.Series(parsed.epoch)
        unit = "ms" if numbers.max() > 10**11 else "s"
        times = pd.DatetimeIndex(pd.to_datetime(numbers, unit=unit, utc=True))
    else:
        times = pd.DatetimeIndex(parsed.stamps.to_numpy()).tz_localize("UTC")
    values = parsed.values
    if not times.is_monotonic_increasing:
        order = np.argsort(times.asi8, kind="stable")
        times = times[order]
        values = {name: column[order] for name, column in values.items()}
    return CandleColumns(times, values)


def _check_row_lengths(path: Path, width: int, separator: str) -> None:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for line_number, row in enumerate(csv.reader(handle, delimiter=separator), start=1):
            if row and len(row) != width:
                raise CsvFormatError(f"{path.name}, line {line_number}: expected {width} fields, found {len(row)}")


def _line_of(position: int) -> int:
    return position + 2  # one header line, numbering from 1


def _parse_times(path: Path, column: pd.Series, header: str) -> pd.Series:
    import pandas as pd

    text = column.astype(str).str.strip()
    empty = text == ""
    if empty.any():
        raise CsvFormatError(
            f"{path.name}, line {_line_of(int(np.flatnonzero(empty.to_numpy())[0]))}, column {header!r}: empty time"
        )
    if text.str.fullmatch(r"\d{9,13}").all():
        numbers = text.astype("int64")
        unit = "ms" if numbers.max() > 10**11 else "s"
        return pd.Series(pd.to_datetime(numbers, unit=unit, utc=True))
    if text.str.fullmatch(r"\d{1,2}\.\d{1,2}\.\d{4}( \d{1,2}:\d{2}(:\d{2})?)?").all():
        parsed = pd.to_datetime(text, utc=True, errors="coerce", dayfirst=True, format="mixed")
    else:
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna().to_numpy()
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise CsvFormatError(
            f"{path.name}, line {_line_of(position)}, column {header!r}: cannot read {text.iloc[position]!r} as a time"
        )
    return parsed


def _parse_numbers(path: Path, column: pd.Series, header: str, *, decimal: str = ".") -> pd.Series:
    import pandas as pd

    text = column.astype(str).str.strip()
    if decimal == ",":
        comma_form = text.str.fullmatch(_COMMA_NUMBER.pattern)
        converted = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        text_for_numbers = converted.where(comma_form, "invalid")
        numbers = pd.to_numeric(text_for_numbers, errors="coerce")
    else:
        numbers = pd.to_numeric(text, errors="coerce")
    explicit_nan = text.str.lower().isin(["nan", "inf", "-inf", "infinity", "-infinity"])
    bad = (numbers.isna() & ~explicit_nan).to_numpy()
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        value = text.iloc[position]
        problem = "empty value" if value == "" else f"{value!r} is not a number"
        raise CsvFormatError(f"{path.name}, line {_line_of(position)}, column {header!r}: {problem}")
    return numbers.astype(float)


def import_candle_csv(
    database: Database,
    path: Path | str,
    *,
    symbol: str,
    timeframe: str,
    source: str = DEFAULT_IMPORT_SOURCE,
    create: bool = False,
    asset_class: AssetClass | str | None = None,
    delimiter: str | None = None,
    decimal: str | None = None,
) -> ImportReport:
    """Read ``path`` and store its candles for ``symbol`` in one transaction.

    An unknown symbol is an error unless ``create`` is set; then the instrument is created (asset
    class given, or inferred: ``BASE/QUOTE`` is crypto, a plain ticker a stock) and left untracked,
    so the worker does not start collecting it from a source it may not be listed on.
    """
    from core.market.instruments import InstrumentError, add_instrument, get_instrument
    from core.market.store import store_candles

    timeframe_seconds(timeframe)
    frame = read_candle_csv(path, delimiter=delimiter, decimal=decimal)
    created = False
    with database.session() as session:
        try:
            instrument = get_instrument(session, symbol)
        except InstrumentError:
            if not create:
                raise InstrumentError(
                    f"unknown instrument {symbol!r}: add it with `konsens instruments add` or pass --create"
                ) from None
            instrument = add_instrument(session, symbol, asset_class=asset_class, tracked=False)
            created = True
        result = store_candles(
            session,
            frame,
            instrument_id=instrument.id,
            source=source,
            timeframe=timeframe,
            record_label=instrument.symbol,
        )
        stored_symbol = instrument.symbol
    return ImportReport(
        symbol=stored_symbol,
        source=source,
        timeframe=timeframe,
        rows=len(frame),
        first=frame["ts"].iloc[0] if len(frame) else None,
        last=frame["ts"].iloc[-1] if len(frame) else None,
        result=result,
        created_instrument=created,
    )
