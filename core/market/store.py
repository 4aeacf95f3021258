"""The candle store: validated, bulk, idempotent writes of candles and quotes.

``store_candles`` validates a batch, puts refused rows into ``quarantine`` (with the reason) and
upserts the rest in bulk, never row by row:

- SQLite: one ``executemany`` of pre-formatted tuples on the raw DBAPI connection
  (timestamps in SQLAlchemy's SQLite text format, ``SQLITE_DATETIME_FORMAT``).
- PostgreSQL: binary ``COPY`` (``core.db.pgcopy``) straight into ``candles`` when the batch is new
  history; otherwise into a temporary staging table, then one ``UPDATE`` of the changed rows and one
  ``INSERT ... SELECT`` of the new ones.

Both run in the caller's transaction. On a conflict a row is updated only if a value changed
(so the still-forming last candle is updated, and a batch stored twice writes nothing the second
time); the result says how many rows were inserted, updated, left unchanged and quarantined.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from core.db import pgcopy
from core.db.upsert import bulk_upsert
from core.market.models import Quote
from core.market.sources.base import QuoteSnapshot
from core.market.validation import VALUE_COLUMNS, validate_candles
from core.system.models import QuarantinedRecord

logger = logging.getLogger(__name__)

QUARANTINE_KIND = "candle"
_VALUE_NAMES = ", ".join(VALUE_COLUMNS)
_CHANGED_SQLITE = " OR ".join(f"candles.{name} IS NOT excluded.{name}" for name in VALUE_COLUMNS)
_UPDATE_SET = ", ".join(f"{name} = excluded.{name}" for name in VALUE_COLUMNS)
SQLITE_UPSERT = (
    f"INSERT INTO candles (instrument_id, source, timeframe, ts, {_VALUE_NAMES}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    f"ON CONFLICT (instrument_id, source, timeframe, ts) DO UPDATE SET {_UPDATE_SET} WHERE {_CHANGED_SQLITE}"
)
POSTGRES_STAGING = "konsens_candle_staging"
_KEY_MATCH = (
    "c.instrument_id = %(instrument_id)s AND c.source = %(source)s AND c.timeframe = %(timeframe)s "
    "AND c.ts = s.ts AND c.ts >= %(first)s AND c.ts <= %(last)s"
)
_STAGED = ", ".join(f"s.{name}" for name in VALUE_COLUMNS)
POSTGRES_CREATE_STAGING = (
    f"CREATE TEMP TABLE IF NOT EXISTS {POSTGRES_STAGING} (ts timestamptz, "
    + ", ".join(f"{name} numeric" for name in VALUE_COLUMNS)
    + ") ON COMMIT DROP"
)
POSTGRES_COPY_STAGING = f"COPY {POSTGRES_STAGING} (ts, {_VALUE_NAMES}) FROM STDIN WITH (FORMAT binary)"
POSTGRES_COPY_CANDLES = (
    f"COPY candles (instrument_id, source, timeframe, ts, {_VALUE_NAMES}) FROM STDIN WITH (FORMAT binary)"
)
POSTGRES_UPDATE_CHANGED = (
    f"UPDATE candles AS c SET {', '.join(f'{name} = s.{name}' for name in VALUE_COLUMNS)} "
    f"FROM {POSTGRES_STAGING} AS s WHERE {_KEY_MATCH} "
    f"AND ({', '.join('c.' + name for name in VALUE_COLUMNS)}) IS DISTINCT FROM "
    f"({', '.join(f's.{name}::numeric(38, 18)' for name in VALUE_COLUMNS)})"
)
_INSERT_HEAD = (
    f"INSERT INTO candles (instrument_id, source, timeframe, ts, {_VALUE_NAMES}) "
    f"SELECT %(instrument_id)s, %(source)s, %(timeframe)s, s.ts, {_STAGED} "
    f"FROM {POSTGRES_STAGING} AS s "
)
POSTGRES_INSERT_NEW = _INSERT_HEAD + f"WHERE NOT EXISTS (SELECT 1 FROM candles AS c WHERE {_KEY_MATCH})"
POSTGRES_ANY_IN_RANGE = (
    "SELECT EXISTS (SELECT 1 FROM candles AS c WHERE c.instrument_id = %(instrument_id)s AND c.source = %(source)s "
    "AND c.timeframe = %(timeframe)s AND c.ts >= %(first)s AND c.ts <= %(last)s)"
)
POSTGRES_INSERT_ON_CONFLICT = _INSERT_HEAD + "ON CONFLICT (instrument_id, source, timeframe, ts) DO NOTHING"


@dataclass(frozen=True)
class StoreResult:
    """What one store call did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0

    def __add__(self, other: StoreResult) -> StoreResult:
        return StoreResult(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.quarantined + other.quarantined,
        )

    def as_dict(self) -> dict[str, int]:
        """Return the counts as a plain dict (heartbeat info, JSON output)."""
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "quarantined": self.quarantined,
        }


