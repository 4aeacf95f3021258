"""Tables of the AI consensus: opinions, consensus results, analysis requests, analyst track records.

- ``ai_opinions``: one analyst's answer (or failure) for one context snapshot, with the prompt,
  the raw answer, the reasoning text, tokens, cost and latency; scored after its horizon.
- ``consensus_results``: the combined decision for one instrument at one time. The backtest
  replays it as a strategy ("follow the recorded AI consensus").
- ``analysis_requests``: intents written by the page ("analyse now"), claimed by the worker.
- ``analyst_track_records``: per analyst aggregate of scored opinions (feeds the weights).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, Money, Quantity, UTCDateTime
from core.timeutil import utc_now


def _enum_values(enum_cls: type[StrEnum]) -> list[str]:
    return [member.value for member in enum_cls]


class Signal(StrEnum):
    """What an analyst (or the consensus) says to do."""

    BUY = "buy"
    SELL = "sell"
    HOLD = "hold"

    @property
    def direction(self) -> int:
        """Return +1 for buy, -1 for sell, 0 for hold."""
        return {"buy": 1, "sell": -1, "hold": 0}[self.value]


class ConsensusOrigin(StrEnum):
    """How a consensus came about: decided at the time (live), or afterwards over history."""

    LIVE = "live"
    HISTORY = "history"  # an AI history run: point-in-time snapshots of the past, asked now


class HistoryRunStatus(StrEnum):
    """Life of an AI history run."""

    RUNNING = "running"
    DONE = "done"
    STOPPED = "stopped"  # a cost cap stopped it
    FAILED = "failed"


class RequestStatus(StrEnum):
    """Life of an "analyse now" request."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def _signal_column(nullable: bool = False) -> Any:
    return mapped_column(Enum(Signal, native_enum=False, length=8, values_callable=_enum_values), nullable=nullable)


class ConsensusRecord(Base):
    """One consensus decision for one instrument."""

    __tablename__ = "consensus_results"
    __table_args__ = (
        Index("ix_consensus_results_instrument_decided", "instrument_id", "decided_at"),
        Index("ix_consensus_results_origin", "origin"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime, doc="Time of the newest candle in the snapshot.")
    decision: Mapped[Signal] = _signal_column()
    leaning: Mapped[Signal] = _signal_column()
    score: Mapped[float] = mapped_column(Float, doc="Weighted direction in [-1, 1].")
    agreement: Mapped[float] = mapped_column(Float, doc="Weighted share of votes for the leaning, 0..1.")
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_reason: Mapped[str | None] = mapped_column(Text)
    context_hash: Mapped[str] = mapped_column(String(64), index=True)
    valid_opinions: Mapped[int] = mapped_column(Integer)
    failed_opinions: Mapped[int] = mapped_column(Integer)
    dissenters: Mapped[list[str]] = mapped_column(JSON, default=list)
    failures: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    weights: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    price: Mapped[Decimal | None] = mapped_column(Quantity, doc="Close of the newest candle in the snapshot.")
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, doc="The context snapshot every analyst saw (ContextSnapshot as JSON): the decision record."
    )
    discounted: Mapped[dict[str, str]] = mapped_column(
        JSON, default=dict, doc="Analysts whose valid opinion got weight 0, with the reason (false figures)."
    )
    origin: Mapped[ConsensusOrigin] = mapped_column(
        Enum(ConsensusOrigin, native_enum=False, length=12, values_callable=_enum_values),
        default=ConsensusOrigin.LIVE,
    )
    history_run_id: Mapped[int | None] = mapped_column(ForeignKey("ai_history_runs.id", ondelete="CASCADE"))


class AIHistoryRun(Base):
    """An AI history run: the analysts asked about point-in-time snapshots of past decision times."""

    __tablename__ = "ai_history_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    every_hours: Mapped[float] = mapped_column(Float)
    status: Mapped[HistoryRunStatus] = mapped_column(
        Enum(HistoryRunStatus, native_enum=False, length=12, values_callable=_enum_values),
        default=HistoryRunStatus.RUNNING,
    )
    analysts: Mapped[list[str]] = mapped_column(JSON, default=list)
    points_planned: Mapped[int] = mapped_column(Integer, default=0)
    points_done: Mapped[int] = mapped_column(Integer, default=0)
    estimated_calls: Mapped[int] = mapped_column(Integer, default=0)
    estimated_cost_eur: Mapped[Decimal | None] = mapped_column(Money)
    cost_cap_eur: Mapped[Decimal | None] = mapped_column(Money)
    cost_eur: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    stop_reason: Mapped[str | None] = mapped_column(Text)
    contamination: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, doc="Per LLM model: its training cutoff and how many decision times lie before it."
    )


