"""Processing of fetched items: validate, dedupe, tag, score, store, aggregate.

One call of :meth:`NewsProcessor.process` runs inside the caller's transaction:

1. data quality — items without text, URL or date, or dated in the future, are quarantined;
2. dedupe — by ``(source, source id)`` and by canonical URL, within the batch and against the
   database; articles also by near-duplicate headline (see :mod:`core.news.dedupe`) within a
   time window, so the same story from three outlets is stored once. Posts are not compared by
   title: two people writing the same words are two mentions;
3. tagging, sentiment and influence scoring;
4. bulk insert of items and instrument links (insert-or-ignore: a concurrent writer cannot make
   a row appear twice), then the hourly aggregates of the touched hours are recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, or_, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.news.aggregate import hour_floor, recompute_hourly
from core.news.dedupe import NearDuplicateIndex, canonical_url, clean_text, title_fingerprint, title_tokens
from core.news.influence import influence_for
from core.news.models import NewsItem, NewsItemInstrument, NewsKind
from core.news.quality import quality_problem, quarantine_items
from core.news.sentiment import SentimentScorer
from core.news.sources.base import RawNewsItem
from core.news.tagging import Tagger
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

LOOKUP_CHUNK = 500
INSERT_CHUNK = 2_000


@dataclass
class ProcessReport:
    """What one batch did."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    near_duplicates: int = 0
    quarantined: int = 0
    links: int = 0
    hours_updated: int = 0

    def as_dict(self) -> dict[str, int]:
        """Return the counts as a dict (for heartbeat info and logs)."""
        return asdict(self)


@dataclass(slots=True)
class _Prepared:
    item: RawNewsItem
    source: str
    source_id: str
    canonical_url: str
    title: str
    tokens: frozenset[str]


def _source_id(item: RawNewsItem, url: str) -> str:
    raw = (item.source_id or "").strip() or url
    if len(raw) <= 200:
        return raw
    return raw[:150] + ":" + hashlib.sha1(raw.encode()).hexdigest()


_PLAIN_VALUES = (int, str, float, type(None))


def _plain_rows(table: Table, rows: Sequence[dict[str, Any]]) -> bool:
    """True if every row has the same keys, all columns of ``table``, with int, str, float or None values."""
    keys = set(rows[0])
    if not keys or not keys <= {column.name for column in table.columns}:
        return False
    return all(row.keys() == keys and all(type(value) in _PLAIN_VALUES for value in row.values()) for row in rows)


