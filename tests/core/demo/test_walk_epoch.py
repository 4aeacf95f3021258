"""The demo market's walk starts a fixed time before its seed, so every demo database looks the same
relative to the hour it was seeded in, whatever the day (the pages' tests see the same market on
every day they run), and what the market worker collects later continues the seeded candles."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db.engine import Database
from core.db.migrate import upgrade_database
from core.demo.removal import remove_demo_data
from core.demo.seed import seed_demo
from core.demo.state import SETTING_DEMO_SEEDED_AT, SETTING_DEMO_WALK_EPOCH, demo_walk_epoch
from core.market.demo_source import DEMO_EPOCH, DEMO_WALK_LEAD, anchored_epoch, demo_hourly_candles, demo_tick_price
from core.market.models import Candle, Instrument
from core.market.query import tracked_instruments
from core.market.settings import MarketSettings
from core.market.sources.base import InstrumentRef
from core.market.sources.demo import DemoMarketData
from core.market.streaming import DemoTickFeed, FeedStatus, StreamQuote
from core.portfolio.models import LedgerEntry
from core.system.settings_store import get_setting, set_setting
from workers import market as market_worker
from workers.market import MarketPass, default_source_factory

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
LATER = NOW + timedelta(days=37, hours=5)  # another day, another hour of the day
HOUR = timedelta(hours=1)


def _migrated(path: Path) -> Database:
    database = Database(f"sqlite:///{path}")
    upgrade_database(database)
    return database


def _closes_before_anchor(database: Database, symbol: str, anchor: datetime) -> dict[timedelta, float]:
    """The seeded closes of ``symbol``, keyed by how long before the anchor their hour opened."""
    with database.session() as session:
        instrument_id = session.scalar(select(Instrument.id).where(Instrument.symbol == symbol))
        rows = session.execute(select(Candle.ts, Candle.close).where(Candle.instrument_id == instrument_id)).all()
    return {anchor - ts.replace(tzinfo=UTC) if ts.tzinfo is None else anchor - ts: float(close) for ts, close in rows}


def _ledger(database: Database) -> list[tuple[object, ...]]:
    with database.session() as session:
        entries = session.scalars(select(LedgerEntry).order_by(LedgerEntry.ts, LedgerEntry.external_id)).all()
        return [
            (entry.kind, entry.sent_asset, entry.sent_quantity, entry.received_asset, entry.received_quantity)
            for entry in entries
            if "AAPL" not in (entry.sent_asset, entry.received_asset)
        ]


def test_two_seeds_on_different_days_show_the_same_market_relative_to_their_anchor(tmp_path: Path) -> None:
    first, second = _migrated(tmp_path / "first.db"), _migrated(tmp_path / "second.db")
    seed_demo(first, now=NOW)
    seed_demo(second, now=LATER)
    for symbol in ("BTC/EUR", "ETH/EUR", "SOL/EUR"):
        before_first = _closes_before_anchor(first, symbol, NOW)
        before_second = _closes_before_anchor(second, symbol, LATER)
        assert len(before_first) == 400 * 24
        assert before_first == before_second
    # the crypto paper trades are priced from that market: the same quantities and amounts (the stock
    # trades only in its session hours, which fall elsewhere relative to another anchor)
    assert len(_ledger(first)) >= 8
    assert _ledger(first) == _ledger(second)
    with first.session() as session:
        assert demo_walk_epoch(session) == anchored_epoch(NOW) == NOW - DEMO_WALK_LEAD
        assert get_setting(session, SETTING_DEMO_WALK_EPOCH) == (NOW - DEMO_WALK_LEAD).isoformat()


def test_a_database_seeded_before_epochs_were_stored_keeps_the_fixed_epoch(sqlite_database: Database) -> None:
    with sqlite_database.session() as session:
        set_setting(session, SETTING_DEMO_SEEDED_AT, NOW.isoformat())  # as a seed before this change left it
    context = seed_demo(sqlite_database)
    assert context.now == NOW and context.epoch == DEMO_EPOCH
    with sqlite_database.session() as session:
        btc = session.scalar(select(Instrument.id).where(Instrument.symbol == "BTC/EUR"))
        last = session.scalar(select(Candle.close).where(Candle.instrument_id == btc).order_by(Candle.ts.desc()))
    expected = demo_hourly_candles("BTC/EUR", NOW - HOUR, NOW, epoch=DEMO_EPOCH)["close"].iloc[-1]
    assert last == Decimal(str(expected))


def test_an_unreadable_or_naive_stored_epoch_falls_back_to_the_fixed_one(sqlite_database: Database) -> None:
    for stored in ("not a time", "2025-01-01T00:00:00"):
        with sqlite_database.session() as session:
            set_setting(session, SETTING_DEMO_WALK_EPOCH, stored)
        with sqlite_database.session() as session:
            assert demo_walk_epoch(session) == DEMO_EPOCH


def test_the_seeded_walk_is_kept_by_a_later_seed_continued_by_the_market_worker_and_removed_with_the_demo(
    sqlite_database: Database,
) -> None:
    seed_demo(sqlite_database, now=NOW)
    assert seed_demo(sqlite_database, now=NOW + 3 * HOUR).epoch == anchored_epoch(NOW)  # a later seed keeps it
    with sqlite_database.session() as session:
        assert demo_walk_epoch(session) == anchored_epoch(NOW)
    source = default_source_factory(MarketSettings())(sqlite_database, "demo")
    assert isinstance(source, DemoMarketData)
    assert source.epoch == anchored_epoch(NOW)
    source = DemoMarketData(now=NOW + 5 * HOUR, epoch=source.epoch)
    btc = InstrumentRef("BTC/EUR", "BTC", "EUR")
    fetched = source.fetch_candles(btc, "1h", NOW - 3 * HOUR, NOW + 2 * HOUR)
    seeded = _closes_before_anchor(sqlite_database, "BTC/EUR", NOW)
    by_time = {row.ts.to_pydatetime(): row.close for row in fetched.itertuples()}
    for hours in (1, 2, 3):  # the hours the seed stored: the same candles
        assert by_time[NOW - hours * HOUR] == seeded[hours * HOUR]
    assert NOW in by_time and NOW + HOUR in by_time  # and the hours after it, collected from the same walk
    # the first hour after the seed opens where the last seeded hour closed
    assert fetched.set_index("ts").loc[NOW, "open"] == seeded[HOUR]

    with sqlite_database.session() as session:
        remove_demo_data(session, actor="test")
    with sqlite_database.session() as session:
        assert get_setting(session, SETTING_DEMO_WALK_EPOCH) is None
        assert demo_walk_epoch(session) == DEMO_EPOCH


class _FirstTickSink:
    """Takes one round of ticks of a feed (a tick per instrument), then stops it."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.quotes: list[StreamQuote] = []

    def add_quote(self, source: str, quote: StreamQuote) -> None:
        self.quotes.append(quote)
        self.stop.set()


