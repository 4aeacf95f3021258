from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from werkzeug import Request, Response

from core.db.engine import Database
from core.market.models import AssetClass, Instrument
from core.news import source_statuses
from core.news.collector import NewsCollector
from core.news.config import save_feeds
from core.news.models import NewsItem, NewsItemInstrument, NewsSourceState, SentimentHourly, SourceHealth
from core.news.settings import NewsSettings
from core.system.models import QuarantinedRecord, WorkerHeartbeat
from workers.news import WORKER_NAME, build_worker

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
<item><title>Bitcoin rallies as ETF inflows surge</title><link>https://wire.example/btc?utm_source=rss</link>
<guid>w-1</guid><pubDate>Tue, 10 Mar 2026 10:00:00 +0000</pubDate></item>
<item><title>Apple shares slump after weak iPhone sales</title><link>https://wire.example/aapl</link>
<guid>w-2</guid><pubDate>Tue, 10 Mar 2026 11:00:00 +0000</pubDate></item>
<item><title>Undated story</title><link>https://wire.example/undated</link><guid>w-3</guid></item>
</channel></rss>"""


def settings() -> NewsSettings:
    return NewsSettings(
        http_attempts=1,
        http_backoff_seconds=0,
        http_timeout_seconds=3,
        rss_interval_seconds=900,
        rss_host_spacing_seconds=0,
    )


def prepare(database: Database, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/wire.xml").respond_with_data(
        FEED, content_type="application/rss+xml", headers={"ETag": '"abc"'}
    )
    httpserver.expect_request("/broken.xml").respond_with_data("boom", status=500)
    with database.session() as session:
        session.add_all(
            [
                Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO, name="Bitcoin"),
                Instrument(symbol="AAPL", base="AAPL", quote="EUR", asset_class=AssetClass.STOCK, name="Apple Inc."),
            ]
        )
        save_feeds(
            session,
            [
                {"name": "broken", "url": httpserver.url_for("/broken.xml"), "enabled": True},
                {"name": "wire", "url": httpserver.url_for("/wire.xml"), "enabled": True},
            ],
        )


def counts(database: Database) -> tuple[int, ...]:
    with database.session() as session:
        return tuple(
            int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (NewsItem, NewsItemInstrument, SentimentHourly, QuarantinedRecord)
        )


def test_pass_is_idempotent_and_a_failing_source_does_not_stop_the_others(
    database: Database, httpserver: HTTPServer
) -> None:
    prepare(database, httpserver)
    clock = [NOW]
    collector = NewsCollector(database, settings(), secret_store_factory=lambda: None, clock=lambda: clock[0])
    info = collector.run_pass()
    assert info["sources"]["rss:broken"]["status"] == "failing"
    assert info["sources"]["rss:wire"]["status"] == "ok"
    assert info["failing"] == ["rss:broken"]
    assert counts(database) == (2, 2, 2, 1)

    # Not due yet: nothing fetched.
    clock[0] = NOW + timedelta(seconds=30)
    assert collector.run_pass()["sources"]["rss:wire"]["status"] == "not_due"

    # Due again: the feed answers the same items; nothing is stored twice.
    clock[0] = NOW + timedelta(minutes=16)
    info = collector.run_pass()
    assert info["sources"]["rss:wire"]["stored"] == 0
    assert counts(database) == (2, 2, 2, 1)
    wire_requests = [request for request, _ in httpserver.log if request.path == "/wire.xml"]
    assert wire_requests[-1].headers["If-None-Match"] == '"abc"'

    with database.session() as session:
        statuses = {status.source: status for status in source_statuses(session)}
        assert statuses["rss:broken"].status is SourceHealth.FAILING
        assert statuses["rss:broken"].consecutive_failures == 2
        assert "HTTP 500" in (statuses["rss:broken"].last_error or "")
        assert statuses["rss:wire"].status is SourceHealth.OK and statuses["rss:wire"].items_stored_total == 2
        assert next(iter(statuses)) == "rss:broken"  # failing sources first
        links = dict(
            session.execute(
                select(NewsItem.source_id, Instrument.symbol)
                .join(NewsItemInstrument, NewsItemInstrument.news_item_id == NewsItem.id)
                .join(Instrument, Instrument.id == NewsItemInstrument.instrument_id)
            ).all()
        )
        assert links == {"w-1": "BTC/EUR", "w-2": "AAPL"}


def test_removed_feed_is_marked_disabled(database: Database, httpserver: HTTPServer) -> None:
    prepare(database, httpserver)
    collector = NewsCollector(database, settings(), secret_store_factory=lambda: None, clock=lambda: NOW)
    collector.run_pass()
    with database.session() as session:
        save_feeds(session, [{"name": "wire", "url": httpserver.url_for("/wire.xml")}])
    collector.run_pass()
    with database.session() as session:
        assert session.get(NewsSourceState, "rss:broken").status is SourceHealth.DISABLED  # type: ignore[union-attr]


def test_worker_once_writes_heartbeat_with_source_statuses(
    database: Database, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(database, httpserver)
    monkeypatch.setenv("KONSENS_NEWS_HTTP_ATTEMPTS", "1")
    monkeypatch.setenv("KONSENS_NEWS_RSS_HOST_SPACING_SECONDS", "0")
    loop = build_worker(database, interval_seconds=1)
    assert loop.name == WORKER_NAME == "news"
    assert loop.run(once=True) == 0
    with database.session() as session:
        heartbeat = session.get(WorkerHeartbeat, "news")
        assert heartbeat is not None and heartbeat.passes == 1
        assert heartbeat.info is not None and heartbeat.info["failing"] == ["rss:broken"]
        assert heartbeat.info["sources"]["rss:wire"]["status"] == "ok"


def test_failing_feed_backs_off_exponentially_is_retried_and_recovers(
    database: Database, httpserver: HTTPServer
) -> None:
    prepare(database, httpserver)
    failing = [True]

    def flaky(_request: Request) -> Response:
        if failing[0]:
            return Response("down", status=503)
        return Response(FEED, content_type="application/rss+xml")

    httpserver.expect_request("/flaky.xml").respond_with_handler(flaky)
    with database.session() as session:
        save_feeds(session, [{"name": "flaky", "url": httpserver.url_for("/flaky.xml"), "enabled": True}])
    clock = [NOW]
    collector = NewsCollector(
        database,
        NewsSettings(http_attempts=1, http_backoff_seconds=0, rss_host_spacing_seconds=0, rss_interval_seconds=900),
        secret_store_factory=lambda: None,
        clock=lambda: clock[0],
    )

    def state() -> NewsSourceState:
        with database.session() as session:
            row = session.get(NewsSourceState, "rss:flaky")
            assert row is not None
            session.expunge(row)
            return row

    waits = []
    for _ in range(9):
        assert collector.run_pass()["sources"]["rss:flaky"]["status"] == "failing"
        row = state()
        assert row.next_due_at is not None
        waits.append((row.next_due_at - clock[0]).total_seconds())
        clock[0] = row.next_due_at - timedelta(seconds=1)  # not due a second before its time
        assert collector.run_pass()["sources"]["rss:flaky"]["status"] == "not_due"
        clock[0] = row.next_due_at
    # 60 s doubled per failure in a row, capped at an hour (longer than the feed's 15 min interval).
    assert waits == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert state().consecutive_failures == 9

    # A collector made anew (a restarted worker) keeps the backoff: it lives in the state row.
    restarted = NewsCollector(
        database,
        NewsSettings(http_attempts=1, http_backoff_seconds=0, rss_host_spacing_seconds=0),
        secret_store_factory=lambda: None,
        clock=lambda: clock[0] - timedelta(seconds=1),
    )
    assert restarted.run_pass()["sources"]["rss:flaky"]["status"] == "not_due"

    failing[0] = False  # the feed is back: the next due pass fetches it and the source recovers
    info = collector.run_pass()
    assert info["sources"]["rss:flaky"]["status"] == "ok" and info["failing"] == []
    row = state()
    assert row.status is SourceHealth.OK and row.consecutive_failures == 0 and row.last_error is None
    assert row.next_due_at == clock[0] + timedelta(seconds=900)


def test_a_pass_with_nothing_due_builds_no_tagger_and_no_http_pool(
    database: Database, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    import core.news.collector as collector_module

    prepare(database, httpserver)
    clock = [NOW]
    collector = NewsCollector(database, settings(), secret_store_factory=lambda: None, clock=lambda: clock[0])
    collector.run_pass()  # both feeds fetched: wire ok, broken failing
    made = {"tagger": 0, "pool": 0}
    build_tagger, client_init = collector_module.build_tagger, httpx.Client.__init__

    def counting_tagger(*args: object, **kwargs: object) -> object:
        made["tagger"] += 1
        return build_tagger(*args, **kwargs)  # type: ignore[arg-type]

    def counting_client(self: httpx.Client, *args: object, **kwargs: object) -> None:
        made["pool"] += 1
        client_init(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(collector_module, "build_tagger", counting_tagger)
    monkeypatch.setattr(httpx.Client, "__init__", counting_client)
    clock[0] = NOW + timedelta(seconds=30)
    info = collector.run_pass()
    assert {name: outcome["status"] for name, outcome in info["sources"].items()} == {
        "rss:broken": "not_due",
        "rss:wire": "not_due",
    }
    assert made == {"tagger": 0, "pool": 0}
    clock[0] = NOW + timedelta(minutes=2)  # the failing feed is due again (after 60 s), the other is not
    info = collector.run_pass()
    assert info["sources"]["rss:broken"]["status"] == "failing"
    assert info["sources"]["rss:wire"]["status"] == "not_due"
    assert made == {"tagger": 1, "pool": 1}