def store_candles(
    session: Session,
    frame: pd.DataFrame,
    *,
    instrument_id: int,
    source: str,
    timeframe: str,
    record_label: str | None = None,
) -> StoreResult:
    """Validate ``frame`` and store it: refused rows to quarantine, the rest upserted in bulk.

    ``record_label`` (e.g. the symbol) names the instrument in quarantine keys; default: its id.
    """
    result = validate_candles(frame, timeframe)
    quarantined = quarantine_candles(
        session,
        result.rejected,
        source=source,
        timeframe=timeframe,
        instrument_id=instrument_id,
        record_label=record_label or str(instrument_id),
    )
    inserted, updated = upsert_candles(
        session, result.valid, instrument_id=instrument_id, source=source, timeframe=timeframe
    )
    unchanged = len(result.valid) - inserted - updated
    return StoreResult(inserted=inserted, updated=updated, unchanged=unchanged, quarantined=quarantined)


def upsert_candles(
    session: Session, frame: pd.DataFrame, *, instrument_id: int, source: str, timeframe: str
) -> tuple[int, int]:
    """Bulk upsert already validated candles; return ``(inserted, updated)``.

    The frame must have unique, aware-UTC ``ts`` and finite values (see ``validate_candles``).
    """
    if frame.empty:
        return 0, 0
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "sqlite":
        return _upsert_sqlite(connection, frame, instrument_id, source, timeframe)
    if dialect == "postgresql":
        return _upsert_postgresql(connection, frame, instrument_id, source, timeframe)
    raise NotImplementedError(f"candle upsert is not implemented for {dialect}")


def _timestamp_strings(frame: pd.DataFrame, separator: str) -> list[str]:
    stamps = pd.to_datetime(frame["ts"], utc=True).to_numpy(dtype="datetime64[us]")
    return [value.replace("T", separator, 1) for value in np.datetime_as_string(stamps, unit="us").tolist()]


def _value_lists(frame: pd.DataFrame) -> list[list[float]]:
    return [frame[name].to_numpy(dtype=float).tolist() for name in VALUE_COLUMNS]


def _upsert_sqlite(
    connection: Any, frame: pd.DataFrame, instrument_id: int, source: str, timeframe: str
) -> tuple[int, int]:
    raw = connection.connection.driver_connection
    stamps = _timestamp_strings(frame, " ")  # == SQLITE_DATETIME_FORMAT, as SQLAlchemy writes it
    count_sql = (
        "SELECT count(*) FROM candles WHERE instrument_id = ? AND source = ? AND timeframe = ? AND ts >= ? AND ts <= ?"
    )
    window = (instrument_id, source, timeframe, min(stamps), max(stamps))
    cursor = raw.cursor()
    try:
        before = cursor.execute(count_sql, window).fetchone()[0]
        changes_before = raw.total_changes
        opens, highs, lows, closes, volumes = _value_lists(frame)
        rows = zip(
            [instrument_id] * len(stamps),
            [source] * len(stamps),
            [timeframe] * len(stamps),
            stamps,
            opens,
            highs,
            lows,
            closes,
            volumes,
            strict=True,
        )
        cursor.executemany(SQLITE_UPSERT, rows)
        written = raw.total_changes - changes_before
        after = cursor.execute(count_sql, window).fetchone()[0]
    finally:
        cursor.close()
    inserted = after - before
    return inserted, written - inserted


_VALUE_FIELDS = [(name, pgcopy.NUMERIC_FIELD) for name in VALUE_COLUMNS]


