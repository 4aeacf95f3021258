"""Streaming One Trading through the real ccxt.pro client against a loopback WebSocket server.

Frames as in ccxt's ``ccxt/pro/onetrading.py`` (see ``fake_onetrading_ws.py``); REST parts (markets,
candlesticks, market ticker) in One Trading's ``/fast/v1`` format as in ``test_ccxt_source.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from werkzeug import Request, Response

from core.db.engine import Database
from core.market.collection import collect_incremental, collect_quote
from core.market.models import AssetClass, Candle, Instrument, Quote
from core.market.sources.ccxt_stream import CcxtProFeed
from core.market.streaming import (
    DemoTickFeed,
    Feed,
    FeedInstrument,
    FeedState,
    StreamingService,
    StreamQuote,
    StreamSink,
    feed_statuses,
)
from core.risk.models import AlertKind, RiskAlert
from tests.core.market.fake_onetrading_ws import FakeOneTradingStream, book_snapshot, candlestick, ticker
from tests.core.market.test_ccxt_source import make_source, serve_markets

D = Decimal


@pytest.fixture
def ws() -> Iterator[FakeOneTradingStream]:
    server = FakeOneTradingStream()
    yield server
    server.close()


@pytest.fixture
def btc(sqlite_database: Database) -> Instrument:
    with sqlite_database.session() as session:
        instrument = Instrument(
            symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO, default_source="ccxt:onetrading"
        )
        session.add(instrument)
        session.flush()
        session.expunge(instrument)
        return instrument


def _feed(httpserver: HTTPServer, ws: FakeOneTradingStream, instrument: Instrument) -> CcxtProFeed:
    base = httpserver.url_for("/fast").rstrip("/")
    return CcxtProFeed(
        "onetrading",
        [FeedInstrument(instrument.id, instrument.symbol)],
        timeframes=["1m"],
        exchange_options={"urls": {"api": {"public": base, "private": base, "ws": ws.url}}},
    )


def _until(check: Callable[[], object], within: float = 30.0) -> object:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _quotes(database: Database) -> list[tuple[datetime, Decimal, Decimal | None, Decimal | None]]:
    return [
        (row[0], row[1], row[2], row[3])
        for row in database.run(
            lambda s: s.execute(select(Quote.ts, Quote.last, Quote.bid, Quote.ask).order_by(Quote.ts)).all()
        )
    ]


def _candles(database: Database) -> list[tuple[datetime, float]]:
    rows = database.run(lambda s: s.execute(select(Candle.ts, Candle.close).order_by(Candle.ts)).all())
    return [(row[0], float(row[1])) for row in rows]


def test_streamed_ticker_book_and_candle_are_stored_with_bid_ask_from_the_book_and_garbage_is_skipped(
    sqlite_database: Database, btc: Instrument, httpserver: HTTPServer, ws: FakeOneTradingStream
) -> None:
    serve_markets(httpserver)
    service = StreamingService(sqlite_database, [_feed(httpserver, ws, btc)], flush_seconds=0.1, status_seconds=0.1)
    service.start()
    try:
        _until(lambda: ws.subscribed("MARKET_TICKER") and ws.subscribed("ORDER_BOOK") and ws.subscribed("CANDLESTICKS"))
        ws.send(book_snapshot("60010.5", "60020.0", "2024-05-08T12:00:01.000000Z"))
        time.sleep(0.1)
        ws.send(ticker("60015.25", "2024-05-08T12:00:02.000000Z"))
        ws.send(candlestick("2024-05-08T12:00:59.999000Z", "60000", "60030", "59990", "60015.25"))
        ws.send("this is not json")
        ws.send({"type": "ORDER_BOOK_SNAPSHOT", "instrument_code": "BTC_EUR", "bids": "zz", "time": "x"})
        ws.send(ticker("60016.5", "2024-05-08T12:00:03.000000Z"))  # the feed goes on after garbage
        _until(lambda: len(_quotes(sqlite_database)) >= 2)
        _until(lambda: _candles(sqlite_database))
        status = service.statuses()[0]
        assert status.garbage >= 2
        service.tick()
        assert service.statuses()[0].state is FeedState.STREAMING
    finally:
        service.stop()
    quotes = _quotes(sqlite_database)
    assert quotes[0] == (datetime(2024, 5, 8, 12, 0, 2, tzinfo=UTC), D("60015.25"), D("60010.5"), D("60020.0"))
    assert quotes[1][1] == D("60016.5")
    # The candle is stamped with its last millisecond: stored at its open time.
    assert _candles(sqlite_database) == [(datetime(2024, 5, 8, 12, 0, tzinfo=UTC), 60015.25)]
    saved = sqlite_database.run(feed_statuses)
    assert saved["feeds"]["ccxt:onetrading:stream"]["garbage"] >= 2


def test_a_dropped_connection_mid_candle_is_backfilled_over_rest_with_no_duplicate_and_no_gap(
    sqlite_database: Database, btc: Instrument, httpserver: HTTPServer, ws: FakeOneTradingStream
) -> None:
    serve_markets(httpserver)

    dropped = {"yes": False}

    def candles_handler(request: Request) -> Response:
        # Before the drop 12:00 is forming, which One Trading's REST API does not return; after the
        # reconnect 12:00 and 12:01 are complete.
        if not dropped["yes"]:
            return Response(json.dumps({"candlesticks": []}), content_type="application/json")
        body = {
            "candlesticks": [
                {**candlestick("2024-05-08T12:00:59.999Z", "60000", "60050", "59990", "60040"), "total_amount": "1"},
                {**candlestick("2024-05-08T12:01:59.999Z", "60040", "60060", "60000", "60010"), "total_amount": "1"},
            ]
        }
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/fast/v1/candlesticks/BTC_EUR").respond_with_handler(candles_handler)
    rest = make_source(httpserver)
    backfills: list[datetime] = []
    now = datetime(2024, 5, 8, 12, 2, 30, tzinfo=UTC)

    def backfill(database: Database, feed: Feed) -> None:
        backfills.append(now)
        instrument = database.run(lambda s: s.get(Instrument, btc.id))
        assert instrument is not None
        collect_incremental(database, instrument, rest, "1m", initial_history=timedelta(minutes=2), now=now)

    service = StreamingService(
        sqlite_database,
        [_feed(httpserver, ws, btc)],
        backfill=backfill,
        flush_seconds=0.1,
        silence_seconds=30,
        max_backoff_seconds=0.2,
    )
    service.start()
    try:
        _until(lambda: ws.subscribed("CANDLESTICKS"))
        ws.send(candlestick("2024-05-08T12:00:59.999000Z", "60000", "60030", "59990", "60020"))  # forming
        _until(lambda: _candles(sqlite_database) == [(datetime(2024, 5, 8, 12, 0, tzinfo=UTC), 60020.0)])
        connects = ws.connects
        dropped["yes"] = True
        ws.drop()
        _until(lambda: ws.connects > connects and ws.subscribed("CANDLESTICKS"), within=15)
        _until(lambda: len(backfills) >= 2, within=15)
        time.sleep(0.3)
        ws.send(candlestick("2024-05-08T12:02:59.999000Z", "60010", "60020", "60000", "60005"))  # the next, forming
        _until(lambda: len(_candles(sqlite_database)) == 3)
        assert service.statuses()[0].reconnects >= 1
    finally:
        service.stop()
    stored = _candles(sqlite_database)
    assert [ts for ts, _ in stored] == [datetime(2024, 5, 8, 12, minute, tzinfo=UTC) for minute in (0, 1, 2)]
    assert stored[0][1] == 60040.0  # the completed 12:00 candle from REST replaced the forming one
    count = sqlite_database.run(lambda s: s.scalar(select(func.count()).select_from(Candle)))
    assert count == 3


def test_a_silent_feed_falls_back_to_rest_raises_one_alert_and_is_retried(
    sqlite_database: Database, btc: Instrument, httpserver: HTTPServer, ws: FakeOneTradingStream
) -> None:
    serve_markets(httpserver)
    httpserver.expect_request("/fast/v1/market-ticker/BTC_EUR").respond_with_json(
        {
            "instrument_code": "BTC_EUR",
            "time": "2024-07-10T06:27:34.951Z",
            "state": "ACTIVE",
            "last_price": "8143.91",
            "best_bid": "8143.71",
            "best_ask": "8156.9",
            "high": "8337.45",
            "low": "8110.0",
        }
    )
    rest = make_source(httpserver)

    def poll(database: Database, feed: Feed) -> None:
        instrument = database.run(lambda s: s.get(Instrument, btc.id))
        assert instrument is not None
        collect_quote(database, instrument, rest)

    service = StreamingService(
        sqlite_database,
        [_feed(httpserver, ws, btc)],
        rest_poll=poll,
        flush_seconds=0.1,
        silence_seconds=0.5,
        fallback_poll_seconds=0.2,
        max_backoff_seconds=0.3,
    )
    service.start()
    try:
        _until(lambda: ws.subscribed("MARKET_TICKER"))
        _until(lambda: service.statuses()[0].state is FeedState.POLLING, within=5)
        _until(lambda: _quotes(sqlite_database), within=5)  # the REST fallback delivered a quote
        time.sleep(1.5)  # still silent: retried, but no second alert
        assert ws.connects >= 2
    finally:
        service.stop()
    alerts = sqlite_database.run(lambda s: s.scalars(select(RiskAlert)).all())
    assert [alert.kind for alert in alerts] == [AlertKind.STALE_DATA]
    assert "falling back to REST polling" in alerts[0].message
    assert _quotes(sqlite_database)[0][1] == D("8143.91")


def test_the_sink_stores_a_quote_received_twice_once_and_a_reflush_stores_nothing(database: Database) -> None:
    with database.session() as session:
        instrument = Instrument(symbol="ETH/EUR", base="ETH", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add(instrument)
        session.flush()
        instrument_id = instrument.id
    sink = StreamSink()
    ts = datetime(2024, 5, 8, 12, 0, tzinfo=UTC)
    sink.add_quote("ccxt:onetrading", StreamQuote(instrument_id, ts, D("3000.5")))
    sink.add_quote("ccxt:onetrading", StreamQuote(instrument_id, ts, D("3000.5")))
    assert sink.flush(database)["quotes"] == 1
    sink.add_quote("ccxt:onetrading", StreamQuote(instrument_id, ts, D("3000.5")))  # after a restart: again
    sink.flush(database)
    assert database.run(lambda s: s.scalar(select(func.count()).select_from(Quote))) == 1
    with pytest.raises(ValueError, match="not a price"):
        sink.add_quote("ccxt:onetrading", StreamQuote(instrument_id, ts, D("-1")))


def test_the_demo_feed_streams_ticks_on_the_deterministic_walk(sqlite_database: Database, btc: Instrument) -> None:
    from core.market.demo_source import demo_price_at, demo_tick_price

    feed = DemoTickFeed([FeedInstrument(btc.id, "BTC/EUR")], tick_seconds=0.1)
    service = StreamingService(sqlite_database, [feed], flush_seconds=0.1)
    service.start()
    try:
        _until(lambda: len(_quotes(sqlite_database)) >= 3)
    finally:
        service.stop()
    for ts, last, _bid, _ask in _quotes(sqlite_database):
        assert float(last) == pytest.approx(demo_tick_price("BTC/EUR", ts), rel=1e-6)
    # On the walk: at a step's start the tick price is the walk's price; in between it lies between two steps.
    step_start = datetime(2026, 1, 5, 10, 20, tzinfo=UTC)
    assert demo_tick_price("BTC/EUR", step_start) == pytest.approx(demo_price_at("BTC/EUR", step_start))
    middle = demo_tick_price("BTC/EUR", step_start + timedelta(minutes=5))
    after = demo_price_at("BTC/EUR", step_start + timedelta(minutes=10))
    low, high = sorted((demo_price_at("BTC/EUR", step_start), after))
    assert low <= middle <= high


def test_stopping_the_service_raises_no_alert_and_does_not_fall_back_to_rest(
    sqlite_database: Database, btc: Instrument
) -> None:
    """Seen at Ctrl-C of ``konsens up``: the watchdog's last look saw the stopped demo feed as an outage."""
    polls: list[str] = []
    alerts: list[str] = []
    feed = DemoTickFeed([FeedInstrument(btc.id, "BTC/EUR")], tick_seconds=0.05)
    service = StreamingService(
        sqlite_database,
        [feed],
        rest_poll=lambda database, polled: polls.append(polled.name),
        alert=lambda database, status, message: alerts.append(message),
        flush_seconds=0.05,
    )
    service.start()
    try:
        _until(lambda: service.statuses()[0].state is FeedState.STREAMING)
    finally:
        service.stop()
    assert alerts == [] and polls == []
    assert service.statuses()[0].state is FeedState.STREAMING
    assert _quotes(sqlite_database)  # the last ticks were flushed


def test_feed_overview_shows_saved_states_and_marks_them_stale_when_the_worker_stopped_reporting(
    sqlite_database: Database,
) -> None:
    from core.market.streaming import FEEDS_SETTING_KEY, feed_overview
    from core.system.settings_store import set_setting

    reported = datetime(2024, 5, 8, 12, 0, tzinfo=UTC)
    value = {
        "updated_at": reported.isoformat(),
        "feeds": {
            "demo:stream": {
                "source": "demo",
                "symbols": ["BTC/EUR"],
                "state": "streaming",
                "lag_seconds": 0.4,
                "messages": 10,
                "garbage": 0,
                "reconnects": 0,
                "last_error": None,
            },
        },
    }
    sqlite_database.run(lambda s: set_setting(s, FEEDS_SETTING_KEY, value))
    fresh = sqlite_database.run(lambda s: feed_overview(s, now=reported + timedelta(seconds=5)))
    assert [(row.name, row.state, row.lag_seconds) for row in fresh] == [("demo:stream", "streaming", 0.4)]
    late = sqlite_database.run(lambda s: feed_overview(s, now=reported + timedelta(minutes=10)))
    assert late[0].state == "stale" and late[0].lag_seconds == pytest.approx(600.4)
