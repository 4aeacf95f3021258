from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, func, select

from core.db.engine import Database
from core.db.migrate import upgrade_database
from core.news.models import NewsItem, NewsItemInstrument, NewsKind, SentimentHourly
from core.news.pipeline import NewsProcessor
from core.news.retention import apply_retention
from core.system.models import QuarantinedRecord
from tests.core.news.conftest import NOW, article, make_tagger, post


def processor(ids: dict[str, int]) -> NewsProcessor:
    return NewsProcessor(make_tagger(ids), now=NOW)


def count(database: Database, model: type) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_bad_items_are_quarantined_with_reasons_once(database: Database, instruments: dict[str, int]) -> None:
    items = [
        article("rss:a", "1", "", "https://a.example/1"),
        article("rss:a", "2", "Bitcoin news", ""),
        article("rss:a", "3", "Bitcoin news", "ftp://a.example/3"),
        article("rss:a", "4", "Bitcoin news", "https://a.example/4", published=None),
        article("rss:a", "5", "Bitcoin news", "https://a.example/5", published=NOW + timedelta(hours=1)),
    ]
    with database.session() as session:
        report = processor(instruments).process(session, items)
    assert report.quarantined == 5 and report.stored == 0
    with database.session() as session:
        reasons = dict(session.execute(select(QuarantinedRecord.record_key, QuarantinedRecord.reason)).all())
        assert {key: reason.split(":")[0].split(" '")[0] for key, reason in reasons.items()} == {
            "1": "no text",
            "2": "no URL",
            "3": "invalid URL",
            "4": "no publication date",
            "5": "dated in the future",
        }
        assert session.scalar(select(QuarantinedRecord.kind).limit(1)) == "news_item"
    with database.session() as session:
        assert processor(instruments).process(session, items).quarantined == 0
    assert count(database, QuarantinedRecord) == 5


def test_dedupe_by_source_id_url_and_near_duplicate_title(database: Database, instruments: dict[str, int]) -> None:
    items = [
        article(
            "rss:coindesk",
            "cd-1",
            "SEC approves spot Bitcoin ETF applications",
            "https://coindesk.com/a?utm_source=rss",
        ),
        article("rss:coindesk", "cd-1", "SEC approves spot Bitcoin ETF applications", "https://coindesk.com/a"),
        article("newsapi", "n-1", "Some other title entirely", "http://www.coindesk.com/a/"),
        article(
            "rss:reuters",
            "r-1",
            "BREAKING: SEC approves spot bitcoin ETF applications - Reuters",
            "https://reuters.com/b",
        ),
        article("rss:reuters", "r-2", "Apple unveils new chips", "https://reuters.com/c"),
        post("reddit", "p-1", "SEC approves spot Bitcoin ETF applications", "https://reddit.com/r/Bitcoin/1"),
    ]
    with database.session() as session:
        report = processor(instruments).process(session, items)
    assert (report.stored, report.duplicates, report.near_duplicates) == (3, 2, 1)
    with database.session() as session:
        stored = set(session.scalars(select(NewsItem.source_id)))
    assert stored == {"cd-1", "r-2", "p-1"}


def test_processing_is_idempotent_and_aggregates_are_exact(database: Database, instruments: dict[str, int]) -> None:
    hour = NOW.replace(minute=0) - timedelta(hours=2)
    items = [
        post(
            "reddit",
            "a",
            "Bitcoin bullish",
            "https://r.example/a",
            hour + timedelta(minutes=5),
            metrics={"score": 10_000, "comments": 2_000},
        ),
        post(
            "x",
            "b",
            "$BTC rekt",
            "https://x.example/b",
            hour + timedelta(minutes=50),
            metrics={"followers": 0, "likes": 0},
        ),
        post("x", "c", "$BTC and $ETH", "https://x.example/c", hour + timedelta(hours=1, minutes=1)),
    ]
    for _ in range(2):
        with database.session() as session:
            processor(instruments).process(session, items)
    assert count(database, NewsItem) == 3
    assert count(database, NewsItemInstrument) == 4
    btc = instruments["BTC/EUR"]
    with database.session() as session:
        rows = {
            row.hour: row
            for row in session.scalars(select(SentimentHourly).where(SentimentHourly.instrument_id == btc))
        }
        first = rows[hour]
    bullish, rekt = 0.5423, -0.6124
    assert first.mentions == 2
    assert first.mean_sentiment == pytest.approx(round((bullish + rekt) / 2, 4))
    # reddit influence 1.0, x influence 0.0 → weighted = the reddit post's sentiment
    assert first.weighted_sentiment == pytest.approx(bullish)
    assert rows[hour + timedelta(hours=1)].mentions == 1


