"""Export any collected table and time range as CSV or Parquet (CLI ``konsens export`` and the News page).

Only tables in :data:`EXPORTABLE_TABLES` can be exported (an allow-list: a table name from the
command line never reaches SQL unchecked). Rows are read in chunks and written as they come, so
a large candle table does not have to fit in memory. Types are kept: amounts as exact decimals
(CSV text, Parquet ``decimal128``), timestamps as UTC.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum, StrEnum
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import JSON, Boolean, Column, DateTime, Float, Integer, LargeBinary, Numeric, Table, select
from sqlalchemy.orm import Session

from core.db.base import Base
from core.db.registry import import_all_models
from core.errors import PermanentError

CHUNK_ROWS = 20_000


class ExportFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


# Table → the column that places a row in time (for --since/--until).
EXPORTABLE_TABLES: dict[str, str] = {
    "candles": "ts",
    "quotes": "ts",
    "news_items": "published_at",
    "sentiment_hourly": "hour",
    "calendar_events": "event_time",
    "portfolio_snapshots": "ts",
    "quarantine": "created_at",
}


class ExportError(PermanentError, ValueError):
    """The export cannot be made (unknown table, bad range); one clear message."""


@dataclass(frozen=True)
class ExportResult:
    table: str
    rows: int
    format: ExportFormat


def exportable_tables() -> list[str]:
    """Return the allow-listed tables that exist in this installation."""
    import_all_models()
    return [name for name in EXPORTABLE_TABLES if name in Base.metadata.tables]


def _table(name: str) -> Table:
    import_all_models()
    if name not in EXPORTABLE_TABLES or name not in Base.metadata.tables:
        raise ExportError(f"table {name!r} cannot be exported; choose one of: {', '.join(exportable_tables())}")
    return Base.metadata.tables[name]


def _columns(table: Table) -> list[Column[Any]]:
    return [column for column in table.columns if not isinstance(column.type, LargeBinary)]


def _rows(session: Session, table: Table, since: datetime | None, until: datetime | None) -> Iterator[list[Any]]:
    if since is not None and until is not None and since >= until:
        raise ExportError("--since must be before --until")
    time_column = table.columns[EXPORTABLE_TABLES[table.name]]
    statement = select(*_columns(table)).order_by(time_column)
    if since is not None:
        statement = statement.where(time_column >= since)
    if until is not None:
        statement = statement.where(time_column < until)
    result = session.execute(statement.execution_options(yield_per=CHUNK_ROWS))
    for partition in result.partitions(CHUNK_ROWS):
        yield [tuple(row) for row in partition]


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def _arrow_type(column: Column[Any]) -> pa.DataType:
    column_type = column.type
    impl = getattr(column_type, "impl", column_type)
    if isinstance(impl, Boolean):
        return pa.bool_()
    if isinstance(impl, Integer):
        return pa.int64()
    if isinstance(impl, Float):
        return pa.float64()
    if isinstance(impl, Numeric):
        return pa.decimal128(impl.precision or 38, impl.scale or 0)
    if isinstance(impl, DateTime):
        return pa.timestamp("us", tz="UTC")
    return pa.string()


def _arrow_value(value: Any, column: Column[Any]) -> Any:
    if value is None:
        return None
    if isinstance(value, Enum):
        return value.value
    if isinstance(column.type, JSON) or isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, Decimal | bool | int | float | datetime):
        return value
    return str(value)


def export_table(
    session: Session,
    table_name: str,
    output: IO[bytes],
    *,
    export_format: ExportFormat,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ExportResult:
    """Write the rows of ``table_name`` with ``since <= time < until`` to ``output``; return the row count."""
    table = _table(table_name)
    columns = _columns(table)
    names = [column.name for column in columns]
    count = 0
    if export_format is ExportFormat.CSV:
        text = io.TextIOWrapper(output, encoding="utf-8", newline="", write_through=True)
        writer = csv.writer(text)
        writer.writerow(names)
        for chunk in _rows(session, table, since, until):
            writer.writerows([[_csv_value(value) for value in row] for row in chunk])
            count += len(chunk)
        text.flush()
        text.detach()
        return ExportResult(table_name, count, export_format)
    schema = pa.schema([pa.field(column.name, _arrow_type(column)) for column in columns])
    with pq.ParquetWriter(output, schema) as writer:
        for chunk in _rows(session, table, since, until):
            arrays = [
                pa.array([_arrow_value(row[position], column) for row in chunk], type=schema.field(position).type)
                for position, column in enumerate(columns)
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            count += len(chunk)
        if count == 0:
            writer.write_table(schema.empty_table())
    return ExportResult(table_name, count, export_format)


def export_to_path(
    session: Session,
    table_name: str,
    path: Path,
    *,
    export_format: ExportFormat,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ExportResult:
    """Export into a file, written to a temporary name first so a failed export leaves no partial file."""
    _table(table_name)
    temporary = path.with_name(path.name + ".partial")
    try:
        with temporary.open("wb") as handle:
            result = export_table(session, table_name, handle, export_format=export_format, since=since, until=until)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return result


def export_bytes(
    session: Session,
    table_name: str,
    *,
    export_format: ExportFormat,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[bytes, ExportResult]:
    """Export into memory (for a download button); return the bytes and the result."""
    buffer = io.BytesIO()
    result = export_table(session, table_name, buffer, export_format=export_format, since=since, until=until)
    return buffer.getvalue(), result
