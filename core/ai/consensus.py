"""Combine opinions into one decision: confidence × configured weight × tracked reliability.

For valid opinions ``i`` with direction ``d_i`` (+1 buy, -1 sell, 0 hold):

- ``w_i = confidence_i × weight_i × reliability_i``, where ``reliability_i`` is the analyst's hit
  rate shrunk towards a prior and divided by the prior's rate:
  ``((hits + k·p) / (scored + k)) / p`` (``k`` = prior strength, ``p`` = prior hit rate), so an
  analyst with no track record has reliability 1.0 (neutral); it is multiplied by
  ``1 − hallucination rate`` (the share of its checked answers that quoted a false figure).
- ``score = Σ w_i d_i / Σ w_i`` in [-1, 1] (0 when there are no weights).
- ``leaning`` = buy if ``score ≥ decision_threshold``, sell if ``score ≤ -decision_threshold``,
  else hold.
- ``agreement = Σ w_i [signal_i = leaning] / Σ w_i``; dissenters are the analysts whose signal
  differs from the leaning.
- The decision is the leaning, unless fewer than ``quorum`` opinions are valid or agreement is
  below ``agreement_threshold``: then it is hold and the result is flagged with the reason.

If every valid opinion has confidence 0, votes count equally (weights without the confidence).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from core.ai.config import ConsensusParameters
from core.ai.models import Signal


@dataclass(frozen=True)
class Vote:
    """One valid opinion, reduced to what the arithmetic needs."""

    analyst: str
    signal: Signal
    confidence: float


@dataclass(frozen=True)
class TrackStats:
    """An analyst's scored opinions so far."""

    scored: int = 0
    hits: int = 0
    hallucination_rate: float = 0.0  # share of checked opinions that quoted a false figure


@dataclass(frozen=True)
class ConsensusOutcome:
    """The combined decision and how it came about."""

    decision: Signal
    leaning: Signal
    score: float
    agreement: float
    flagged: bool
    flag_reason: str | None
    valid_opinions: int
    dissenters: tuple[str, ...]
    failures: Mapping[str, str] = field(default_factory=dict)
    weights: Mapping[str, float] = field(default_factory=dict)


def reliability(stats: TrackStats | None, parameters: ConsensusParameters) -> float:
    """Return the reliability multiplier of an analyst (1.0 = neutral, for a new analyst)."""
    prior_rate = parameters.prior_hit_rate
    strength = parameters.prior_strength
    scored = stats.scored if stats else 0
    hits = stats.hits if stats else 0
    if scored + strength == 0:
        return 1.0
    posterior = (hits + strength * prior_rate) / (scored + strength)
    honesty = 1.0 - min(1.0, max(0.0, stats.hallucination_rate if stats else 0.0))
    return posterior / prior_rate * honesty


def leaning_of(score: float, threshold: float) -> Signal:
    """Return buy / sell / hold for a score and the decision threshold."""
    if score >= threshold and score > 0:
        return Signal.BUY
    if score <= -threshold and score < 0:
        return Signal.SELL
    return Signal.HOLD


def combine(
    votes: Sequence[Vote],
    parameters: ConsensusParameters,
    *,
    track_records: Mapping[str, TrackStats] | None = None,
    failures: Mapping[str, str] | None = None,
) -> ConsensusOutcome:
    """Combine valid ``votes`` into a :class:`ConsensusOutcome` (see the module docstring)."""
    track_records = track_records or {}
    failures = dict(failures or {})
    base_weights = {
        vote.analyst: parameters.weight_of(vote.analyst) * reliability(track_records.get(vote.analyst), parameters)
        for vote in votes
    }
    weights = {vote.analyst: base_weights[vote.analyst] * vote.confidence for vote in votes}
    if votes and sum(weights.values()) <= 0:
        weights = dict(base_weights)
    total = sum(weights.values())
    score = sum(weights[vote.analyst] * vote.signal.direction for vote in votes) / total if total > 0 else 0.0
    score = max(-1.0, min(1.0, score))
    leaning = leaning_of(score, parameters.decision_threshold)
    agreement = sum(weights[vote.analyst] for vote in votes if vote.signal is leaning) / total if total > 0 else 0.0
    dissenters = tuple(sorted(vote.analyst for vote in votes if vote.signal is not leaning))
    flag_reason: str | None = None
    if len(votes) < parameters.quorum:
        flag_reason = f"only {len(votes)} valid opinion(s); the quorum is {parameters.quorum}"
    elif agreement < parameters.agreement_threshold:
        flag_reason = f"agreement {agreement:.2f} is below the threshold {parameters.agreement_threshold:.2f}"
    return ConsensusOutcome(
        decision=Signal.HOLD if flag_reason else leaning,
        leaning=leaning,
        score=score,
        agreement=agreement,
        flagged=flag_reason is not None,
        flag_reason=flag_reason,
        valid_opinions=len(votes),
        dissenters=dissenters,
        failures=failures,
        weights=weights,
    )
