"""Candle ingest benchmark: rows/s of the bulk upsert vs a naive per-row ORM insert, SQLite and PostgreSQL.

Run: ``PYTHONPATH=$PWD python bench/ingest.py [--rows 200000] [--naive-rows 5000] [--pg-url URL]``.
Creates its own temporary SQLite file and PostgreSQL database and removes both. Targets:
≥ 100,000 rows/s on SQLite, ≥ 200,000 rows/s on PostgreSQL (bulk, fresh rows).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.db.engine import Database
from core.db.migrate import upgrade_database
from core.market.models import AssetClass, Candle, Instrument
from core.market.store import upsert_candles
from core.market.validation import validate_candles

TARGETS = {"sqlite": 100_000, "postgresql": 200_000}
DEFAULT_PG_URL = os.environ.get("KONSENS_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


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


def bench_bulk(database: Database, frame: pd.DataFrame) -> tuple[float, float, float]:
    """Return rows/s for: validate+insert fresh rows, re-upsert the same rows (no change), upsert only."""
    instrument_id = prepare(database, "BULK")
    started = time.perf_counter()
    valid = validate_candles(frame, "1m").valid
    with database.session() as session:
        inserted, _ = upsert_candles(session, valid, instrument_id=instrument_id, source="bench", timeframe="1m")
    fresh = len(frame) / (time.perf_counter() - started)
    assert inserted == len(frame), (inserted, len(frame))
    started = time.perf_counter()
    with database.session() as session:
        inserted, updated = upsert_candles(session, valid, instrument_id=instrument_id, source="bench", timeframe="1m")
    again = len(frame) / (time.perf_counter() - started)
    assert (inserted, updated) == (0, 0)
    other_id = prepare(database, "BULK2")
    started = time.perf_counter()
    with database.session() as session:
        upsert_candles(session, valid, instrument_id=other_id, source="bench", timeframe="1m")
    upsert_only = len(frame) / (time.perf_counter() - started)
    return fresh, again, upsert_only


def bench_naive(database: Database, frame: pd.DataFrame) -> float:
    """Return rows/s of one ORM object and one flush per row (the thing never to do)."""
    instrument_id = prepare(database, "NAIVE")
    records = frame.to_dict("records")
    started = time.perf_counter()
    with database.session() as session:
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
    return len(records) / (time.perf_counter() - started)


def run(kind: str, url: str, frame: pd.DataFrame, naive_frame: pd.DataFrame) -> None:
    database = Database(url)
    try:
        upgrade_database(database)
        fresh, again, upsert_only = bench_bulk(database, frame)
        naive = bench_naive(database, naive_frame)
    finally:
        database.dispose()
    target = TARGETS[kind]
    verdict = "meets" if upsert_only >= target else "MISSES"
    print(f"{kind:10s} rows={len(frame):,}")
    print(f"  bulk upsert, fresh rows (upsert only)  : {upsert_only:12,.0f} rows/s  ({verdict} target {target:,})")
    print(f"  bulk validate + upsert, fresh rows     : {fresh:12,.0f} rows/s")
    print(f"  bulk re-upsert, nothing changed        : {again:12,.0f} rows/s")
    print(f"  naive ORM insert, one flush per row    : {naive:12,.0f} rows/s  ({len(naive_frame):,} rows)")
    print(f"  speed-up bulk / naive                  : {upsert_only / naive:12,.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--naive-rows", type=int, default=5_000)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    frame = synthetic_candles(args.rows, datetime(2020, 1, 1, tzinfo=UTC))
    naive_frame = frame.head(args.naive_rows)
    with tempfile.TemporaryDirectory() as folder:
        run("sqlite", f"sqlite:///{folder}/bench.db", frame, naive_frame)
    if args.skip_postgres:
        return
    name = f"konsens_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        run("postgresql", args.pg_url.rsplit("/", 1)[0] + f"/{name}", frame, naive_frame)
    finally:
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


if __name__ == "__main__":
    main()
