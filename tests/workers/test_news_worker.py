from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

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
