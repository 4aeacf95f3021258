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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

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


@dataclass
class Timing:
    """Wall-clock seconds and CPU seconds (this process plus, on PostgreSQL, the server backend)."""

    wall: float
    cpu: float


def _backend_cpu_seconds(session: Session) -> float:
    """Return the CPU time of this session's PostgreSQL backend (same machine only), else 0."""
    if session.connection().dialect.name != "postgresql":
        return 0.0
    pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(database: Database, work: Callable[[Session], object]) -> Timing:
    """Run ``work`` in one transaction (commit included) and time it."""
    with database.session() as session:
        cpu_before = time.process_time() + _backend_cpu_seconds(session)
        started = time.perf_counter()
        work(session)
        session.commit()
        wall = time.perf_counter() - started
        cpu = time.process_time() + _backend_cpu_seconds(session) - cpu_before
    return Timing(wall, cpu)


def bench_bulk(database: Database, frame: pd.DataFrame) -> dict[str, Timing]:
    """Time: upsert of fresh rows, validate + upsert of fresh rows, re-upsert of the same rows (no change)."""
    valid = validate_candles(frame, "1m").valid
    timings: dict[str, Timing] = {}
    first_id = prepare(database, "BULK")
    results: list[tuple[int, int]] = []

    def upsert_into(instrument_id: int, candles: pd.DataFrame) -> Callable[[Session], object]:
        def work(session: Session) -> object:
            results.append(
                upsert_candles(session, candles, instrument_id=instrument_id, source="bench", timeframe="1m")
            )
            return None

        return work

    timings["bulk upsert, fresh rows"] = timed(database, upsert_into(first_id, valid))
    assert results[-1] == (len(frame), 0), results[-1]
    timings["bulk re-upsert, nothing changed"] = timed(database, upsert_into(first_id, valid))
    assert results[-1] == (0, 0), results[-1]
    second_id = prepare(database, "BULK2")
    timings["bulk validate + upsert, fresh rows"] = timed(
        database, lambda session: upsert_into(second_id, validate_candles(frame, "1m").valid)(session)
    )
    return timings


def bench_naive(database: Database, frame: pd.DataFrame) -> Timing:
    """Time one ORM object and one flush per row (the thing never to do)."""
    instrument_id = prepare(database, "NAIVE")
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

    return timed(database, work)


def run(kind: str, url: str, frame: pd.DataFrame, naive_frame: pd.DataFrame) -> None:
    database = Database(url)
    try:
        upgrade_database(database)
        timings = bench_bulk(database, frame)
        naive = bench_naive(database, naive_frame)
    finally:
        database.dispose()
    target = TARGETS[kind]
    headline = timings["bulk upsert, fresh rows"]
    rate = len(frame) / headline.wall
    verdict = "meets" if rate >= target else "MISSES"
    print(f"{kind}: {len(frame):,} rows; target {target:,} rows/s (wall clock)")
    print(f"  {'':38s} {'rows/s wall':>14s} {'rows per CPU-s':>15s}")
    for label, timing in timings.items():
        print(f"  {label:38s} {len(frame) / timing.wall:14,.0f} {len(frame) / max(timing.cpu, 1e-9):15,.0f}")
    naive_label = f"naive ORM insert, flush per row ({len(naive_frame):,})"
    print(
        f"  {naive_label:38s} {len(naive_frame) / naive.wall:14,.0f} {len(naive_frame) / max(naive.cpu, 1e-9):15,.0f}"
    )
    print(f"  bulk fresh rows: {verdict} the target; {rate / (len(naive_frame) / naive.wall):,.0f}x the naive insert")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--naive-rows", type=int, default=5_000)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    frame = synthetic_candles(args.rows, datetime(2020, 1, 1, tzinfo=UTC))
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} (figures in wall clock drop under load; "
          "rows per CPU-second, this process + the PostgreSQL backend, does not)")  # fmt: skip
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
