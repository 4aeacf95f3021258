"""Stored candle read benchmark (issue 21): ``load_candles`` column-wise against the row reader.

Run: ``PYTHONPATH=$PWD python bench/candle_read.py [--rows 1000000] [--repeats 3] [--pg-url URL]
[--only sqlite,postgresql]``.
Creates its own temporary SQLite file and PostgreSQL database (removed afterwards) holding one
series of ``--rows`` one-minute candles (full 17-digit float values) plus a second source of the
same instrument, stored by ``core.market.store.upsert_candles`` as the workers store them.

Each database reads the whole series in two ways, alternating, best of ``--repeats`` by CPU:

- **row path** (the baseline): ``load_candles_by_rows`` — one driver row per candle, then
  zipped into columns (what ``load_candles`` did before);
- **columnar path**: ``load_candles`` — PostgreSQL ``COPY (SELECT ...) TO STDOUT (FORMAT csv)``
  parsed by pyarrow; SQLite epoch microseconds and REALs read by ``np.fromiter``.

The two frames are checked equal. CPU time is this process's plus, on PostgreSQL, the server
backend's (``/proc/PID/stat``); wall time and the load average are printed with it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import Measure, load_line, process_cpu_seconds, ratio_line, timed
from core.db.engine import Database
from core.db.migrate import upgrade_database
from core.market.models import AssetClass, Instrument
from core.market.query import load_candles, load_candles_by_rows
from core.market.store import upsert_candles

DEFAULT_PG_URL = os.environ.get("KONSENS_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
SOURCE, OTHER_SOURCE, TIMEFRAME = "bench", "other", "1m"


def synthetic_candles(
    rows: int,
    start: datetime,
    *,
    freq: str = "1min",
    seed: int = 21,
    base: float = 30_000.0,
    volatility: float = 0.001,
    spread: float = 5.0,
    volume_sigma: float = 1.0,
) -> pd.DataFrame:
    """``rows`` valid candles every ``freq`` from ``start``: a random walk, values not rounded.

    Closes walk from ``base`` with log returns of standard deviation ``volatility``; highs and lows
    lie a normal ``spread`` beyond open and close; volumes are log-normal. The same arguments give
    the same frame bit for bit (the candle read tests build their series with it too).
    """
    rng = np.random.default_rng(seed)
    closes = base * np.exp(np.cumsum(rng.normal(0, volatility, rows)))
    opens = np.concatenate([[closes[0]], closes[:-1]])
    margin = np.abs(rng.normal(0, spread, rows))
    return pd.DataFrame(
        {
            "ts": pd.date_range(start, periods=rows, freq=freq, tz="UTC"),
            "open": opens,
            "high": np.maximum(opens, closes) + margin,
            "low": np.minimum(opens, closes) - margin,
            "close": closes,
            "volume": rng.lognormal(0, volume_sigma, rows),
        }
    )


def fill(database: Database, rows: int) -> int:
    """Store the series (and 10,000 candles of a second source); return the instrument id."""
    upgrade_database(database)
    frame = synthetic_candles(rows, datetime(2023, 1, 1, tzinfo=UTC))
    with database.session() as session:
        instrument = Instrument(symbol="READ/EUR", base="READ", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add(instrument)
        session.flush()
        upsert_candles(session, frame, instrument_id=instrument.id, source=SOURCE, timeframe=TIMEFRAME)
        upsert_candles(
            session, frame.iloc[:10_000], instrument_id=instrument.id, source=OTHER_SOURCE, timeframe=TIMEFRAME
        )
        return instrument.id


def _backend_cpu(session: Session) -> Callable[[], float]:
    if session.connection().dialect.name != "postgresql":
        return lambda: 0.0
    pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    return lambda: process_cpu_seconds(pid)


def measure_reads(
    database: Database, instrument_id: int, repeats: int
) -> tuple[Measure, Measure, int, dict[str, float]]:
    """Read the series ``repeats`` times each way (alternating); check the frames are equal.

    Also returns the smallest backend CPU seconds of a read each way (0 on SQLite).
    """
    rows_path, columnar_path = Measure(), Measure()
    frames: dict[str, pd.DataFrame] = {}
    backend_seconds: dict[str, list[float]] = {"rows": [], "columnar": []}
    with database.session() as session:
        backend = _backend_cpu(session)
        for _ in range(repeats):
            for name, into, read in (
                ("rows", rows_path, lambda: load_candles_by_rows(session, instrument_id, TIMEFRAME, source=SOURCE)),
                ("columnar", columnar_path, lambda: load_candles(session, instrument_id, TIMEFRAME, source=SOURCE)),
            ):
                before = backend()
                with timed(into, extra_cpu=backend):
                    frames[name] = read()
                backend_seconds[name].append(backend() - before)
    pd.testing.assert_frame_equal(frames["columnar"], frames["rows"], check_exact=True)
    return rows_path, columnar_path, len(frames["columnar"]), {k: min(v) for k, v in backend_seconds.items()}


def report(kind: str, rows_path: Measure, columnar_path: Measure, count: int, backend: dict[str, float]) -> None:
    print(f"{kind}: {count:,} stored candles read into a frame (best of {rows_path.runs}; frames equal)")
    print("  " + ratio_line("row path", rows_path, rows_path, "the row path", items=count, unit="candles"))
    print("  " + ratio_line("columnar path", columnar_path, rows_path, "the row path", items=count, unit="candles"))
    by_cpu, by_wall = rows_path.cpu / columnar_path.cpu, rows_path.wall / columnar_path.wall
    print(f"  speed-up: {by_cpu:.2f}x by CPU, {by_wall:.2f}x by wall")
    if any(backend.values()):
        print(
            f"  of the CPU, the PostgreSQL backend's: row path {backend['rows']:.2f} s, "
            f"columnar {backend['columnar']:.2f} s"
        )
    print("  " + load_line())


def run_sqlite(rows: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite:///{Path(folder) / 'read.db'}")
        try:
            instrument_id = fill(database, rows)
            report("SQLite", *measure_reads(database, instrument_id, repeats))
        finally:
            database.dispose()


def run_postgresql(rows: int, repeats: int, admin_url: str) -> None:
    name = f"konsens_bench_read_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    database = Database(admin_url.rsplit("/", 1)[0] + f"/{name}")
    try:
        instrument_id = fill(database, rows)
        report("PostgreSQL", *measure_reads(database, instrument_id, repeats))
    finally:
        database.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--only", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    options = parser.parse_args(argv)
    wanted = {name.strip() for name in options.only.split(",")}
    print(load_line())
    if "sqlite" in wanted:
        run_sqlite(options.rows, options.repeats)
    if "postgresql" in wanted:
        run_postgresql(options.rows, options.repeats, options.pg_url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