def test_the_market_worker_streams_demo_ticks_on_the_seeded_walk(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_demo(sqlite_database, now=NOW)
    started: list[list[DemoTickFeed]] = []

    class _RecordingService:  # what start_streams hands to the streaming service, not started
        def __init__(self, database: Database, feeds: list[DemoTickFeed], **_: object) -> None:
            started.append(feeds)

        def start(self) -> None:
            pass

    monkeypatch.setattr(market_worker, "StreamingService", _RecordingService)
    settings = MarketSettings()
    MarketPass(settings, default_source_factory(settings)).start_streams(
        sqlite_database, sqlite_database.run(tracked_instruments)
    )
    (feeds,) = started
    demo_feeds = [feed for feed in feeds if isinstance(feed, DemoTickFeed)]
    assert len(demo_feeds) == 1
    stop = threading.Event()
    sink = _FirstTickSink(stop)
    demo_feeds[0].run(sink, FeedStatus("demo:stream", "demo", []), stop)  # type: ignore[arg-type]
    symbols = {member.instrument_id: member.symbol for member in demo_feeds[0].instruments}
    assert {"BTC/EUR", "ETH/EUR"} <= set(symbols.values())
    assert len(sink.quotes) == len(symbols)
    for quote in sink.quotes:
        on_seeded_walk = demo_tick_price(symbols[quote.instrument_id], quote.ts, epoch=anchored_epoch(NOW))
        on_fixed_walk = demo_tick_price(symbols[quote.instrument_id], quote.ts, epoch=DEMO_EPOCH)
        assert quote.last == Decimal(str(round(on_seeded_walk, 6 if on_seeded_walk < 10 else 2)))
        assert abs(on_seeded_walk - on_fixed_walk) > 0.01  # the two walks differ: the test tells them apart
