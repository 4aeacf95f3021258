"""Read models of the AI consensus for the page and the CLI (no Streamlit here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.ai.config import load_ai_config
from core.ai.consensus import TrackStats, reliability
from core.ai.context import preferred_timeframe
from core.ai.costs import cost_by_analyst_per_day
from core.ai.models import AnalysisRequest, AnalystOpinion, AnalystTrackRecord, ConsensusOrigin, ConsensusRecord
from core.market.models import Instrument
from core.market.query import load_candles
from core.timeutil import utc_now


@dataclass(frozen=True)
class OpinionView:
    analyst: str
    provider: str
    model: str
    ok: bool
    signal: str | None
    confidence: float | None
    horizon_hours: int | None
    rationale: str | None
    error: str | None
    latency_ms: float | None
    cached: bool
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    dissent: bool
    id: int = 0
    cost_eur: Decimal | None = None
    claims_checked: int = 0
    claims_false: int = 0
    claims: list[dict[str, Any]] | None = None
    model_version: str | None = None
    weight: float | None = None
    discounted_reason: str | None = None


@dataclass(frozen=True)
class ConsensusView:
    id: int
    symbol: str
    decided_at: datetime
    as_of: datetime
    decision: str
    leaning: str
    score: float
    agreement: float
    flagged: bool
    flag_reason: str | None
    dissenters: list[str]
    failures: dict[str, str]
    weights: dict[str, float]
    price: float | None
    is_demo: bool
    opinions: list[OpinionView]
    cost_eur: Decimal = Decimal(0)


def latest_consensus_id(session: Session, instrument_id: int) -> int | None:
    """Return the id of the newest live consensus of an instrument (a cheap read for a page polling it)."""
    return session.scalar(
        select(ConsensusRecord.id)
        .where(ConsensusRecord.instrument_id == instrument_id, ConsensusRecord.origin == ConsensusOrigin.LIVE)
        .order_by(ConsensusRecord.decided_at.desc(), ConsensusRecord.id.desc())
        .limit(1)
    )


def latest_consensus(session: Session, instrument_id: int) -> ConsensusView | None:
    """Return the newest consensus of an instrument with its opinions, or None."""
    record = session.scalar(
        select(ConsensusRecord)
        .where(ConsensusRecord.instrument_id == instrument_id, ConsensusRecord.origin == ConsensusOrigin.LIVE)
        .order_by(ConsensusRecord.decided_at.desc(), ConsensusRecord.id.desc())
        .limit(1)
    )
    return None if record is None else consensus_view(session, record)


def consensus_view(session: Session, record: ConsensusRecord) -> ConsensusView:
    """Return a consensus row with its opinions as a view."""
    instrument = session.get(Instrument, record.instrument_id)
    opinion_rows = list(
        session.scalars(
            select(AnalystOpinion).where(AnalystOpinion.consensus_id == record.id).order_by(AnalystOpinion.id)
        )
    )
    dissenters = set(record.dissenters or [])
    return ConsensusView(
        id=record.id,
        symbol=instrument.symbol if instrument else str(record.instrument_id),
        decided_at=record.decided_at,
        as_of=record.as_of,
        decision=record.decision.value,
        leaning=record.leaning.value,
        score=record.score,
        agreement=record.agreement,
        flagged=record.flagged,
        flag_reason=record.flag_reason,
        dissenters=sorted(dissenters),
        failures=dict(record.failures or {}),
        weights=dict(record.weights or {}),
        price=float(record.price) if record.price is not None else None,
        is_demo=record.is_demo,
        opinions=[
            OpinionView(
                analyst=row.analyst,
                provider=row.provider,
                model=row.model,
                ok=row.ok,
                signal=row.signal.value if row.signal else None,
                confidence=row.confidence,
                horizon_hours=row.horizon_hours,
                rationale=row.rationale,
                error=row.error,
                latency_ms=row.latency_ms,
                cached=row.cached,
                prompt_tokens=row.prompt_tokens,
                completion_tokens=row.completion_tokens,
                cost_usd=float(row.cost_usd) if row.cost_usd is not None else None,
                dissent=row.analyst in dissenters,
                id=row.id,
                cost_eur=row.cost_eur,
                claims_checked=row.claims_checked,
                claims_false=row.claims_false,
                claims=row.claims,
                model_version=row.model_version,
                weight=(record.weights or {}).get(row.analyst),
                discounted_reason=(record.discounted or {}).get(row.analyst),
            )
            for row in opinion_rows
        ],
        cost_eur=sum((row.cost_eur or Decimal(0) for row in opinion_rows), Decimal(0)),
    )


def consensus_history(session: Session, instrument_id: int, *, days: int = 90) -> pd.DataFrame:
    """Return the decisions of the last ``days`` days: decided_at, decision, score, agreement, flagged, price."""
    since = utc_now() - timedelta(days=days)
    rows = session.execute(
        select(
            ConsensusRecord.decided_at,
            ConsensusRecord.decision,
            ConsensusRecord.score,
            ConsensusRecord.agreement,
            ConsensusRecord.flagged,
            ConsensusRecord.price,
        )
        .where(
            ConsensusRecord.instrument_id == instrument_id,
            ConsensusRecord.decided_at >= since,
            ConsensusRecord.origin == ConsensusOrigin.LIVE,
        )
        .order_by(ConsensusRecord.decided_at)
    ).all()
    frame = pd.DataFrame(
        [
            {
                "decided_at": decided_at,
                "decision": decision.value,
                "score": score,
                "agreement": agreement,
                "flagged": flagged,
                "price": float(price) if price is not None else None,
            }
            for decided_at, decision, score, agreement, flagged, price in rows
        ],
        columns=["decided_at", "decision", "score", "agreement", "flagged", "price"],
    )
    if not frame.empty:
        frame["decided_at"] = pd.to_datetime(frame["decided_at"], utc=True)
    return frame


def price_history(session: Session, instrument_id: int, *, days: int = 90) -> pd.DataFrame:
    """Return hourly (or the best available) closes of the last ``days`` days for the chart."""
    timeframe = preferred_timeframe(session, instrument_id)
    if timeframe is None:
        return pd.DataFrame(columns=["close"])
    return load_candles(session, instrument_id, timeframe, start=utc_now() - timedelta(days=days))[["close"]]


@dataclass(frozen=True)
class LeaderboardRow:
    analyst: str
    scored: int
    hit_rate: float | None
    brier: float | None
    reliability: float
    weight: float
    mean_return_when_followed: float | None
    calibration: list[dict[str, Any]]
    hallucination_rate: float | None = None
    opinions_checked: int = 0
    cost_today_eur: Decimal = Decimal(0)
    cost_per_day_eur: Decimal = Decimal(0)  # mean over the last 30 days


def leaderboard(session: Session) -> list[LeaderboardRow]:
    """Return every analyst's track record and its current weight, best hit rate first."""
    config = load_ai_config(session)
    now = utc_now()
    per_day = cost_by_analyst_per_day(session, days=30, now=now)
    today = cost_by_analyst_per_day(session, days=1, now=now)
    rows = []
    for record in session.scalars(select(AnalystTrackRecord)):
        stats = TrackStats(scored=record.scored, hits=record.hits, hallucination_rate=record.hallucination_rate or 0.0)
        multiplier = reliability(stats, config.parameters)
        rows.append(
            LeaderboardRow(
                analyst=record.analyst,
                scored=record.scored,
                hit_rate=record.hit_rate,
                brier=record.brier,
                reliability=multiplier,
                weight=multiplier * config.parameters.weight_of(record.analyst),
                mean_return_when_followed=record.mean_return_when_followed,
                calibration=list(record.calibration or []),
                hallucination_rate=record.hallucination_rate,
                opinions_checked=record.opinions_checked,
                cost_today_eur=today.get(record.analyst, Decimal(0)),
                cost_per_day_eur=per_day.get(record.analyst, Decimal(0)),
            )
        )
    return sorted(rows, key=lambda row: (-(row.hit_rate or 0.0), row.analyst))


@dataclass(frozen=True)
class RequestView:
    id: int
    status: str
    progress: str | None
    error: str | None
    requested_at: datetime
    finished_at: datetime | None
    consensus_id: int | None


def request_view(session: Session, request_id: int) -> RequestView | None:
    """Return the state of an "analyse now" request, or None."""
    row = session.get(AnalysisRequest, request_id)
    if row is None:
        return None
    return RequestView(
        id=row.id,
        status=row.status.value,
        progress=row.progress,
        error=row.error,
        requested_at=row.requested_at,
        finished_at=row.finished_at,
        consensus_id=row.consensus_id,
    )
