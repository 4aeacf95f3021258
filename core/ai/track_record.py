"""Score opinions after their horizon and keep each analyst's track record.

An opinion given when the last known price was ``p0`` (at ``as_of``) with horizon ``h`` is scored
once prices are collected up to ``as_of + h``: ``r = p1 / p0 - 1`` with ``p1`` the last close known
at ``as_of + h``. The market went *up* if ``r > band``, *down* if ``r < -band``, else *flat*
(``band`` = ``hold_band``). A buy is a hit when it went up, a sell when it went down, a hold when
it stayed flat. The Brier score is ``(confidence - hit)²`` (confidence read as the probability
that the call is right; 0 is perfect, 0.25 is a coin flip at 0.5).

Per analyst (cached re-uses of an answer are not counted twice): number scored, hits, mean Brier
score, calibration buckets (confidence range → mean confidence and hit rate), and the mean return
of following its buy/sell calls. These feed the consensus weights.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import pandas as pd
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from core.ai.models import AnalystOpinion, AnalystTrackRecord, ConsensusOrigin, ConsensusRecord, Signal
from core.db.upsert import bulk_upsert
from core.market.query import TIMEFRAME_SECONDS, load_candles
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

CALIBRATION_EDGES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
SCORING_BATCH = 5000


def outcome_of(realised_return: float, hold_band: float) -> Signal:
    """Return what the market did: buy (went up), sell (went down) or hold (stayed flat)."""
    if realised_return > hold_band:
        return Signal.BUY
    if realised_return < -hold_band:
        return Signal.SELL
    return Signal.HOLD


def score_opinion(signal: Signal, confidence: float, realised_return: float, hold_band: float) -> tuple[bool, float]:
    """Return (hit, Brier score) of one opinion given the realised return."""
    hit = outcome_of(realised_return, hold_band) is signal
    brier = (confidence - (1.0 if hit else 0.0)) ** 2
    return hit, brier


def close_series_by_close_time(frame: pd.DataFrame, timeframe: str) -> pd.Series:
    """Return closes indexed by the time they became known (candle open time + timeframe)."""
    closes = frame["close"].copy()
    closes.index = closes.index + pd.Timedelta(seconds=TIMEFRAME_SECONDS.get(timeframe, 3600))
    return closes


def price_known_at(closes: pd.Series, when: datetime) -> float | None:
    """Return the last close known at ``when`` from a close-time indexed series, or None."""
    if closes.empty or closes.index[0] > pd.Timestamp(when):
        return None
    value = closes.asof(pd.Timestamp(when))
    return None if pd.isna(value) else float(value)


def score_due_opinions(session: Session, *, hold_band: float, now: datetime | None = None) -> int:
    """Score every valid, unscored opinion whose horizon has passed and whose prices are collected.

    Return the number scored. Idempotent: scored opinions are skipped.
    """
    now = now or utc_now()
    candidates = list(
        session.scalars(
            select(AnalystOpinion)
            .where(
                AnalystOpinion.ok.is_(True),
                AnalystOpinion.scored_at.is_(None),
                AnalystOpinion.replay_of_id.is_(None),
                AnalystOpinion.as_of < now - timedelta(hours=1),
            )
            .order_by(AnalystOpinion.instrument_id, AnalystOpinion.as_of)
            .limit(SCORING_BATCH)
        )
    )
    by_instrument: dict[int, list[AnalystOpinion]] = defaultdict(list)
    for opinion in candidates:
        if opinion.as_of + timedelta(hours=opinion.horizon_hours or 24) <= now:
            by_instrument[opinion.instrument_id].append(opinion)
    scored = 0
    for instrument_id, opinions in by_instrument.items():
        earliest = min(opinion.as_of for opinion in opinions) - timedelta(days=2)
        frame = load_candles(session, instrument_id, "1h", start=earliest)
        timeframe = "1h"
        if frame.empty:
            frame = load_candles(session, instrument_id, "1d", start=earliest - timedelta(days=2))
            timeframe = "1d"
        if frame.empty:
            continue
        closes = close_series_by_close_time(frame, timeframe)
        last_known = closes.index[-1].to_pydatetime()
        for opinion in opinions:
            due = opinion.as_of + timedelta(hours=opinion.horizon_hours or 24)
            if due > last_known:
                continue  # prices not collected that far yet
            entry = (
                float(opinion.price_at_opinion) if opinion.price_at_opinion else price_known_at(closes, opinion.as_of)
            )
            exit_price = price_known_at(closes, due)
            if not entry or exit_price is None or opinion.signal is None or opinion.confidence is None:
                continue
            realised = exit_price / entry - 1.0
            hit, brier = score_opinion(opinion.signal, opinion.confidence, realised, hold_band)
            opinion.realised_return = round(realised, 8)
            opinion.hit = hit
            opinion.brier = round(brier, 8)
            opinion.scored_at = now
            scored += 1
    session.flush()
    if scored:
        logger.info("Scored %d opinions", scored)
    return scored


@dataclass(frozen=True)
class TrackRecordSummary:
    """One analyst's track record, as computed from its scored opinions."""

    analyst: str
    scored: int
    hits: int
    brier_sum: float
    mean_return_when_followed: float | None
    calibration: list[dict[str, Any]]

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.scored if self.scored else None

    @property
    def brier(self) -> float | None:
        return self.brier_sum / self.scored if self.scored else None


