"""Demo data of the AI consensus: a deterministic history of opinions, consensus results and scores.

For each demo instrument, one consensus a day over the last ``DEMO_DAYS`` days, computed from the
demo candles by the real code: the snapshot builder, the technical and sentiment analysts (the
sentiment analyst reads whatever demo news is seeded), and two clearly named demo analysts
(``demo-momentum``, ``demo-reversal``: simple rules standing in for LLMs, which need keys and a
network). Votes are combined with weights from the track record so far; opinions are then scored
against the demo prices and the track records refreshed. Every row is flagged ``is_demo``; a
re-seed deletes the demo rows and writes the same history again.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.ai.builtin import SentimentAnalyst, TechnicalAnalyst
from core.ai.config import AISettings, ConsensusParameters
from core.ai.consensus import TrackStats
from core.ai.context import (
    HISTORY_BARS,
    INDICATOR_SPECS,
    ContextSnapshot,
    NotEnoughData,
    recent_headlines,
    snapshot_from_frame,
)
from core.ai.engine import ConsensusEngine, store_run
from core.ai.models import AnalystOpinion, AnalystTrackRecord, ConsensusRecord, Signal
from core.ai.opinion import Analyst, AnalystResult, Opinion
from core.ai.track_record import (
    close_series_by_close_time,
    price_known_at,
    refresh_track_records,
    score_due_opinions,
    score_opinion,
)
from core.analysis.indicators import compute_indicators
from core.demo.state import DemoContext

logger = logging.getLogger(__name__)

ORDER = 50
DEMO_DAYS = 60
DECISION_HOUR_UTC = 8


class _DemoRuleAnalyst:
    """A demo stand-in for an LLM analyst: a plain rule over the snapshot, named as a demo."""

    provider = "demo"
    model = "demo-rules"

    def __init__(self, name: str, rule: str):
        self.name = name
        self.rule = rule

    def analyse(self, snapshot: ContextSnapshot) -> AnalystResult:
        """Return the rule's opinion."""
        started = time.perf_counter()
        signal, confidence, rationale = (
            self._momentum(snapshot) if self.rule == "momentum" else self._reversal(snapshot)
        )
        opinion = Opinion(signal=signal, confidence=round(confidence, 4), horizon_hours=24, rationale=rationale)
        return AnalystResult(
            self.name, self.provider, self.model, opinion=opinion, latency_ms=(time.perf_counter() - started) * 1000
        )

    @staticmethod
    def _momentum(snapshot: ContextSnapshot) -> tuple[Signal, float, str]:
        change = snapshot.change_7d or 0.0
        if change > 0.03:
            return Signal.BUY, min(0.9, 0.5 + abs(change) * 3), f"Demo analyst: 7-day change {change:+.1%}, riding it."
        if change < -0.03:
            return (
                Signal.SELL,
                min(0.9, 0.5 + abs(change) * 3),
                f"Demo analyst: 7-day change {change:+.1%}, avoiding it.",
            )
        return Signal.HOLD, 0.45, f"Demo analyst: 7-day change {change:+.1%} is no trend."

    @staticmethod
    def _reversal(snapshot: ContextSnapshot) -> tuple[Signal, float, str]:
        rsi = snapshot.indicators.get("rsi_14")
        if rsi is None:
            return Signal.HOLD, 0.3, "Demo analyst: no RSI yet."
        if rsi < 40:
            return Signal.BUY, min(0.85, 0.4 + (40 - rsi) / 25), f"Demo analyst: RSI {rsi:.0f}, expecting a bounce."
        if rsi > 60:
            return Signal.SELL, min(0.85, 0.4 + (rsi - 60) / 25), f"Demo analyst: RSI {rsi:.0f}, expecting a pullback."
        return Signal.HOLD, 0.5, f"Demo analyst: RSI {rsi:.0f} is mid-range."