def _with_times_and_values(rows: np.ndarray, frame: pd.DataFrame) -> bytes:
    """Fill the ``ts`` and value fields of ``rows`` from ``frame``; return the COPY payload."""
    pgcopy.set_timestamptz(rows, "ts", frame["ts"])
    for name in VALUE_COLUMNS:
        pgcopy.set_numeric(rows, name, frame[name].to_numpy(dtype=float))
    return pgcopy.payload(rows)


def _staging_rows(frame: pd.DataFrame) -> bytes:
    """Encode candles for the staging table: timestamptz and five numerics."""
    rows = pgcopy.empty_rows(len(frame), [("ts", pgcopy.TIMESTAMPTZ_FIELD), *_VALUE_FIELDS])
    return _with_times_and_values(rows, frame)


def _candle_rows(frame: pd.DataFrame, instrument_id: int, source: str, timeframe: str) -> bytes:
    """Encode complete ``candles`` rows (key columns included) for a COPY straight into the table."""
    rows = pgcopy.empty_rows(
        len(frame),
        [
            ("instrument_id", pgcopy.INT4_FIELD),
            ("source", pgcopy.text_field(source)),
            ("timeframe", pgcopy.text_field(timeframe)),
            ("ts", pgcopy.TIMESTAMPTZ_FIELD),
            *_VALUE_FIELDS,
        ],
    )
    pgcopy.set_int4(rows, "instrument_id", instrument_id)
    pgcopy.set_text(rows, "source", source)
    pgcopy.set_text(rows, "timeframe", timeframe)
    return _with_times_and_values(rows, frame)


def _is_unique_violation(error: Exception) -> bool:
    return getattr(error, "pgcode", None) == "23505" or getattr(getattr(error, "diag", None), "sqlstate", None) == (
        "23505"
    )


def _upsert_postgresql(
    connection: Any, frame: pd.DataFrame, instrument_id: int, source: str, timeframe: str
) -> tuple[int, int]:
    """Insert new history with one ``COPY`` into ``candles``; merge overlapping batches via a staging table.

    When no stored candle falls in the batch's time range (a backfill of new history, the usual
    case), the rows are copied straight into ``candles``. Otherwise (or if a concurrent writer
    stored one of the keys meanwhile, which makes the COPY fail on the primary key and is undone
    to a savepoint) they go through ``_merge_postgresql``.
    """
    raw = connection.connection.driver_connection
    timestamps = pd.to_datetime(frame["ts"], utc=True)
    parameters = {
        "instrument_id": instrument_id,
        "source": source,
        "timeframe": timeframe,
        "first": timestamps.min().to_pydatetime(),
        "last": timestamps.max().to_pydatetime(),
    }
    cursor = raw.cursor()
    try:
        cursor.execute(POSTGRES_ANY_IN_RANGE, parameters)
        if not cursor.fetchone()[0]:
            cursor.execute("SAVEPOINT konsens_candle_copy")
            try:
                pgcopy.copy_from(cursor, POSTGRES_COPY_CANDLES, _candle_rows(frame, instrument_id, source, timeframe))
            except Exception as error:
                if not _is_unique_violation(error):
                    raise
                cursor.execute("ROLLBACK TO SAVEPOINT konsens_candle_copy")
            else:
                cursor.execute("RELEASE SAVEPOINT konsens_candle_copy")
                return len(frame), 0
        return _merge_postgresql(cursor, frame, parameters)
    finally:
        cursor.close()


