"""Benchmark: dedupe + tagging + scoring + storing (with hourly aggregates) of 50,000 news items.

    PYTHONPATH=$PWD python bench/news_processing.py [--items 50000] [--batch 5000] [--database-url URL]

Builds a realistic mix over two weeks for four instruments: ~38 % articles (headline words
drawn from a Zipf-distributed vocabulary, summaries with HTML and tracking links), 2 % copies
of a story by another outlet (near-duplicate headlines), 5 % items seen again, the rest Reddit
and X posts in crypto slang with metrics. It is processed in batches, as the worker does,
into a fresh migrated database (a temporary SQLite file by default).

Prints items per CPU second of this process (the target: ≥ 5,000 items/s of CPU; the wall-clock
rate is printed too, and drops on a busy machine), and a ratio against a baseline measured in the
same run on the same items: scoring each item's text with stock VADER alone (``vaderSentiment``'s
``SentimentIntensityAnalyzer``, no dedupe, tagging or storage), the least any sentiment pipeline
over these items does.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import load_line
from core.db.engine import Database
from core.db.migrate import upgrade_database
from core.market.models import AssetClass, Instrument
from core.news.collector import build_tagger
from core.news.config import load_news_config
from core.news.dedupe import clean_text
from core.news.models import NewsItem, NewsKind, SentimentHourly
from core.news.pipeline import NewsProcessor
from core.news.sources.base import RawNewsItem

TARGET_ITEMS_PER_SECOND = 5_000
NAMES = [("BTC/EUR", "BTC", "Bitcoin"), ("ETH/EUR", "ETH", "Ethereum"), ("SOL/EUR", "SOL", "Solana"),
         ("AAPL", "AAPL", "Apple Inc.")]  # fmt: skip
# Frequent headline words (with sentiment-bearing ones); the long tail is made of synthetic proper nouns.
COMMON_WORDS = [
    "market",
    "markets",
    "price",
    "prices",
    "traders",
    "investors",
    "analysts",
    "rally",
    "surge",
    "slump",
    "plunge",
    "gains",
    "losses",
    "record",
    "high",
    "low",
    "week",
    "weeks",
    "month",
    "year",
    "shares",
    "stock",
    "stocks",
    "fund",
    "funds",
    "etf",
    "inflows",
    "outflows",
    "regulators",
    "regulation",
    "sec",
    "fed",
    "rates",
    "inflation",
    "bank",
    "banks",
    "exchange",
    "exchanges",
    "crypto",
    "token",
    "tokens",
    "network",
    "upgrade",
    "launch",
    "deal",
    "deals",
    "report",
    "reports",
    "earnings",
    "revenue",
    "growth",
    "risk",
    "risks",
    "fears",
    "hopes",
    "demand",
    "supply",
    "miners",
    "mining",
    "whales",
    "buyers",
    "sellers",
    "volatility",
    "options",
    "futures",
    "bullish",
    "bearish",
    "crash",
    "boom",
    "strong",
    "weak",
    "rises",
    "falls",
    "jumps",
    "drops",
    "climbs",
    "slides",
    "soars",
    "tumbles",
    "steady",
    "outlook",
    "forecast",
    "warning",
    "lawsuit",
    "approval",
    "approved",
    "rejects",
    "delay",
    "delays",
    "ceo",
    "chief",
    "billion",
    "million",
    "percent",
    "support",
    "resistance",
    "breakout",
    "recovery",
    "selloff",
    "rebound",
    "momentum",
    "liquidations",
    "hack",
    "exploit",
    "scam",
    "fraud",
    "adoption",
    "partnership",
    "partners",
    "users",
    "wallet",
]
POSTS = [
    "HODL {c}, this dip is a gift",
    "{c} to the moon!",
    "got rekt on {c} again",
    "{n} looks bullish here",
    "too much FUD around {n}",
    "anyone buying {c}?",
    "{n} pump incoming?",
    "{c} rug pull vibes, careful",
    "bearish on {n} until it reclaims support",
    "accumulating {n} slowly",
]


def _vocabulary(rng: random.Random, size: int = 6_000) -> list[str]:
    consonants, vowels = "bcdfghklmnprstvz", "aeiou"
    tail = {
        "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(2, 4))).capitalize()
        for _ in range(size)
    }
    return COMMON_WORDS + sorted(tail)


def make_items(count: int, seed: int = 42) -> list[RawNewsItem]:
    """Return ``count`` raw items: headlines drawn from a Zipf-like vocabulary, posts from slang templates."""
    rng = random.Random(seed)
    vocabulary = _vocabulary(rng)
    weights = [1 / (rank + 1) ** 1.05 for rank in range(len(vocabulary))]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    items: list[RawNewsItem] = []
    articles: list[RawNewsItem] = []
    while len(items) < count:
        number = len(items)
        _symbol, ticker, name = rng.choice(NAMES)
        published = start + timedelta(seconds=rng.randrange(14 * 86_400))
        roll = rng.random()
        if number and roll < 0.05:
            items.append(items[rng.randrange(len(items))])  # the same item again (a later pass)
            continue
        if articles and roll < 0.07:
            original = rng.choice(articles)  # the story picked up by another outlet
            items.append(
                RawNewsItem(
                    source="newsapi",
                    source_id=f"copy-{number}",
                    kind=NewsKind.ARTICLE,
                    title=f"{original.title} - Other Outlet",
                    summary=original.summary,
                    url=f"https://other.example/{number}",
                    published_at=original.published_at,
                    publisher="Other Outlet",
                )
            )
            continue
        if roll < 0.45:
            words = rng.choices(vocabulary, weights=weights, k=rng.randint(6, 10))
            title = f"{name} {' '.join(words)}"
            source = rng.choice(["rss:coindesk", "rss:reuters", "newsapi", "alphavantage"])
            article = RawNewsItem(
                source=source,
                source_id=f"{source}-{number}",
                kind=NewsKind.ARTICLE,
                title=title,
                summary=f"<p>{title}. {' '.join(rng.choices(vocabulary, weights=weights, k=14))} ({ticker}).</p>",
                url=f"https://news.example/{number}?utm_source=rss",
                published_at=published,
                publisher=rng.choice(["Reuters", "CoinDesk", "Some Blog"]),
            )
            items.append(article)
            articles.append(article)
        else:
            platform = rng.choice(["reddit", "x"])
            text = rng.choice(POSTS).format(c=f"${ticker}", n=name) + " " + " ".join(rng.choices(vocabulary, k=3))
            metrics = (
                {"score": rng.randint(0, 5000), "comments": rng.randint(0, 500)}
                if platform == "reddit"
                else {
                    "followers": rng.randint(0, 200_000),
                    "likes": rng.randint(0, 900),
                    "retweets": rng.randint(0, 90),
                }
            )
            items.append(
                RawNewsItem(
                    source=platform,
                    source_id=f"{platform}-{number}",
                    kind=NewsKind.POST,
                    title=text,
                    summary=None,
                    url=f"https://{platform}.example/{number}",
                    published_at=published,
                    metrics=metrics,
                )
            )
    return items


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        database = Database(url)
        upgrade_database(database)
        with database.session() as session:
            for symbol, base, name in NAMES:
                asset_class = AssetClass.STOCK if symbol == "AAPL" else AssetClass.CRYPTO
                session.add(Instrument(symbol=symbol, base=base, quote="EUR", asset_class=asset_class, name=name))
        items = make_items(args.items)
        with database.session() as session:
            tagger = build_tagger(session, load_news_config(session))
        processor = NewsProcessor(tagger, now=datetime(2026, 2, 1, tzinfo=UTC))
        processor.scorer.score("warm up")
        started, cpu_started = time.perf_counter(), time.process_time()
        totals = {"stored": 0, "duplicates": 0, "near_duplicates": 0, "quarantined": 0, "links": 0}
        for start in range(0, len(items), args.batch):
            with database.session() as session:
                report = processor.process(session, items[start : start + args.batch])
            for key in totals:
                totals[key] += getattr(report, key)
        elapsed, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        with database.session() as session:
            stored = session.scalar(select(func.count()).select_from(NewsItem))
            hours = session.scalar(select(func.count()).select_from(SentimentHourly))
        database.dispose()
    baseline_wall, baseline_cpu = stock_vader_seconds(items)
    rate, cpu_rate = len(items) / elapsed, len(items) / cpu_seconds
    print(f"database: {database.kind}; {load_line()}")
    print(f"items: {len(items)}, batches of {args.batch}, elapsed: {elapsed:.2f} s (CPU {cpu_seconds:.2f} s)")
    print(
        f"stored {stored}, duplicates {totals['duplicates']}, near-duplicates {totals['near_duplicates']}, "
        f"links {totals['links']}, hourly aggregate rows {hours}"
    )
    print(
        f"throughput per CPU second: {cpu_rate:,.0f} items/s (target >= {TARGET_ITEMS_PER_SECOND:,}: "
        f"{'ok' if cpu_rate >= TARGET_ITEMS_PER_SECOND else 'MISSED'}); wall clock {rate:,.0f} items/s"
    )
    print(
        f"baseline, stock VADER scoring of the same items alone: CPU {baseline_cpu:.2f} s "
        f"({len(items) / baseline_cpu:,.0f} items/s, wall {baseline_wall:.2f} s); the whole pipeline takes "
        f"{cpu_seconds / baseline_cpu:.2f}x its CPU time"
    )
    return 0 if cpu_rate >= TARGET_ITEMS_PER_SECOND else 1


def stock_vader_seconds(items: list[RawNewsItem]) -> tuple[float, float]:
    """Wall and CPU seconds of scoring every item's cleaned title + summary with stock VADER."""
    analyzer = SentimentIntensityAnalyzer()
    texts = []
    for item in items:
        title, summary = clean_text(item.title), clean_text(item.summary)
        texts.append((f"{title}. {summary}" if summary else title)[:600])
    analyzer.polarity_scores("warm up")
    started, cpu_started = time.perf_counter(), time.process_time()
    for text in texts:
        analyzer.polarity_scores(text)
    return time.perf_counter() - started, time.process_time() - cpu_started


if __name__ == "__main__":
    raise SystemExit(main())
