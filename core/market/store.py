"""The candle store: validated, bulk, idempotent writes of candles and quotes.

``store_candles`` validates a batch, puts refused rows into ``quarantine`` (with the reason) and
upserts the rest in bulk, never row by row:

- SQLite: one ``executemany`` of pre-formatted tuples on the raw DBAPI connection
  (timestamps in SQLAlchemy's SQLite text format, ``SQLITE_DATETIME_FORMAT``).
- PostgreSQL: ``COPY`` into a temporary staging table, then one ``INSERT ... SELECT ... ON CONFLICT``.

Both run in the caller's transaction. On a conflict a row is updated only if a value changed
(so the still-forming last candle is updated, and a batch stored twice writes nothing the second
time); the result says how many rows were inserted, updated, left unchanged and quarantined.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

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
POSTGRES_UPSERT = (
    f"WITH upserted AS (INSERT INTO candles (instrument_id, source, timeframe, ts, {_VALUE_NAMES}) "
    f"SELECT %(instrument_id)s, %(source)s, %(timeframe)s, ts, {_VALUE_NAMES} FROM {POSTGRES_STAGING} "
    f"ON CONFLICT (instrument_id, source, timeframe, ts) DO UPDATE SET {_UPDATE_SET} "
    f"WHERE ({', '.join('candles.' + name for name in VALUE_COLUMNS)}) IS DISTINCT FROM "
    f"({', '.join('excluded.' + name for name in VALUE_COLUMNS)}) "
    "RETURNING (xmax = 0) AS inserted) "
    "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted"
)


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


def _upsert_sqlite(connection: Any, frame: pd.DataFrame, instrument_id: int, source: str, timeframe: str) -> tuple[int, int]:
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
            [instrument_id] * len(stamps), [source] * len(stamps), [timeframe] * len(stamps),
            stamps, opens, highs, lows, closes, volumes, strict=True,
        )  # fmt: skip
        cursor.executemany(SQLITE_UPSERT, rows)
        written = raw.total_changes - changes_before
        after = cursor.execute(count_sql, window).fetchone()[0]
    finally:
        cursor.close()
    inserted = after - before
    return inserted, written - inserted


def _upsert_postgresql(
    connection: Any, frame: pd.DataFrame, instrument_id: int, source: str, timeframe: str
) -> tuple[int, int]:
    raw = connection.connection.driver_connection
    stamps = [stamp + "+00" for stamp in _timestamp_strings(frame, " ")]
    columns = [stamps, *([repr(value) for value in values] for values in _value_lists(frame))]
    buffer = io.StringIO("\n".join("\t".join(row) for row in zip(*columns, strict=True)) + "\n")
    cursor = raw.cursor()
    try:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {POSTGRES_STAGING} "
            "(ts timestamptz, open numeric, high numeric, low numeric, close numeric, volume numeric) ON COMMIT DROP"
        )
        cursor.execute(f"TRUNCATE {POSTGRES_STAGING}")
        copy_sql = f"COPY {POSTGRES_STAGING} (ts, {_VALUE_NAMES}) FROM STDIN"
        if hasattr(cursor, "copy_expert"):  # psycopg2
            cursor.copy_expert(copy_sql, buffer)
        else:  # psycopg 3
            with cursor.copy(copy_sql) as copy:
                copy.write(buffer.getvalue())
        cursor.execute(
            POSTGRES_UPSERT,
            {"instrument_id": instrument_id, "source": source, "timeframe": timeframe},
        )
        inserted, updated = cursor.fetchone()
    finally:
        cursor.close()
    return int(inserted), int(updated)


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
        rows.append({"kind": QUARANTINE_KIND, "source": source, "reason": reason, "record_key": key, "payload": payload})
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
        [{"instrument_id": instrument_id, "source": source, "ts": quote.ts, "last": quote.last,
          "bid": quote.bid, "ask": quote.ask}],  # fmt: skip
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
