"""``app.ui.cache.versioned``: one computation per data version, recomputed on new rows or after the TTL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.ui import cache
from core.db.engine import Database
from core.market.models import AssetClass, Instrument


@pytest.fixture(autouse=True)
def _empty_memo() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def _count(calls: list[str]) -> Callable[[Session, str], int]:
    def work(session: Session, symbol_prefix: str) -> int:
        calls.append(symbol_prefix)
        return int(session.scalar(select(func.count()).select_from(Instrument)) or 0)

    return work


def _add(database: Database, symbol: str) -> None:
    with database.session() as session:
        session.add(Instrument(symbol=symbol, base=symbol, quote="EUR", asset_class=AssetClass.CRYPTO))


def test_a_result_is_computed_once_per_data_version(configured_sqlite: Database) -> None:
    calls: list[str] = []
    work = _count(calls)
    assert cache.versioned("count", work, "A", tables=["instruments"]) == 0
    assert cache.versioned("count", work, "A", tables=["instruments"]) == 0
    assert calls == ["A"]
    assert cache.versioned("count", work, "B", tables=["instruments"]) == 0  # other arguments: computed apart
    assert calls == ["A", "B"]
    _add(configured_sqlite, "AAA")
    assert cache.versioned("count", work, "A", tables=["instruments"]) == 1  # a new row: recomputed
    assert calls == ["A", "B", "A"]


def test_an_entry_older_than_its_ttl_is_recomputed(configured_sqlite: Database) -> None:
    calls: list[str] = []
    work = _count(calls)
    cache.versioned("count", work, "A", tables=["instruments"], ttl_seconds=0.05)
    time.sleep(0.1)
    cache.versioned("count", work, "A", tables=["instruments"], ttl_seconds=0.05)
    assert calls == ["A", "A"]


def test_the_memo_keeps_at_most_max_entries(configured_sqlite: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "MAX_ENTRIES", 3)
    calls: list[str] = []
    work = _count(calls)
    for name in "ABCD":
        cache.versioned("count", work, name, tables=["instruments"])
    cache.versioned("count", work, "A", tables=["instruments"])  # "A" was the least recently used: gone
    assert calls == ["A", "B", "C", "D", "A"]
