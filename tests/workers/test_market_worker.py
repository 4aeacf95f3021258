"""The market worker: one pass over the demo source, idempotency, per-instrument errors, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from core.db.engine import Database
from core.market.demo_source import DEMO_INSTRUMENTS
from core.market.models import AssetClass, Candle, Instrument, Quote
from core.market.settings import MarketSettings
from core.market.sources.base import InstrumentRef, MarketData, SourceUnavailableError
from core.market.sources.demo import DemoMarketData
from core.system.models import WorkerHeartbeat, WorkerStatus
from workers.market import WORKER_NAME, build_worker, default_source_factory
from workers.runtime import TransientError

NOW = datetime(2025, 3, 14, 15, 20, tzinfo=UTC)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def add_demo_instruments(database: Database) -> None:
    with database.session() as session:
        for spec in DEMO_INSTRUMENTS:
            session.add(
                Instrument(
                    symbol=spec.symbol,
                    base=spec.base,
                    quote=spec.quote,
                    asset_class=AssetClass(spec.asset_class),
                    default_source="demo",
                    tracked=True,
                    is_demo=True,
                )
            )


def fixed_demo(now: datetime) -> Callable[[Database, str], MarketData]:
    def factory(_database: Database, _name: str) -> MarketData:
        return DemoMarketData(now=now)

    return factory


def settings() -> MarketSettings:
    return MarketSettings(market_initial_history_days=10, market_timeframes=["1h", "1d"])


def test_once_pass_collects_demo_candles_and_quotes_and_a_second_pass_stores_nothing_twice(
    database: Database,
) -> None:
    add_demo_instruments(database)
    loop = build_worker(database, settings=settings(), source_factory=fixed_demo(NOW), clock=lambda: NOW)
    assert loop.run(once=True) == 0
    with database.session() as session:
        candles = session.scalar(select(func.count()).select_from(Candle))
        btc = session.scalar(select(Instrument).where(Instrument.symbol == "BTC/EUR"))
        assert btc is not None
        newest = session.scalar(select(func.max(Candle.ts)).where(Candle.instrument_id == btc.id))
        heartbeat = session.get(WorkerHeartbeat, WORKER_NAME)
        quotes = session.scalar(select(func.count()).select_from(Quote))
    assert newest == datetime(2025, 3, 14, 14, tzinfo=UTC)  # the last closed hour before NOW
    assert candles == 3 * 10 * 24 + 7 * 8  # crypto 24/7 for 10 days; AAPL 7 session hours on 8 weekdays
    assert quotes == 4
    assert heartbeat is not None
    assert heartbeat.status is WorkerStatus.STOPPED
    assert heartbeat.passes == 1
    assert heartbeat.info is not None
    assert heartbeat.info["inserted"] == candles
    assert heartbeat.info["instruments"]["BTC/EUR"]["status"] == "ok"
    assert heartbeat.info["instruments"]["BTC/EUR"]["timeframes"]["1d"] == "not offered by the source"

    again = build_worker(database, settings=settings(), source_factory=fixed_demo(NOW), clock=lambda: NOW)
    assert again.run(once=True) == 0
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Candle)) == candles
        assert session.scalar(select(func.count()).select_from(Quote)) == 4
        heartbeat = session.get(WorkerHeartbeat, WORKER_NAME)
        assert heartbeat is not None
        assert heartbeat.info is not None
        assert (heartbeat.info["inserted"], heartbeat.info["updated"]) == (0, 0)

    later = build_worker(
        database,
        settings=settings(),
        source_factory=fixed_demo(NOW + timedelta(hours=2)),
        clock=lambda: NOW + timedelta(hours=2),
    )
    assert later.run(once=True) == 0
    with database.session() as session:
        assert (
            session.scalar(select(func.count()).select_from(Candle)) == candles + 4 * 2
        )  # 15:00 and 16:00, AAPL is in session too


class FlakySource(DemoMarketData):
    """The demo market, except that one instrument's server keeps answering 503."""

    def fetch_candles(self, instrument: InstrumentRef, timeframe: str, start: datetime, end: datetime) -> pd.DataFrame:
        if instrument.symbol == "ETH/EUR":
            raise SourceUnavailableError("demo: HTTP 503 for ETH/EUR")
        return super().fetch_candles(instrument, timeframe, start, end)


def test_one_failing_instrument_does_not_stop_the_others_and_the_pass_is_retried(sqlite_database: Database) -> None:
    add_demo_instruments(sqlite_database)
    loop = build_worker(
        sqlite_database, settings=settings(), source_factory=lambda _db, _name: FlakySource(now=NOW), clock=lambda: NOW
    )
    with pytest.raises(TransientError):
        loop.run_pass(sqlite_database)
    assert loop.is_transient(TransientError("x"))
    assert loop.run(once=True) == 1
    with sqlite_database.session() as session:
        symbols = set(
            session.scalars(select(Instrument.symbol).join(Candle, Candle.instrument_id == Instrument.id).distinct())
        )
        heartbeat = session.get(WorkerHeartbeat, WORKER_NAME)
    assert symbols == {"BTC/EUR", "SOL/EUR", "AAPL"}
    assert heartbeat is not None
    assert heartbeat.last_error is not None
    assert "ETH/EUR" in heartbeat.last_error
    assert heartbeat.info is not None
    assert heartbeat.info["instruments"]["ETH/EUR"]["status"] == "unavailable"
    assert heartbeat.info["instruments"]["BTC/EUR"]["status"] == "ok"


def test_unknown_source_of_one_instrument_is_recorded_and_the_pass_succeeds(sqlite_database: Database) -> None:
    add_demo_instruments(sqlite_database)
    with sqlite_database.session() as session:
        session.add(
            Instrument(
                symbol="XYZ",
                base="XYZ",
                quote="EUR",
                asset_class=AssetClass.STOCK,
                default_source="nosuchsource",
                tracked=True,
            )
        )
    real_registry = default_source_factory(settings())

    def factory(database: Database, name: str) -> MarketData:
        return DemoMarketData(now=NOW) if name == "demo" else real_registry(database, name)

    loop = build_worker(sqlite_database, settings=settings(), source_factory=factory, clock=lambda: NOW)
    info = loop.run_pass(sqlite_database)
    assert info is not None
    assert info["instruments"]["XYZ"]["status"] == "error"
    assert "nosuchsource" in info["instruments"]["XYZ"]["error"]
    assert info["instruments"]["AAPL"]["status"] == "ok"


def test_sigterm_stops_the_worker_loop_cleanly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'worker.db'}"
    database = Database(url)
    from core.db.migrate import upgrade_database

    upgrade_database(database)
    add_demo_instruments(database)
    environment = {
        **os.environ,
        "KONSENS_DATABASE_URL": url,
        "KONSENS_HOME": str(tmp_path / "home"),
        "KONSENS_MARKET_INITIAL_HISTORY_DAYS": "2",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker", "market", "--interval", "3600"],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with database.session() as session:
                heartbeat = session.get(WorkerHeartbeat, WORKER_NAME)
                if heartbeat is not None and heartbeat.passes >= 1:
                    break
            time.sleep(0.2)
        else:
            pytest.fail("the worker did not finish a pass within 60 s")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    with database.session() as session:
        heartbeat = session.get(WorkerHeartbeat, WORKER_NAME)
        assert heartbeat is not None
        assert heartbeat.status is WorkerStatus.STOPPED
        assert (session.scalar(select(func.count()).select_from(Candle)) or 0) > 0
    database.dispose()