def insert_ignore(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows``; rows that collide with any unique constraint are skipped.

    On SQLite, rows of plain values only (int, str, float, None: the instrument links) go through
    the driver's ``executemany`` on the session's connection, without SQLAlchemy's per-row work.
    """
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "sqlite" and rows and _plain_rows(table, rows):
        names = [column.name for column in table.columns if column.name in rows[0]]
        columns, marks = ", ".join(names), ", ".join("?" * len(names))
        sql = f"INSERT INTO {table.name} ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING"  # nosec B608: the table's own column names
        raw: Any = connection.connection.driver_connection
        raw.executemany(sql, [tuple(row[name] for name in names) for row in rows])
        return
    insert_fn = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}.get(dialect)
    if insert_fn is None:
        raise NotImplementedError(f"insert-or-ignore is not implemented for {dialect}")
    statement = insert_fn(table).on_conflict_do_nothing()  # type: ignore[attr-defined]
    for start in range(0, len(rows), INSERT_CHUNK):
        connection.execute(statement, list(rows[start : start + INSERT_CHUNK]))


# The columns ``NewsProcessor`` fills, in the order of the raw SQLite insert below.
_SQLITE_NEWS_COLUMNS = (
    "source",
    "source_id",
    "kind",
    "title",
    "summary",
    "url",
    "canonical_url",
    "title_fingerprint",
    "author",
    "publisher",
    "published_at",
    "collected_at",
    "sentiment",
    "influence",
    "metrics",
    "is_demo",
)
_SQLITE_ROWS_PER_STATEMENT = 1_000  # 16,000 parameters, under SQLite's limit of 32,766
_SQLITE_NEWS_HEAD = f"INSERT INTO news_items ({', '.join(_SQLITE_NEWS_COLUMNS)}) VALUES "  # nosec B608: constant column names
_SQLITE_NEWS_ROW = "(" + ", ".join("?" * len(_SQLITE_NEWS_COLUMNS)) + ")"
_SQLITE_NEWS_TAIL = " ON CONFLICT DO NOTHING RETURNING id, source, source_id"


def _sqlite_time(value: datetime) -> str:
    """A UTC timestamp as ``UTCDateTime`` stores it on SQLite (naive UTC text, ``SQLITE_DATETIME_FORMAT``).

    ``isoformat`` with microseconds is that format (4-digit year, 6-digit fraction), written in C.
    """
    if value.tzinfo is None:
        raise ValueError("naive datetime refused: every timestamp must be timezone-aware UTC")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _insert_news_items_sqlite(connection: Any, rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """``insert_news_items`` on SQLite through the driver: the values converted as the column types do.

    Multi-row ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` on the session's own connection (so in
    its transaction), without SQLAlchemy's per-parameter processing, which cost more than the rest
    of the insert. Enums as their values, timestamps as ``UTCDateTime`` text, ``metrics`` as
    ``json.dumps`` (``None`` as JSON ``null``, as the ``JSON`` type writes it), booleans as 0/1; the
    tests compare the stored rows with the Core insert's.
    """
    raw = connection.connection.driver_connection
    ids: dict[tuple[str, str], int] = {}
    dumps = json.dumps
    collected: dict[datetime, str] = {}  # one collection time per batch: converted once
    for start in range(0, len(rows), _SQLITE_ROWS_PER_STATEMENT):
        chunk = rows[start : start + _SQLITE_ROWS_PER_STATEMENT]
        values: list[Any] = []
        extend = values.extend
        for row in chunk:
            kind = row["kind"]
            collected_text = collected.get(row["collected_at"])
            if collected_text is None:
                collected_text = collected[row["collected_at"]] = _sqlite_time(row["collected_at"])
            extend(
                (
                    row["source"],
                    row["source_id"],
                    kind.value if isinstance(kind, NewsKind) else kind,
                    row["title"],
                    row["summary"],
                    row["url"],
                    row["canonical_url"],
                    row["title_fingerprint"],
                    row["author"],
                    row["publisher"],
                    _sqlite_time(row["published_at"]),
                    collected_text,
                    row["sentiment"],
                    row["influence"],
                    dumps(row["metrics"]),
                    1 if row["is_demo"] else 0,
                )
            )
        statement = _SQLITE_NEWS_HEAD + ", ".join([_SQLITE_NEWS_ROW] * len(chunk)) + _SQLITE_NEWS_TAIL
        for news_item_id, source, source_id in raw.execute(statement, values).fetchall():
            ids[(source, source_id)] = news_item_id
    return ids


def insert_news_items(session: Session, rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Insert news items (skipping any that collide with a unique key); return the new ids by (source, source id)."""
    connection = session.connection()
    if connection.dialect.name == "sqlite" and rows and set(rows[0]) == set(_SQLITE_NEWS_COLUMNS):
        return _insert_news_items_sqlite(connection, rows)
    insert_fn = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}.get(connection.dialect.name)
    if insert_fn is None:
        raise NotImplementedError(f"insert-or-ignore is not implemented for {connection.dialect.name}")
    table: Table = NewsItem.__table__  # type: ignore[assignment]
    statement = (
        insert_fn(table)
        .on_conflict_do_nothing()  # type: ignore[attr-defined]
        .returning(table.c.id, table.c.source, table.c.source_id)
    )
    ids: dict[tuple[str, str], int] = {}
    for start in range(0, len(rows), INSERT_CHUNK):
        for news_item_id, source, source_id in connection.execute(statement, list(rows[start : start + INSERT_CHUNK])):
            ids[(source, source_id)] = news_item_id
    return ids


class NewsProcessor:
    """Turn raw items into stored, tagged and scored news (see the module docstring)."""

    def __init__(
        self,
        tagger: Tagger,
        scorer: SentimentScorer | None = None,
        *,
        near_duplicate_threshold: float = 0.8,
        near_duplicate_window: timedelta = timedelta(hours=48),
        future_tolerance: timedelta = timedelta(minutes=10),
        now: datetime | None = None,
    ):
        self.tagger = tagger
        self.scorer = scorer or SentimentScorer()
        self.near_duplicate_threshold = near_duplicate_threshold
        self.near_duplicate_window = near_duplicate_window
        self.future_tolerance = future_tolerance
        self.now = now
        self._index: NearDuplicateIndex | None = None
        self._indexed: set[str] = set()
        self._loaded_span: tuple[datetime, datetime] | None = None
        self._max_loaded_id = 0

    def process(self, session: Session, items: Sequence[RawNewsItem]) -> ProcessReport:
        """Process and store ``items`` in the caller's transaction; return the counts."""
        now = self.now or utc_now()
        report = ProcessReport(received=len(items))
        refused: list[tuple[RawNewsItem, str]] = []
        prepared: list[_Prepared] = []
        seen_keys: set[tuple[str, str]] = set()
        seen_urls: set[str] = set()
        for item in items:
            title = clean_text(item.title)
            problem = quality_problem(item, now, self.future_tolerance, cleaned_title=title)
            if problem is not None:
                refused.append((item, problem))
                continue
            url = canonical_url(item.url or "")
            source_id = _source_id(item, url)
            source = item.source[:60]
            key = (source, source_id)
            if key in seen_keys or url in seen_urls:
                report.duplicates += 1
                continue
            seen_keys.add(key)
            seen_urls.add(url)
            prepared.append(_Prepared(item, source, source_id, url, title, title_tokens(title)))
        report.quarantined = quarantine_items(session, refused)

        existing_keys, existing_urls = self._existing(session, prepared)
        fresh = [
            entry
            for entry in prepared
            if (entry.source, entry.source_id) not in existing_keys and entry.canonical_url not in existing_urls
        ]
        report.duplicates += len(prepared) - len(fresh)

        index = self._near_duplicate_index(session, fresh)
        rows: list[dict[str, Any]] = []
        tags: dict[tuple[str, str], list[tuple[int, str]]] = {}
        for entry in fresh:
            item = entry.item
            published_at = item.published_at
            assert published_at is not None  # checked by quality_problem
            if item.kind is NewsKind.ARTICLE:
                if index.find(entry.tokens, published_at) is not None:
                    report.near_duplicates += 1
                    continue
                index.add(entry.tokens, published_at, entry.canonical_url)
                self._indexed.add(entry.canonical_url)
            title = entry.title
            summary = clean_text(item.summary) or None
            matches = self.tagger.tag(f"{title}\n{summary}" if summary else title, item.hint_symbols)
            source = entry.source
            rows.append(
                {
                    "source": source,
                    "source_id": entry.source_id,
                    "kind": item.kind,
                    "title": title,
                    "summary": summary,
                    "url": item.url.strip() if item.url else entry.canonical_url,
                    "canonical_url": entry.canonical_url,
                    "title_fingerprint": title_fingerprint(entry.tokens),
                    "author": (item.author or None) and item.author[:200],
                    "publisher": (item.publisher or None) and item.publisher[:200],
                    "published_at": published_at,
                    "collected_at": now,
                    "sentiment": self.scorer.score_item(title, summary, cleaned=True),
                    "influence": influence_for(item.platform, item.metrics, item.publisher),
                    "metrics": item.metrics,
                    "is_demo": item.is_demo,
                }
            )
            if matches:
                tags[(source, entry.source_id)] = [(match.instrument_id, match.matched) for match in matches]
        if not rows:
            return report
        ids = insert_news_items(session, rows)
        report.stored = len(ids)
        if ids:
            self._max_loaded_id = max(self._max_loaded_id, *ids.values())
        stored_at = {(row["source"], row["source_id"]): row["published_at"] for row in rows}
        links: list[dict[str, Any]] = []
        touched: set[tuple[int, datetime]] = set()
        for key, item_tags in tags.items():
            news_item_id = ids.get(key)
            if news_item_id is None:
                continue
            hour = hour_floor(stored_at[key])
            for instrument_id, matched in item_tags:
                links.append({"news_item_id": news_item_id, "instrument_id": instrument_id, "matched": matched})
                touched.add((instrument_id, hour))
        insert_ignore(session, NewsItemInstrument.__table__, links)  # type: ignore[arg-type]
        report.links = len(links)
        report.hours_updated = recompute_hourly(session, touched)
        return report

    def _existing(self, session: Session, prepared: Sequence[_Prepared]) -> tuple[set[tuple[str, str]], set[str]]:
        by_source: dict[str, set[str]] = {}
        for entry in prepared:
            by_source.setdefault(entry.source, set()).add(entry.source_id)
        urls = list({entry.canonical_url for entry in prepared})
        existing_keys: set[tuple[str, str]] = set()
        existing_urls: set[str] = set()
        for source, source_ids in by_source.items():
            ordered = sorted(source_ids)
            for start in range(0, len(ordered), LOOKUP_CHUNK):
                existing_keys.update(
                    (source, source_id)
                    for source_id in session.scalars(
                        select(NewsItem.source_id).where(
                            NewsItem.source == source, NewsItem.source_id.in_(ordered[start : start + LOOKUP_CHUNK])
                        )
                    )
                )
        for start in range(0, len(urls), LOOKUP_CHUNK):
            existing_urls.update(
                session.scalars(
                    select(NewsItem.canonical_url).where(NewsItem.canonical_url.in_(urls[start : start + LOOKUP_CHUNK]))
                )
            )
        return existing_keys, existing_urls

    def _near_duplicate_index(self, session: Session, fresh: Sequence[_Prepared]) -> NearDuplicateIndex:
        """Return the processor's headline index, topped up with stored articles near this batch in time.

        The index lives as long as the processor, so a long run (a pass over many sources, the
        benchmark) reads each stored headline once: only the part of the batch's time window not
        read before, and rows newer than the newest id seen, are loaded.
        """
        articles = [entry for entry in fresh if entry.item.kind is NewsKind.ARTICLE]
        index = self._index
        if index is None:
            index = self._index = NearDuplicateIndex(self.near_duplicate_threshold, self.near_duplicate_window)
        if not articles:
            return index
        times = [entry.item.published_at for entry in articles if entry.item.published_at is not None]
        start = min(times) - self.near_duplicate_window
        end = max(times) + self.near_duplicate_window
        if self._loaded_span is None:
            condition: Any = true()
            self._loaded_span = (start, end)
        else:
            loaded_start, loaded_end = self._loaded_span
            condition = or_(
                NewsItem.published_at < loaded_start,
                NewsItem.published_at > loaded_end,
                NewsItem.id > self._max_loaded_id,
            )
            self._loaded_span = (min(start, loaded_start), max(end, loaded_end))
        stored = session.execute(
            select(NewsItem.id, NewsItem.title, NewsItem.published_at, NewsItem.canonical_url).where(
                NewsItem.kind == NewsKind.ARTICLE,
                NewsItem.published_at >= start,
                NewsItem.published_at <= end,
                condition,
            )
        ).all()
        loaded = [
            (title_tokens(title), published_at, url)
            for _, title, published_at, url in stored
            if url not in self._indexed
        ]
        index.observe([tokens for tokens, _, _ in loaded] + [entry.tokens for entry in articles])
        for tokens, published_at, url in loaded:
            index.add(tokens, published_at, url)
            self._indexed.add(url)
        if stored:
            self._max_loaded_id = max(self._max_loaded_id, max(row[0] for row in stored))
        return index
