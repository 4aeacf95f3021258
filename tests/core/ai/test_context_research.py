"""The context snapshot carries patterns, fundamentals, macro values and events with their as-of times."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from core.ai.builtin import technical_votes
from core.ai.context import ContextSnapshot, build_snapshot
from core.db.engine import Database
from core.fundamentals.models import AssetFundamentals, FundamentalsSource
from core.macro.models import MacroObservation
from core.market.models import AssetClass, Instrument
from core.market.store import store_candles
from core.news.models import CalendarEvent, CalendarImportance
from tests.core.analysis.test_patterns import path_frame

START = datetime(2026, 1, 1, tzinfo=UTC)  # path_frame's first candle


def seed(session) -> int:
    instrument = Instrument(
        symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO, tracked=True, coingecko_id="bitcoin"
    )
    session.add(instrument)
    session.flush()
    frame = path_frame([(0, 100), (20, 120), (10, 110), (10, 120), (25, 100)]).reset_index(names="ts")
    store_candles(session, frame, instrument_id=instrument.id, source="demo", timeframe="1h")
    as_of = START + timedelta(hours=len(frame))
    session.add_all(
        [
            AssetFundamentals(
                instrument_id=instrument.id,
                source=FundamentalsSource.COINGECKO,
                provider_id="bitcoin",
                as_of=as_of - timedelta(hours=5),
                fetched_at=as_of - timedelta(hours=5),
                metrics={"market_cap": "395000000000", "market_cap_rank": 1},
            ),
            AssetFundamentals(
                instrument_id=instrument.id,
                source=FundamentalsSource.COINGECKO,
                provider_id="bitcoin",
                as_of=as_of + timedelta(hours=1),
                fetched_at=as_of + timedelta(hours=1),
                metrics={"market_cap": "999", "market_cap_rank": 2},
            ),
            MacroObservation(
                series_id="UNRATE",
                observation_date=date(2025, 11, 1),
                realtime_start=date(2025, 12, 5),
                value=Decimal("4.4"),
                published_at=datetime(2025, 12, 6, tzinfo=UTC),
                fetched_at=datetime(2025, 12, 6, tzinfo=UTC),
            ),
            MacroObservation(
                series_id="UNRATE",
                observation_date=date(2025, 12, 1),
                realtime_start=date(2026, 1, 9),
                value=Decimal("4.6"),
                published_at=as_of + timedelta(days=3),
                fetched_at=as_of + timedelta(days=3),
            ),
            CalendarEvent(
                source="fred",
                external_id="cpi",
                title="Consumer Price Index",
                country="US",
                importance=CalendarImportance.HIGH,
                event_time=as_of + timedelta(days=2),
            ),
            CalendarEvent(
                source="fred",
                external_id="past",
                title="Employment Situation",
                country="US",
                importance=CalendarImportance.HIGH,
                event_time=as_of - timedelta(days=1),
            ),
        ]
    )
    return instrument.id


def _snapshot(session: Session, instrument_id: int, until: datetime | None = None) -> ContextSnapshot:
    instrument = session.get(Instrument, instrument_id)
    assert instrument is not None
    return build_snapshot(session, instrument, until=until)


def test_snapshot_holds_patterns_fundamentals_macro_and_events_known_at_its_time(database: Database) -> None:
    instrument_id = database.run(seed)
    snapshot = database.run(lambda s: _snapshot(s, instrument_id))
    assert snapshot.as_of == START + timedelta(hours=66)
    tops = [item for item in snapshot.patterns if item.kind == "double_top"]
    assert len(tops) == 1 and tops[0].confirmed and tops[0].known_at <= snapshot.as_of
    assert tops[0].levels["neckline"] == 109.8
    assert snapshot.fundamentals is not None
    assert snapshot.fundamentals.metrics["market_cap"] == "395000000000"  # the later answer is not seen
    assert snapshot.fundamentals.as_of == snapshot.as_of - timedelta(hours=5)
    (unrate,) = snapshot.macro
    assert (unrate.series_id, unrate.value, unrate.change) == ("UNRATE", 4.4, None)  # December not yet published
    assert unrate.published_at <= snapshot.as_of
    assert [event.title for event in snapshot.upcoming_events] == ["Consumer Price Index"]
    payload = snapshot.prompt_payload()
    assert {"patterns", "fundamentals", "macro", "upcoming_events"} <= set(payload)
    assert any(vote.rule == "patterns" and vote.direction < 0 for vote in technical_votes(snapshot))


def test_snapshot_before_the_pattern_completed_does_not_contain_it(database: Database) -> None:
    instrument_id = database.run(seed)
    snapshot = database.run(lambda s: _snapshot(s, instrument_id, until=START + timedelta(hours=42)))
    assert not [item for item in snapshot.patterns if item.kind == "double_top"]  # second peak not yet a swing
    assert snapshot.fundamentals is None  # fetched only later
