"""Fixtures of the news tests: instruments to tag, a tagger, raw items."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.db.engine import Database
from core.market.models import AssetClass, Instrument
from core.news.models import NewsKind
from core.news.sources.base import FetchContext, InstrumentQuery, RawNewsItem
from core.news.tagging import Tagger, build_taggable

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def instruments(database: Database) -> dict[str, int]:
    """BTC/EUR, ETH/EUR, SOL/EUR and AAPL in the test database; return their ids by symbol."""
    specs = [
        ("BTC/EUR", "BTC", AssetClass.CRYPTO, "Bitcoin"),
        ("ETH/EUR", "ETH", AssetClass.CRYPTO, "Ethereum"),
        ("SOL/EUR", "SOL", AssetClass.CRYPTO, "Solana"),
        ("AAPL", "AAPL", AssetClass.STOCK, "Apple Inc."),
    ]
    with database.session() as session:
        rows = [
            Instrument(symbol=symbol, base=base, quote="EUR", asset_class=asset_class, name=name)
            for symbol, base, asset_class, name in specs
        ]
        session.add_all(rows)
        session.flush()
        return {row.symbol: row.id for row in rows}


def make_tagger(ids: dict[str, int], aliases: dict[str, list[str]] | None = None) -> Tagger:
    names = {"BTC/EUR": ("BTC", "Bitcoin"), "ETH/EUR": ("ETH", "Ethereum"), "SOL/EUR": ("SOL", "Solana"),
             "AAPL": ("AAPL", "Apple Inc.")}  # fmt: skip
    return Tagger(build_taggable([(ids[s], s, names[s][0], names[s][1]) for s in ids], aliases))


@pytest.fixture
def tagger_ids() -> dict[str, int]:
    return {"BTC/EUR": 1, "ETH/EUR": 2, "SOL/EUR": 3, "AAPL": 4}


def article(
    source: str, source_id: str, title: str, url: str, published: datetime | None = NOW, **extra: Any
) -> RawNewsItem:
    return RawNewsItem(
        source=source,
        source_id=source_id,
        kind=NewsKind.ARTICLE,
        title=title,
        summary=None,
        url=url,
        published_at=published,
        **extra,
    )


def post(source: str, source_id: str, title: str, url: str, published: datetime = NOW, **extra: Any) -> RawNewsItem:
    return RawNewsItem(
        source=source,
        source_id=source_id,
        kind=NewsKind.POST,
        title=title,
        summary=None,
        url=url,
        published_at=published,
        **extra,
    )


def fetch_context(**overrides: object) -> FetchContext:
    values: dict[str, object] = {
        "now": NOW,
        "since": NOW - timedelta(hours=48),
        "instruments": [
            InstrumentQuery("BTC/EUR", "BTC", ("Bitcoin",), ("Bitcoin", "CryptoCurrency"), True),
            InstrumentQuery("AAPL", "AAPL", ("Apple",), ("apple",), False),
        ],
    }
    values.update(overrides)
    return FetchContext(**values)  # type: ignore[arg-type]
