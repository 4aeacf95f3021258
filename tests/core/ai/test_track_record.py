"""Scoring opinions after their horizon and the per-analyst track record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.ai.engine import load_track_stats
from core.ai.models import AnalystOpinion, AnalystTrackRecord, Signal
from core.ai.track_record import outcome_of, refresh_track_records, score_due_opinions, score_opinion, summarise
from core.db.engine import Database
from core.market.query import close_at
from tests.core.ai.conftest import seed_market

END = datetime(2025, 6, 1, tzinfo=UTC)


def test_outcome_and_score_of_one_opinion() -> None:
    assert outcome_of(0.02, 0.01) is Signal.BUY
    assert outcome_of(-0.02, 0.01) is Signal.SELL
    assert outcome_of(0.005, 0.01) is Signal.HOLD
    assert score_opinion(Signal.BUY, 0.8, 0.03, 0.01) == (True, pytest.approx(0.04))
    assert score_opinion(Signal.BUY, 0.8, -0.03, 0.01) == (False, pytest.approx(0.64))
    assert score_opinion(Signal.HOLD, 0.5, 0.004, 0.01) == (True, pytest.approx(0.25))
    assert score_opinion(Signal.SELL, 0.9, -0.011, 0.01) == (True, pytest.approx(0.01))


def test_summary_with_calibration_buckets() -> None:
    rows = [
        (Signal.BUY, 0.9, True, 0.01, 0.05),
        (Signal.BUY, 0.85, False, 0.7225, -0.02),
        (Signal.SELL, 0.3, True, 0.49, -0.03),
        (Signal.HOLD, 0.5, True, 0.25, 0.001),
    ]
    summary = summarise("a", rows)
    assert summary.scored == 4 and summary.hits == 3
    assert summary.hit_rate == 0.75
    assert summary.brier == pytest.approx((0.01 + 0.7225 + 0.49 + 0.25) / 4)
    assert summary.mean_return_when_followed == pytest.approx((0.05 - 0.02 + 0.03) / 3)
    buckets = {(bucket["low"], bucket["high"]): bucket for bucket in summary.calibration}
    assert buckets[(0.8, 1.0)] == {"low": 0.8, "high": 1.0, "count": 2, "mean_confidence": 0.875, "hit_rate": 0.5}
    assert buckets[(0.2, 0.4)]["count"] == 1 and buckets[(0.2, 0.4)]["hit_rate"] == 1.0
    assert buckets[(0.4, 0.6)]["count"] == 1
    assert buckets[(0.0, 0.2)] == {"low": 0.0, "high": 0.2, "count": 0, "mean_confidence": None, "hit_rate": None}


def _opinion(
    instrument_id: int,
    analyst: str,
    signal: Signal,
    confidence: float,
    as_of: datetime,
    price: Decimal,
    horizon: int = 24,
    cached: bool = False,
) -> AnalystOpinion:
    return AnalystOpinion(
        instrument_id=instrument_id,
        analyst=analyst,
        provider="builtin",
        model="m",
        context_hash="h" * 64,
        created_at=as_of,
        as_of=as_of,
        ok=True,
        signal=signal,
        confidence=confidence,
        horizon_hours=horizon,
        rationale="r",
        cached=cached,
        attempts=0,
        price_at_opinion=price,
    )


def test_due_opinions_are_scored_against_collected_prices(database: Database) -> None:
    with database.session() as session:
        instrument = seed_market(session, end=END)
        as_of = datetime(2025, 5, 25, 12, tzinfo=UTC)
        # price known at as_of = close of the candle that opened an hour earlier
        entry = close_at(session, instrument.id, as_of - timedelta(hours=1))
        exit_price = close_at(session, instrument.id, as_of + timedelta(hours=23))
        assert entry is not None and exit_price is not None
        realised = float(exit_price) / float(entry) - 1
        went = outcome_of(realised, 0.01)
        session.add_all([
            _opinion(instrument.id, "right", went, 0.8, as_of, entry),
            _opinion(instrument.id, "wrong", Signal.SELL if went is Signal.BUY else Signal.BUY, 0.6, as_of, entry),
            _opinion(instrument.id, "right", went, 0.8, as_of, entry, cached=True),
            _opinion(instrument.id, "late", went, 0.7, datetime(2025, 5, 31, 12, tzinfo=UTC), entry),  # not due
        ])  # fmt: skip
        session.flush()
        scored = score_due_opinions(session, hold_band=0.01, now=END)
        assert scored == 3
        assert score_due_opinions(session, hold_band=0.01, now=END) == 0  # idempotent
        rows = {(row.analyst, row.cached): row for row in session.scalars(select(AnalystOpinion))}
        right = rows[("right", False)]
        assert right.realised_return == pytest.approx(realised, abs=1e-8)
        assert right.hit is True and right.brier == pytest.approx(0.04)
        assert rows[("wrong", False)].hit is False and rows[("wrong", False)].brier == pytest.approx(0.36)
        assert rows[("late", False)].scored_at is None
        summaries = refresh_track_records(session, now=END)
        assert [(summary.analyst, summary.scored, summary.hits) for summary in summaries] == [
            ("right", 1, 1),  # the cached copy is not counted twice
            ("wrong", 1, 0),
        ]
        stored = session.get(AnalystTrackRecord, "right")
        assert stored is not None and stored.hit_rate == 1.0 and stored.brier == pytest.approx(0.04)
        assert {name: (stats.scored, stats.hits) for name, stats in load_track_stats(session).items()} == {
            "right": (1, 1),
            "wrong": (1, 0),
        }
        refresh_track_records(session, now=END)  # upsert: still one row per analyst
        assert len(list(session.scalars(select(AnalystTrackRecord)))) == 2


def test_opinions_are_not_scored_before_prices_are_collected(sqlite_database: Database) -> None:
    with sqlite_database.session() as session:
        instrument = seed_market(session, end=END)
        as_of = END - timedelta(hours=10)
        session.add(_opinion(instrument.id, "a", Signal.BUY, 0.6, as_of, Decimal("60000")))
        session.flush()
        # the horizon has passed on the clock, but the last collected candle is before it
        assert score_due_opinions(session, hold_band=0.01, now=END + timedelta(days=3)) == 0
