"""Candle ingest benchmark: the bulk upsert against a raw bulk load into an identical keyed table.

Run: ``PYTHONPATH=$PWD python bench/ingest.py [--rows 200000] [--naive-rows 5000] [--pg-url URL]``.
Creates its own temporary SQLite file and PostgreSQL database and removes both.

The baseline, measured in the same run on the same frame: a plain bulk load into ``candles_raw``,
a table with the columns and primary key of ``candles`` (SQLite: the same DDL; PostgreSQL:
``CREATE TABLE ... (LIKE candles INCLUDING ALL)``) and no upsert logic —

- PostgreSQL: a binary ``COPY candles_raw FROM STDIN`` of the frame, encoded in the timed run
  by ``core.db.pgcopy`` (the same encoding the upsert uses: the target is judged against this
  one). Also printed: ``COPY ... (FORMAT csv)`` of the frame written by ``DataFrame.to_csv``
  (what one does by hand with ``psql \\copy``; much slower), and the floor, a binary ``COPY`` of
  a payload encoded before the clock starts (server time only);
- SQLite: one ``executemany`` of a plain ``INSERT`` of tuples built from the frame.

Target: the upsert of fresh rows at >= 0.8x the throughput of the raw load (CPU time of this
process plus the PostgreSQL backend; wall time is printed too). Each figure is the best of
``--repeats`` runs, each run on fresh keys (a new instrument) in both tables.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import Measure, load_line, process_cpu_seconds, timed
from core.db import pgcopy
from core.db.engine import Database
from core.db.migrate import upgrade_database
from core.market.models import AssetClass, Candle, Instrument
from core.market.store import _candle_rows, _timestamp_strings, _value_lists, upsert_candles
from core.market.validation import VALUE_COLUMNS, validate_candles

TARGET_RATIO = 0.8
DEFAULT_PG_URL = os.environ.get("KONSENS_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
RAW_TABLE = "candles_raw"
COLUMNS = f"instrument_id, source, timeframe, ts, {', '.join(VALUE_COLUMNS)}"


def synthetic_candles(rows: int, start: datetime) -> pd.DataFrame:
    """Return ``rows`` valid one-minute candles from ``start`` (a random walk)."""
    rng = np.random.default_rng(7)
    closes = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.001, rows)))
    opens = np.concatenate([[closes[0]], closes[:-1]])
    spread = np.abs(rng.normal(0, 5, rows))
    return pd.DataFrame(
        {
            "ts": pd.date_range(start, periods=rows, freq="1min", tz="UTC"),
            "open": opens.round(2),
            "high": (np.maximum(opens, closes) + spread).round(2),
            "low": (np.minimum(opens, closes) - spread).round(2),
            "close": closes.round(2),
            "volume": rng.lognormal(0, 1, rows).round(6),
        }
    )


def prepare(database: Database, symbol: str) -> int:
    with database.session() as session:
        instrument = Instrument(symbol=symbol, base=symbol, quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add(instrument)
        session.flush()
        return instrument.id


def create_raw_table(database: Database) -> None:
    """Create ``candles_raw``: the columns and primary key of ``candles``, nothing else."""
    with database.session() as session:
        if database.kind == "sqlite":
            ddl = session.execute(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'candles'"))
            statement = ddl.scalar_one().replace("candles", RAW_TABLE, 1)
            session.execute(text(statement))
        else:
            session.execute(text(f"CREATE TABLE {RAW_TABLE} (LIKE candles INCLUDING ALL)"))


def _backend_cpu(session: Session) -> Callable[[], float]:
    """A reader of this session's PostgreSQL backend CPU seconds (same machine), or of 0 on SQLite."""
    if session.connection().dialect.name != "postgresql":
        return lambda: 0.0
    pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    return lambda: process_cpu_seconds(pid)


def run_timed(database: Database, into: Measure, work: Callable[[Session], object]) -> None:
    """Run ``work`` in one transaction (commit included), timing wall and CPU (with the backend's)."""
    with database.session() as session:
        backend = _backend_cpu(session)
        with timed(into, extra_cpu=backend):
            work(session)
            session.commit()