def _merge_postgresql(cursor: Any, frame: pd.DataFrame, parameters: dict[str, Any]) -> tuple[int, int]:
    """COPY into a staging table, update the rows whose values changed, insert the new ones.

    The insert is an anti-join (faster than ``ON CONFLICT`` for large batches) inside a savepoint;
    if a concurrent writer inserted one of the keys meanwhile, it is redone with ``ON CONFLICT DO NOTHING``.
    """
    cursor.execute(POSTGRES_CREATE_STAGING)
    cursor.execute(f"TRUNCATE {POSTGRES_STAGING}")
    pgcopy.copy_from(cursor, POSTGRES_COPY_STAGING, _staging_rows(frame))
    if len(frame) > 5_000:
        cursor.execute(f"ANALYZE {POSTGRES_STAGING}")  # lets the planner pick a hash join
    cursor.execute(POSTGRES_UPDATE_CHANGED, parameters)
    updated = int(cursor.rowcount)
    cursor.execute("SAVEPOINT konsens_candle_insert")
    try:
        cursor.execute(POSTGRES_INSERT_NEW, parameters)
        inserted = int(cursor.rowcount)
        cursor.execute("RELEASE SAVEPOINT konsens_candle_insert")
    except Exception as error:
        if not _is_unique_violation(error):
            raise
        cursor.execute("ROLLBACK TO SAVEPOINT konsens_candle_insert")
        cursor.execute(POSTGRES_INSERT_ON_CONFLICT, parameters)
        inserted = int(cursor.rowcount)
    return inserted, updated


def _json_number(value: Any) -> Any:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else str(number)


def quarantine_candles(
    session: Session,
    rejected: pd.DataFrame,
    *,
    source: str,
    timeframe: str,
    instrument_id: int | None,
    record_label: str,
) -> int:
    """Write refused candles to ``quarantine`` (one row each, with the reason); return how many.

    A row already quarantined for the same key and reason is not written again, so re-running a
    pass or re-importing a file does not pile up duplicates.
    """
    if rejected.empty:
        return 0
    stamps = [pd.Timestamp(value).isoformat() if not pd.isna(value) else "?" for value in rejected["ts"]]
    keys = [f"{record_label}|{timeframe}|{stamp}"[:200] for stamp in stamps]
    existing: set[tuple[str | None, str]] = set()
    for start in range(0, len(keys), 500):
        chunk = list(set(keys[start : start + 500]))
        existing.update(
            (row.record_key, row.reason)
            for row in session.execute(
                select(QuarantinedRecord.record_key, QuarantinedRecord.reason).where(
                    QuarantinedRecord.kind == QUARANTINE_KIND,
                    QuarantinedRecord.source == source,
                    QuarantinedRecord.record_key.in_(chunk),
                )
            )
        )
    rows = []
    for key, stamp, record in zip(keys, stamps, rejected.to_dict("records"), strict=True):
        reason = str(record["reason"])
        if (key, reason) in existing:
            continue
        existing.add((key, reason))
        payload = {name: _json_number(record.get(name)) for name in VALUE_COLUMNS}
        payload.update({"ts": stamp, "timeframe": timeframe, "instrument_id": instrument_id, "label": record_label})
        rows.append(
            {"kind": QUARANTINE_KIND, "source": source, "reason": reason, "record_key": key, "payload": payload}
        )
    if rows:
        session.execute(insert(QuarantinedRecord), rows)
        logger.warning("Quarantined %d %s candle(s) of %s from %s", len(rows), timeframe, record_label, source)
    return len(rejected)


def store_quote(session: Session, *, instrument_id: int, source: str, quote: QuoteSnapshot) -> bool:
    """Store a price snapshot (idempotent per instrument, source and time); return whether it was new."""
    if not quote.last.is_finite() or quote.last <= 0:
        session.add(
            QuarantinedRecord(
                kind="quote",
                source=source,
                reason="non-positive or non-finite last price",
                record_key=f"{instrument_id}|{quote.ts.isoformat()}",
                payload={"last": str(quote.last), "ts": quote.ts.isoformat()},
            )
        )
        return False
    exists = session.get(Quote, (instrument_id, source, quote.ts)) is not None
    bulk_upsert(
        session,
        Quote.__table__,  # type: ignore[arg-type]
        [
            {
                "instrument_id": instrument_id,
                "source": source,
                "ts": quote.ts,
                "last": quote.last,
                "bid": quote.bid,
                "ask": quote.ask,
            }
        ],
        conflict_columns=["instrument_id", "source", "ts"],
    )
    return not exists


def stored_candle_count(session: Session, instrument_id: int, source: str, timeframe: str) -> int:
    """Return how many candles are stored for one instrument, source and timeframe."""
    return int(
        session.execute(
            text("SELECT count(*) FROM candles WHERE instrument_id = :i AND source = :s AND timeframe = :t"),
            {"i": instrument_id, "s": source, "t": timeframe},
        ).scalar_one()
    )