class AnalystOpinion(Base):
    """One analyst's opinion (or failure) on one context snapshot."""

    __tablename__ = "ai_opinions"
    __table_args__ = (
        Index("ix_ai_opinions_cache", "analyst", "model", "context_hash"),
        Index("ix_ai_opinions_instrument_created", "instrument_id", "created_at"),
        Index("ix_ai_opinions_provider_created", "provider", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consensus_id: Mapped[int | None] = mapped_column(ForeignKey("consensus_results.id", ondelete="CASCADE"))
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"))
    analyst: Mapped[str] = mapped_column(String(80))
    provider: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(120))
    context_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime, doc="Time of the newest candle in the snapshot.")
    ok: Mapped[bool] = mapped_column(Boolean)
    signal: Mapped[Signal | None] = _signal_column(nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float)
    horizon_hours: Mapped[int | None] = mapped_column(Integer)
    rationale: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    prompt: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text, doc="The raw answer text as received.")
    reasoning: Mapped[str | None] = mapped_column(Text, doc="Reasoning text (DeepSeek-R1); stored, never sent back.")
    cached: Mapped[bool] = mapped_column(Boolean, default=False, doc="Answer reused from an earlier identical call.")
    attempts: Mapped[int] = mapped_column(Integer, default=0, doc="Provider calls made (counts against the budget).")
    latency_ms: Mapped[float | None] = mapped_column(Float)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[Decimal | None] = mapped_column(Money)
    price_at_opinion: Mapped[Decimal | None] = mapped_column(Quantity)
    scored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    realised_return: Mapped[float | None] = mapped_column(Float)
    hit: Mapped[bool | None] = mapped_column(Boolean)
    brier: Mapped[float | None] = mapped_column(Float)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    # The decision record (with the consensus row's snapshot): what was asked, how, and of which model.
    model_version: Mapped[str | None] = mapped_column(String(200), doc="Model and fingerprint the API returned.")
    request_params: Mapped[dict[str, Any] | None] = mapped_column(JSON, doc="Parameters sent with the call.")
    prompt_hash: Mapped[str | None] = mapped_column(String(64), doc="SHA-256 of the prompt text.")
    konsens_version: Mapped[str | None] = mapped_column(String(40))
    cost_eur: Mapped[Decimal | None] = mapped_column(Money)
    claims: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, doc="Figures the answer relies on, checked.")
    claims_checked: Mapped[int] = mapped_column(Integer, default=0)
    claims_false: Mapped[int] = mapped_column(Integer, default=0)
    contaminated: Mapped[bool] = mapped_column(
        Boolean, default=False, doc="Asked about a time before the model's training cutoff (history runs)."
    )
    replay_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("ai_opinions.id", ondelete="SET NULL"), doc="The opinion this one asked again (replay)."
    )


class AnalysisRequest(Base):
    """An "analyse now" intent: written by the page, claimed and carried out by the analyst worker."""

    __tablename__ = "analysis_requests"
    __table_args__ = (Index("ix_analysis_requests_status", "status", "requested_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    requested_by: Mapped[str | None] = mapped_column(String(60))
    status: Mapped[RequestStatus] = mapped_column(
        Enum(RequestStatus, native_enum=False, length=12, values_callable=_enum_values), default=RequestStatus.PENDING
    )
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    progress: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    consensus_id: Mapped[int | None] = mapped_column(ForeignKey("consensus_results.id", ondelete="SET NULL"))


class AnalystTrackRecord(Base):
    """Aggregate of one analyst's scored opinions: hit rate, Brier score, calibration."""

    __tablename__ = "analyst_track_records"

    analyst: Mapped[str] = mapped_column(String(80), primary_key=True)
    scored: Mapped[int] = mapped_column(Integer)
    hits: Mapped[int] = mapped_column(Integer)
    brier_sum: Mapped[float] = mapped_column(Float)
    mean_return_when_followed: Mapped[float | None] = mapped_column(Float)
    calibration: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    opinions_checked: Mapped[int] = mapped_column(Integer, default=0, doc="Valid opinions whose figures were checked.")
    opinions_with_false_claims: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def hallucination_rate(self) -> float | None:
        """Return the share of checked opinions that quoted a figure not in (or not matching) the snapshot."""
        return self.opinions_with_false_claims / self.opinions_checked if self.opinions_checked else None

    @property
    def hit_rate(self) -> float | None:
        """Return hits / scored, or None with nothing scored."""
        return self.hits / self.scored if self.scored else None

    @property
    def brier(self) -> float | None:
        """Return the mean Brier score, or None with nothing scored."""
        return self.brier_sum / self.scored if self.scored else None