def seed_demo_data(session: Session, context: DemoContext) -> None:
    """Write the demo consensus history (replacing any earlier demo history)."""
    settings = AISettings()
    session.execute(delete(AnalystOpinion).where(AnalystOpinion.is_demo.is_(True)))
    session.execute(delete(ConsensusRecord).where(ConsensusRecord.is_demo.is_(True)))
    parameters = ConsensusParameters(
        quorum=settings.quorum,
        agreement_threshold=settings.agreement_threshold,
        decision_threshold=settings.decision_threshold,
        prior_strength=settings.prior_strength,
        prior_hit_rate=settings.prior_hit_rate,
    )
    analysts: list[Analyst] = [
        TechnicalAnalyst(),
        SentimentAnalyst(half_life_hours=settings.news_half_life_hours, lookback_hours=settings.news_lookback_hours),
        _DemoRuleAnalyst("demo-momentum", "momentum"),
        _DemoRuleAnalyst("demo-reversal", "reversal"),
    ]
    engine = ConsensusEngine(analysts, parameters, deadline_seconds=30)
    first_day = (context.now - timedelta(days=DEMO_DAYS)).replace(hour=DECISION_HOUR_UTC)
    runs = 0
    for symbol, instrument in context.instruments.items():
        frame = context.candles[symbol].set_index("ts")
        if frame.empty:
            continue
        closes = close_series_by_close_time(frame, "1h")
        indicators = compute_indicators(frame, INDICATOR_SPECS)
        pending: list[tuple[str, Signal, float, pd.Timestamp, float]] = []  # analyst, signal, conf, due, entry
        stats: dict[str, TrackStats] = {}
        for day in range(DEMO_DAYS):
            decision_time = first_day + timedelta(days=day)
            window = frame[frame.index < decision_time - timedelta(hours=1)].tail(HISTORY_BARS)
            if window.empty:
                continue
            still_pending = []
            for analyst_name, signal, confidence, due, entry in pending:
                exit_price = price_known_at(closes, due.to_pydatetime()) if due <= decision_time else None
                if exit_price is None:
                    still_pending.append((analyst_name, signal, confidence, due, entry))
                    continue
                hit, _brier = score_opinion(signal, confidence, exit_price / entry - 1, settings.hold_band)
                previous = stats.get(analyst_name, TrackStats())
                stats[analyst_name] = TrackStats(previous.scored + 1, previous.hits + (1 if hit else 0))
            pending = still_pending
            try:
                as_of = window.index[-1].to_pydatetime() + timedelta(hours=1)
                snapshot = snapshot_from_frame(
                    symbol=symbol,
                    instrument_id=instrument.id,
                    frame=window,
                    timeframe="1h",
                    headlines=recent_headlines(
                        session, instrument.id, as_of, lookback_hours=settings.news_lookback_hours
                    ),
                    position=None,
                    indicator_frame=indicators,
                )
            except NotEnoughData:
                continue
            run = engine.run(snapshot, dict(stats))
            store_run(session, run, decided_at=snapshot.as_of + timedelta(minutes=5), is_demo=True)
            runs += 1
            for result in run.results:
                if result.opinion is not None:
                    due = pd.Timestamp(snapshot.as_of + timedelta(hours=result.opinion.horizon_hours))
                    pending.append(
                        (result.analyst, result.opinion.signal, result.opinion.confidence, due, snapshot.last_close)
                    )
    scored = score_due_opinions(session, hold_band=settings.hold_band, now=context.now)
    refresh_track_records(session, now=context.now)
    logger.info("Demo AI consensus: %d runs, %d opinions scored", runs, scored)


def after_demo_removed(session: Session) -> None:
    """Recompute the track records from the opinions left after the demo ones were removed."""
    refresh_track_records(session)
    remaining = select(AnalystOpinion.analyst).where(AnalystOpinion.scored_at.is_not(None)).distinct()
    session.execute(delete(AnalystTrackRecord).where(AnalystTrackRecord.analyst.not_in(remaining)))
