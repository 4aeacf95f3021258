"""The candle store on SQLite and PostgreSQL: bulk upsert, idempotency, last-candle update, quarantine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError, NotSupportedError

from core.db.engine import Database
from core.market import store
from core.market.models import Candle, Instrument, Quote
from core.market.query import load_candles
from core.market.sources.base import QuoteSnapshot
from core.market.store import StoreResult, store_candles, store_quote
from core.system.models import QuarantinedRecord
from tests.core.market.conftest import hourly_frame


def test_store_is_idempotent_and_updates_the_forming_candle(
    database: Database, make_instrument: Callable[..., int]
) -> None:
    instrument_id = make_instrument(database)
    frame = hourly_frame(500)
    with database.session() as session:
        first = store_candles(session, frame, instrument_id=instrument_id, source="demo", timeframe="1h")
    assert first == StoreResult(inserted=500)
    with database.session() as session:
        again = store_candles(session, frame, instrument_id=instrument_id, source="demo", timeframe="1h")
    assert again == StoreResult(unchanged=500)

    forming = frame.tail(1).copy()
    forming["close"] = forming["close"] + 0.5
    forming["high"] = forming["high"] + 0.5
    forming["volume"] = forming["volume"] * 2
    newer = hourly_frame(3, start=frame["ts"].iloc[-1].to_pydatetime() + timedelta(hours=1), price=300)
    with database.session() as session:
        result = store_candles(
            session, pd.concat([forming, newer]), instrument_id=instrument_id, source="demo", timeframe="1h"
        )
    assert result == StoreResult(inserted=3, updated=1)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Candle)) == 503
        last = session.get(Candle, (instrument_id, "demo", "1h", frame["ts"].iloc[-1].to_pydatetime()))
        assert last is not None
        assert last.close == Decimal(str(forming["close"].iloc[0]))
        assert last.volume == Decimal(str(forming["volume"].iloc[0]))
        loaded = load_candles(session, instrument_id, "1h")
    assert len(loaded) == 503
    assert loaded.index[0] == datetime(2024, 1, 1, tzinfo=UTC)
    assert loaded["open"].iloc[1] == pytest.approx(frame["open"].iloc[1])


def test_bad_rows_go_to_quarantine_once_and_the_rest_is_stored(
    database: Database, make_instrument: Callable[..., int]
) -> None:
    instrument_id = make_instrument(database)
    frame = hourly_frame(10)
    frame.loc[3, "high"] = frame.loc[3, "low"] - 1
    frame.loc[5, "close"] = float("nan")
    for _ in range(2):
        with database.session() as session:
            result = store_candles(
                session,
                frame,
                instrument_id=instrument_id,
                source="ccxt:onetrading",
                timeframe="1h",
                record_label="BTC/EUR",
            )
        assert result.quarantined == 2
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Candle)) == 8
        records = session.scalars(select(QuarantinedRecord).order_by(QuarantinedRecord.record_key)).all()
        assert [record.reason for record in records] == ["high below low", "missing or non-finite value"]
        assert records[0].record_key == "BTC/EUR|1h|2024-01-01T03:00:00+00:00"
        assert records[1].payload is not None
        assert records[1].payload["close"] == "nan"
        assert records[0].source == "ccxt:onetrading"


def test_quotes_are_stored_once(database: Database, make_instrument: Callable[..., int]) -> None:
    instrument_id = make_instrument(database)
    quote = QuoteSnapshot(ts=datetime(2024, 5, 1, 12, tzinfo=UTC), last=Decimal("61234.5"), bid=Decimal("61234"))
    with database.session() as session:
        assert store_quote(session, instrument_id=instrument_id, source="demo", quote=quote) is True
    with database.session() as session:
        assert store_quote(session, instrument_id=instrument_id, source="demo", quote=quote) is False
        stored = session.scalars(select(Quote)).all()
    assert len(stored) == 1
    assert stored[0].last == Decimal("61234.5")


def test_large_batches_insert_update_and_still_refuse_an_unknown_instrument(
    database: Database, make_instrument: Callable[..., int]
) -> None:
    instrument_id = make_instrument(database)
    frame = hourly_frame(12_000)
    with database.session() as session:
        assert store_candles(session, frame, instrument_id=instrument_id, source="bulk", timeframe="1h") == StoreResult(
            inserted=12_000
        )
    changed = frame.copy()
    changed.loc[11_999, "volume"] = 1.0
    extended = pd.concat([changed, hourly_frame(5, start=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=12_000))])
    with database.session() as session:
        result = store_candles(session, extended, instrument_id=instrument_id, source="bulk", timeframe="1h")
    assert result == StoreResult(inserted=5, updated=1, unchanged=11_999)
    with pytest.raises(Exception, match=r"(?i)instrument|foreign key"), database.session() as session:
        store_candles(session, frame, instrument_id=instrument_id + 999, source="bulk", timeframe="1h")
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Candle)) == 12_005


def test_the_instrument_reference_holds_for_every_way_of_writing_and_deleting(
    database: Database, make_instrument: Callable[..., int]
) -> None:
    """On PostgreSQL the reference is checked per statement by triggers; it must act like the foreign key."""
    kept, dropped = make_instrument(database, "BTC/EUR"), make_instrument(database, "ETH/EUR")
    for instrument_id in (kept, dropped):
        with database.session() as session:
            store_candles(session, hourly_frame(50), instrument_id=instrument_id, source="demo", timeframe="1h")
    orphan = Candle(
        instrument_id=dropped + 1000,
        source="demo",
        timeframe="1h",
        ts=datetime(2024, 1, 1, tzinfo=UTC),
        open=Decimal(1),
        high=Decimal(1),
        low=Decimal(1),
        close=Decimal(1),
        volume=Decimal(0),
    )
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"), database.session() as session:
        session.add(orphan)
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"), database.session() as session:
        session.execute(update(Candle).where(Candle.instrument_id == kept).values(instrument_id=dropped + 1000))
    with database.session() as session:
        session.execute(delete(Instrument).where(Instrument.id == dropped))
    with database.session() as session:
        counts = dict(session.execute(select(Candle.instrument_id, func.count()).group_by(Candle.instrument_id)).all())
    assert counts == {kept: 50}


@pytest.mark.postgres
def test_postgresql_refuses_to_orphan_candles_by_renumbering_or_truncating_instruments(
    postgres_database: Database, make_instrument: Callable[..., int]
) -> None:
    instrument_id = make_instrument(postgres_database)
    with postgres_database.session() as session:
        store_candles(session, hourly_frame(5), instrument_id=instrument_id, source="demo", timeframe="1h")
    with pytest.raises(IntegrityError, match=r"still referenced"), postgres_database.session() as session:
        session.execute(update(Instrument).where(Instrument.id == instrument_id).values(id=instrument_id + 7))
    with pytest.raises(NotSupportedError, match=r"cannot truncate"), postgres_database.session() as session:
        session.execute(text("TRUNCATE instruments CASCADE"))
    with postgres_database.session() as session:
        assert session.scalar(select(func.count()).select_from(Candle)) == 5


@pytest.mark.postgres
def test_a_batch_that_collides_with_a_concurrent_writer_falls_back_to_the_merge(
    postgres_database: Database, make_instrument: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The direct COPY fails on the primary key when another writer stored the range after our check."""
    instrument_id = make_instrument(postgres_database)
    frame = hourly_frame(100)
    with postgres_database.session() as session:
        store_candles(session, frame.head(60), instrument_id=instrument_id, source="demo", timeframe="1h")
    monkeypatch.setattr(store, "POSTGRES_ANY_IN_RANGE", "SELECT false")  # the check saw nothing yet
    changed = frame.copy()
    changed.loc[10, "close"] = changed.loc[10, "close"] + 0.5
    with postgres_database.session() as session:
        result = store_candles(session, changed, instrument_id=instrument_id, source="demo", timeframe="1h")
    assert result == StoreResult(inserted=40, updated=1, unchanged=59)
    with postgres_database.session() as session:
        assert session.scalar(select(func.count()).select_from(Candle)) == 100
        stored = session.get(Candle, (instrument_id, "demo", "1h", frame["ts"].iloc[10].to_pydatetime()))
        assert stored is not None
        assert stored.close == Decimal(str(changed.loc[10, "close"]))