def test_retention_deletes_old_posts_and_their_links_but_keeps_aggregates(
    database: Database, instruments: dict[str, int]
) -> None:
    old = NOW - timedelta(days=100)
    with database.session() as session:
        processor(instruments).process(
            session,
            [
                post("reddit", "old", "Bitcoin old post", "https://r.example/old", old),
                post("reddit", "new", "Bitcoin new post", "https://r.example/new", NOW - timedelta(days=1)),
                article("rss:a", "old-article", "Bitcoin old article", "https://a.example/old", old),
            ],
        )
    with database.session() as session:
        deleted = apply_retention(session, {"news_posts": 90, "news_articles": 365, "sentiment_hourly": None}, now=NOW)
    assert deleted == {"news_posts": 1, "news_articles": 0}
    with database.session() as session:
        assert set(session.scalars(select(NewsItem.source_id))) == {"new", "old-article"}
        assert session.scalar(select(func.count()).select_from(NewsItemInstrument)) == 2
        assert session.scalar(select(func.count()).select_from(SentimentHourly)) == 2  # old hour (2 items) and new hour


def test_the_raw_sqlite_insert_stores_exactly_what_the_core_insert_stores(tmp_path: Path) -> None:
    """``_insert_news_items_sqlite`` (the driver path) against SQLAlchemy's insert of the same rows."""
    from sqlalchemy import text as sql_text
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    from core.news.pipeline import _insert_news_items_sqlite

    now = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    rows: list[dict[str, Any]] = [
        {
            "source": "reddit",
            "source_id": f"r{number}",
            "kind": NewsKind.POST if number % 2 else NewsKind.ARTICLE,
            "title": f"Bitcoin ‘moon’ {number}",
            "summary": None if number % 3 else "<b>sum</b> ✓",
            "url": f"https://x/{number}",
            "canonical_url": f"https://x/{number}",
            "title_fingerprint": None if number % 4 else "ab" * 20,
            "author": None,
            "publisher": "Reuters" if number % 2 else None,
            "published_at": now.astimezone(timezone(timedelta(hours=2))) - timedelta(minutes=number),
            "collected_at": now,
            "sentiment": None if number == 3 else 0.1234 * number,
            "influence": 0.5,
            "metrics": None if number % 2 else {"score": number, "nested": {"ä": [1, 2.5]}},
            "is_demo": number == 5,
        }
        for number in range(7)
    ]
    stored = []
    for raw in (True, False):
        database = Database(f"sqlite:///{tmp_path / f'{raw}.db'}")
        upgrade_database(database)
        with database.session() as session:
            if raw:
                ids = _insert_news_items_sqlite(session.connection(), rows + rows[:2])  # repeats are skipped
            else:
                table: Table = NewsItem.__table__  # type: ignore[assignment]
                statement = sqlite_dialect.insert(table).on_conflict_do_nothing()
                session.execute(statement.returning(table.c.id), rows)
                ids = {(row["source"], row["source_id"]): number + 1 for number, row in enumerate(rows)}
            assert ids == {(row["source"], row["source_id"]): number + 1 for number, row in enumerate(rows)}
            stored.append(session.execute(sql_text("SELECT * FROM news_items ORDER BY id")).all())
        database.dispose()
    assert stored[0] == stored[1]
    assert len(stored[0]) == len(rows)