def raw_load(instrument_id: int, frame: pd.DataFrame, *, csv: bool = False) -> Callable[[Session], object]:
    """The baseline into ``candles_raw``: binary (or ``csv``) COPY on PostgreSQL, plain executemany on SQLite."""

    def work(session: Session) -> None:
        raw: Any = session.connection().connection.driver_connection
        cursor = raw.cursor()
        if session.connection().dialect.name == "sqlite":
            stamps = _timestamp_strings(frame, " ")
            count = len(stamps)
            rows = zip(
                [instrument_id] * count, ["bench"] * count, ["1m"] * count, stamps, *_value_lists(frame), strict=True
            )
            cursor.executemany(f"INSERT INTO {RAW_TABLE} ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        elif not csv:
            payload = _candle_rows(frame, instrument_id, "bench", "1m")
            pgcopy.copy_from(cursor, f"COPY {RAW_TABLE} ({COLUMNS}) FROM STDIN WITH (FORMAT binary)", payload)
        else:
            keyed = frame.assign(instrument_id=instrument_id, source="bench", timeframe="1m")
            buffer = io.StringIO()
            keyed[["instrument_id", "source", "timeframe", "ts", *VALUE_COLUMNS]].to_csv(
                buffer, index=False, header=False
            )
            buffer.seek(0)
            cursor.copy_expert(f"COPY {RAW_TABLE} ({COLUMNS}) FROM STDIN WITH (FORMAT csv)", buffer)
        cursor.close()

    return work


def raw_binary_copy(payload: bytes) -> Callable[[Session], object]:
    """The floor on PostgreSQL: a binary COPY of a payload encoded before the clock started."""

    def work(session: Session) -> None:
        raw: Any = session.connection().connection.driver_connection
        cursor = raw.cursor()
        pgcopy.copy_from(cursor, f"COPY {RAW_TABLE} ({COLUMNS}) FROM STDIN WITH (FORMAT binary)", payload)
        cursor.close()

    return work


def upsert(
    instrument_id: int, frame: pd.DataFrame, results: list[tuple[int, int]], validate: bool = False
) -> Callable[[Session], object]:
    def work(session: Session) -> None:
        candles = validate_candles(frame, "1m").valid if validate else frame
        results.append(upsert_candles(session, candles, instrument_id=instrument_id, source="bench", timeframe="1m"))

    return work


def naive(instrument_id: int, frame: pd.DataFrame) -> Callable[[Session], object]:
    """One ORM object and one flush per row (the thing never to do)."""
    records = frame.to_dict("records")

    def work(session: Session) -> None:
        for record in records:
            session.add(
                Candle(
                    instrument_id=instrument_id,
                    source="bench",
                    timeframe="1m",
                    ts=record["ts"].to_pydatetime(),
                    open=Decimal(str(record["open"])),
                    high=Decimal(str(record["high"])),
                    low=Decimal(str(record["low"])),
                    close=Decimal(str(record["close"])),
                    volume=Decimal(str(record["volume"])),
                )
            )
            session.flush()

    return work


def run(kind: str, url: str, frame: pd.DataFrame, naive_frame: pd.DataFrame, repeats: int) -> bool:
    database = Database(url)
    timings: dict[str, Measure] = {}
    results: list[tuple[int, int]] = []
    try:
        upgrade_database(database)
        create_raw_table(database)
        valid = validate_candles(frame, "1m").valid
        baseline = timings.setdefault(
            "raw binary COPY into candles_raw" if kind == "postgresql" else "raw executemany INSERT into candles_raw",
            Measure(),
        )
        fresh, unchanged, validated = Measure(), Measure(), Measure()
        floor, csv = Measure(), Measure()
        for number in range(repeats):
            # interleaved, so both tables grow alike and a load spike hits both
            raw_id = prepare(database, f"RAW{number}")
            run_timed(database, baseline, raw_load(raw_id, valid))
            if kind == "postgresql":
                floor_id = prepare(database, f"FLOOR{number}")
                run_timed(database, floor, raw_binary_copy(_candle_rows(valid, floor_id, "bench", "1m")))
                run_timed(database, csv, raw_load(prepare(database, f"CSV{number}"), valid, csv=True))
            upsert_id = prepare(database, f"BULK{number}")
            run_timed(database, fresh, upsert(upsert_id, valid, results))
            assert results[-1] == (len(frame), 0), results[-1]
            run_timed(database, unchanged, upsert(upsert_id, valid, results))
            assert results[-1] == (0, 0), results[-1]
            validate_id = prepare(database, f"VALID{number}")
            run_timed(database, validated, upsert(validate_id, frame, results, validate=True))
        if kind == "postgresql":
            timings["raw binary COPY, pre-encoded (floor)"] = floor
            timings["raw COPY (FORMAT csv) from to_csv"] = csv
        timings["bulk upsert, fresh rows"] = fresh
        timings["bulk re-upsert, nothing changed"] = unchanged
        timings["bulk validate + upsert, fresh rows"] = validated
        naive_timing = Measure()
        run_timed(database, naive_timing, naive(prepare(database, "NAIVE"), naive_frame))
    finally:
        database.dispose()
    rows = len(frame)
    print(f"{kind}: {rows:,} rows, best of {repeats} (CPU = this process + the PostgreSQL backend)")
    print(f"  {'':42s} {'wall s':>8s} {'CPU s':>8s} {'rows/CPU-s':>12s} {'x baseline (CPU)':>17s} {'(wall)':>7s}")
    for label, timing in timings.items():
        print(
            f"  {label:42s} {timing.wall:8.3f} {timing.cpu:8.3f} {rows / timing.cpu:12,.0f} "
            f"{baseline.cpu / timing.cpu:17.2f} {baseline.wall / timing.wall:7.2f}"
        )
    naive_rate = len(naive_frame) / naive_timing.cpu
    naive_label = f"naive ORM insert, flush per row ({len(naive_frame):,})"
    print(
        f"  {naive_label:42s} {naive_timing.wall:8.3f} {naive_timing.cpu:8.3f} {naive_rate:12,.0f} "
        f"{(rows / baseline.cpu and naive_rate / (rows / baseline.cpu)):17.3f}"
    )
    achieved = baseline.cpu / fresh.cpu
    verdict = "meets" if achieved >= TARGET_RATIO else "MISSES"
    print(
        f"  bulk upsert of fresh rows: {achieved:.2f}x the raw load's throughput by CPU "
        f"({baseline.wall / fresh.wall:.2f}x by wall): {verdict} the target >= {TARGET_RATIO}x; "
        f"{(rows / fresh.cpu) / naive_rate:,.0f}x the naive insert"
    )
    return achieved >= TARGET_RATIO


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--naive-rows", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    frame = synthetic_candles(args.rows, datetime(2020, 1, 1, tzinfo=UTC))
    naive_frame = frame.head(args.naive_rows)
    print(f"machine: {load_line()} (wall figures drop under load; CPU ratios much less)")
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        ok &= run("sqlite", f"sqlite:///{folder}/bench.db", frame, naive_frame, args.repeats)
    if not args.skip_postgres:
        name = f"konsens_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            ok &= run("postgresql", args.pg_url.rsplit("/", 1)[0] + f"/{name}", frame, naive_frame, args.repeats)
        finally:
            with admin.connect() as connection:
                connection.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
                )
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            admin.dispose()
    print(f"after: {load_line()}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
