"""Replay the recorded AI consensus as a strategy (no LLM calls: only stored decisions).

``consensus_columns`` aligns the ``consensus_results`` rows of one instrument to the bars: each
bar gets the newest decision whose ``decided_at`` is at or before the bar's *close*
(open time + one bar), so a decision is acted on at the first close after it was made and
executed at the next open. It is causal by construction: a bar never sees a later decision.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.backtest.series import PriceSeries
from core.backtest.strategy import (
    Column,
    FloatArray,
    Indicator,
    Parameter,
    Signal,
    SignalArray,
    Strategy,
    signal_codes,
)

if TYPE_CHECKING:  # the database side is imported where it is used: a CSV backtest loads no ORM
    from sqlalchemy.orm import Session

# The recorded decision (``core.ai.models.Signal``, a string enum) as the strategy's column value.
DECISION_CODES = {"buy": 1.0, "sell": -1.0, "hold": 0.0}
COLUMNS = ("consensus_decision", "consensus_score", "consensus_agreement", "consensus_flagged")


def consensus_columns(session: Session, bars: PriceSeries) -> dict[str, FloatArray]:
    """Return the consensus columns of ``bars`` (NaN before the first recorded decision)."""
    from sqlalchemy import select

    from core.ai.models import ConsensusRecord
    from core.ai.models import Signal as ConsensusSignal

    if bars.instrument_id is None:
        raise ValueError("the AI consensus strategy needs stored candles of an instrument, not a file")
    rows = session.execute(
        select(
            ConsensusRecord.decided_at,
            ConsensusRecord.decision,
            ConsensusRecord.score,
            ConsensusRecord.agreement,
            ConsensusRecord.flagged,
        )
        .where(ConsensusRecord.instrument_id == bars.instrument_id)
        .order_by(ConsensusRecord.decided_at, ConsensusRecord.id)
    ).all()
    size = len(bars)
    columns: dict[str, FloatArray] = {name: np.full(size, np.nan) for name in COLUMNS}
    if not rows:
        return columns
    decided = pd.DatetimeIndex([row[0] for row in rows]).tz_convert("UTC")
    closes = bars.index + pd.Timedelta(seconds=bars.bar_seconds)
    latest = np.searchsorted(decided.asi8, closes.as_unit(decided.unit).asi8, side="right") - 1
    known = latest >= 0
    decisions = np.array([DECISION_CODES[ConsensusSignal(row[1]).value] for row in rows])
    scores = np.array([float(row[2]) for row in rows])
    agreements = np.array([float(row[3]) for row in rows])
    flags = np.array([1.0 if row[4] else 0.0 for row in rows])
    for name, values in zip(COLUMNS, (decisions, scores, agreements, flags), strict=True):
        columns[name][known] = values[latest[known]]
    return columns


def with_consensus(session: Session, bars: PriceSeries) -> PriceSeries:
    """Return ``bars`` with the consensus columns the ``ai-consensus`` strategy reads."""
    return bars.with_extras(**consensus_columns(session, bars))


class ConsensusFollower(Strategy):
    """Follow the recorded AI consensus: long after a buy decision, flat after a sell decision.

    A decision counts only if its agreement is at least ``min_agreement`` and its absolute score
    at least ``min_score``; flagged decisions (the consensus marked them as doubtful) are skipped
    unless ``use_flagged`` is 1. Holds change nothing.
    """

    name = "ai-consensus"
    title = "Follow the AI consensus"
    description = "Replay the stored consensus decisions: buy on a buy decision, sell on a sell decision."
    parameters = (
        Parameter("min_agreement", float, 0.5, 0.0, 1.0, "least agreement of the analysts (0..1)"),
        Parameter("min_score", float, 0.0, 0.0, 1.0, "least absolute consensus score (0..1)"),
        Parameter("use_flagged", int, 0, 0, 1, "1 = also follow flagged decisions"),
    )

    def indicators(self) -> dict[str, Indicator]:
        return {name: Column(name) for name in COLUMNS}

    def _accepted(self, agreement: Any, score: Any, flagged: Any) -> Any:
        accepted = (agreement >= self.params["min_agreement"]) & (abs(score) >= self.params["min_score"])
        if not self.params["use_flagged"]:
            accepted = accepted & (flagged == 0.0)
        return accepted

    def on_bar(self, bar: Any) -> Signal | None:
        if not self._accepted(bar.consensus_agreement, bar.consensus_score, bar.consensus_flagged):
            return None
        if bar.consensus_decision == 1.0:
            return Signal.BUY
        if bar.consensus_decision == -1.0:
            return Signal.SELL
        return None

    def signals(self, bars: PriceSeries, lines: dict[str, FloatArray]) -> SignalArray:
        accepted = self._accepted(lines["consensus_agreement"], lines["consensus_score"], lines["consensus_flagged"])
        decision = lines["consensus_decision"]
        return signal_codes(accepted & (decision == 1.0), accepted & (decision == -1.0))


def consensus_contamination(
    session: Session, instrument_id: int, trades: Iterable[tuple[Any, float]]
) -> dict[str, Any]:
    """Say which recorded decisions an AI-consensus backtest used came from LLMs that may know the prices.

    A decision of an AI history run is *contaminated* when an LLM asked then had a training cutoff
    after the decision time (``ai_opinions.contaminated``). Each trade is attributed to the decision
    in force at its entry; the P&L of trades entered on contaminated decisions is reported apart.
    ``trades`` are ``(entry time, P&L)`` pairs.
    """
    from sqlalchemy import select

    from core.ai.models import AnalystOpinion, ConsensusOrigin, ConsensusRecord

    rows = session.execute(
        select(ConsensusRecord.id, ConsensusRecord.decided_at, ConsensusRecord.origin)
        .where(ConsensusRecord.instrument_id == instrument_id)
        .order_by(ConsensusRecord.decided_at, ConsensusRecord.id)
    ).all()
    tainted = set(
        session.scalars(
            select(AnalystOpinion.consensus_id)
            .join(ConsensusRecord, ConsensusRecord.id == AnalystOpinion.consensus_id)
            .where(
                ConsensusRecord.instrument_id == instrument_id,
                ConsensusRecord.origin == ConsensusOrigin.HISTORY,
                AnalystOpinion.contaminated.is_(True),
            )
        )
    )
    times = pd.DatetimeIndex([row[1] for row in rows]).tz_convert("UTC") if rows else pd.DatetimeIndex([], tz="UTC")
    parts: dict[str, dict[str, float]] = {
        "clean": {"trades": 0, "pnl": 0.0},
        "contaminated": {"trades": 0, "pnl": 0.0},
    }
    for entry_time, pnl in trades:
        position = int(times.searchsorted(pd.Timestamp(entry_time), side="right"))
        in_force = rows[position - 1][0] if position > 0 else None
        part = parts["contaminated" if in_force in tainted else "clean"]
        part["trades"] += 1
        part["pnl"] += float(pnl) if pnl is not None and pnl == pnl else 0.0
    contaminated = len(tainted)
    return {
        "decisions": len(rows),
        "history_decisions": sum(1 for row in rows if row[2] is ConsensusOrigin.HISTORY),
        "contaminated_decisions": contaminated,
        "contaminated": contaminated > 0,
        "note": "contaminated: the model may know these prices" if contaminated else "clean",
        "clean": parts["clean"],
        "contaminated_periods": parts["contaminated"],
    }