def summarise(analyst: str, scored_rows: Iterable[tuple[Signal, float, bool, float, float]]) -> TrackRecordSummary:
    """Summarise ``(signal, confidence, hit, brier, realised return)`` rows of one analyst."""
    rows = list(scored_rows)
    buckets: list[dict[str, Any]] = []
    for low, high in pairwise(CALIBRATION_EDGES):
        inside = [row for row in rows if low <= row[1] < high or (high == 1.0 and row[1] == 1.0)]
        buckets.append(
            {
                "low": low,
                "high": high,
                "count": len(inside),
                "mean_confidence": round(sum(row[1] for row in inside) / len(inside), 4) if inside else None,
                "hit_rate": round(sum(1 for row in inside if row[2]) / len(inside), 4) if inside else None,
            }
        )
    directional = [row[4] * row[0].direction for row in rows if row[0] is not Signal.HOLD]
    return TrackRecordSummary(
        analyst=analyst,
        scored=len(rows),
        hits=sum(1 for row in rows if row[2]),
        brier_sum=round(sum(row[3] for row in rows), 8),
        mean_return_when_followed=round(sum(directional) / len(directional), 8) if directional else None,
        calibration=buckets,
    )


# An opinion of a live decision: not a replay, and not part of an AI history run.
_LIVE_OPINION = and_(
    AnalystOpinion.replay_of_id.is_(None),
    or_(ConsensusRecord.origin.is_(None), ConsensusRecord.origin == ConsensusOrigin.LIVE),
)


def hallucination_counts(session: Session) -> dict[str, tuple[int, int]]:
    """Return per analyst (valid live opinions whose figures were checked, those with a false figure)."""
    rows = session.execute(
        select(AnalystOpinion.analyst, AnalystOpinion.claims_false)
        .outerjoin(ConsensusRecord, ConsensusRecord.id == AnalystOpinion.consensus_id)
        .where(
            AnalystOpinion.ok.is_(True),
            AnalystOpinion.cached.is_(False),
            AnalystOpinion.claims.is_not(None),
            _LIVE_OPINION,
        )
    )
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for analyst, claims_false in rows:
        counts[analyst][0] += 1
        counts[analyst][1] += 1 if (claims_false or 0) > 0 else 0
    return {analyst: (checked, false) for analyst, (checked, false) in counts.items()}


def refresh_track_records(session: Session, *, now: datetime | None = None) -> list[TrackRecordSummary]:
    """Recompute every analyst's track record from its scored live opinions and store it.

    Opinions of AI history runs and replays are left out: the track record is what the analyst
    achieved deciding at the time. The hallucination rate counts every valid live answer whose
    figures were checked, scored or not.
    """
    now = now or utc_now()
    rows = session.execute(
        select(
            AnalystOpinion.analyst,
            AnalystOpinion.signal,
            AnalystOpinion.confidence,
            AnalystOpinion.hit,
            AnalystOpinion.brier,
            AnalystOpinion.realised_return,
        )
        .outerjoin(ConsensusRecord, ConsensusRecord.id == AnalystOpinion.consensus_id)
        .where(AnalystOpinion.scored_at.is_not(None), AnalystOpinion.cached.is_(False), _LIVE_OPINION)
    )
    grouped: dict[str, list[tuple[Signal, float, bool, float, float]]] = defaultdict(list)
    for analyst, signal, confidence, hit, brier, realised in rows:
        if signal is None or confidence is None or brier is None or realised is None:
            continue
        grouped[analyst].append((signal, float(confidence), bool(hit), float(brier), float(realised)))
    checks = hallucination_counts(session)
    for analyst in checks:
        grouped.setdefault(analyst, [])
    summaries = [summarise(analyst, items) for analyst, items in sorted(grouped.items())]
    bulk_upsert(
        session,
        AnalystTrackRecord.__table__,  # type: ignore[arg-type]
        [
            {
                "analyst": summary.analyst,
                "scored": summary.scored,
                "hits": summary.hits,
                "brier_sum": summary.brier_sum,
                "mean_return_when_followed": summary.mean_return_when_followed,
                "calibration": summary.calibration,
                "updated_at": now,
                "opinions_checked": checks.get(summary.analyst, (0, 0))[0],
                "opinions_with_false_claims": checks.get(summary.analyst, (0, 0))[1],
            }
            for summary in summaries
        ],
        conflict_columns=["analyst"],
        update_columns=[
            "scored",
            "hits",
            "brier_sum",
            "mean_return_when_followed",
            "calibration",
            "updated_at",
            "opinions_checked",
            "opinions_with_false_claims",
        ],
    )
    return summaries
