"""Analysts that need no network: technical (indicator rule votes) and sentiment (news, time-decayed)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from core.ai.models import Signal
from core.ai.opinion import AnalystResult, Opinion

if TYPE_CHECKING:
    from core.ai.context import ContextSnapshot
    from core.news.sentiment import SentimentScorer

TECHNICAL_SIGNAL_THRESHOLD = 0.2
SENTIMENT_SIGNAL_THRESHOLD = 0.15
NEAR_LEVEL_FRACTION = 0.015


@dataclass(frozen=True)
class RuleVote:
    """One indicator rule's vote: direction (+1 buy, -1 sell, 0 abstain) and strength 0..1."""

    rule: str
    direction: int
    strength: float
    reason: str


def _clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return max(low, min(high, value))


def technical_votes(snapshot: ContextSnapshot) -> list[RuleVote]:
    """Return the votes of the indicator rules on a snapshot (rules without data abstain)."""
    values = snapshot.indicators
    close = snapshot.last_close
    votes: list[RuleVote] = []
    sma, ema = values.get("sma_20"), values.get("ema_50")
    if sma:
        gap = close / sma - 1
        votes.append(
            RuleVote("price_vs_sma20", 1 if gap > 0 else -1, _clamp(abs(gap) / 0.02), f"close {gap:+.1%} vs SMA 20")
        )
    if sma and ema:
        gap = sma / ema - 1
        votes.append(
            RuleVote("sma20_vs_ema50", 1 if gap > 0 else -1, _clamp(abs(gap) / 0.02), f"SMA 20 {gap:+.1%} vs EMA 50")
        )
    rsi = values.get("rsi_14")
    if rsi is not None:
        if rsi <= 30:
            votes.append(RuleVote("rsi", 1, _clamp((50 - rsi) / 30), f"RSI {rsi:.0f} oversold"))
        elif rsi >= 70:
            votes.append(RuleVote("rsi", -1, _clamp((rsi - 50) / 30), f"RSI {rsi:.0f} overbought"))
        else:
            votes.append(RuleVote("rsi", 0, 0.0, f"RSI {rsi:.0f} neutral"))
    histogram = values.get("macd_histogram")
    if histogram is not None:
        scale = close * 0.002 or 1.0
        votes.append(
            RuleVote(
                "macd", 1 if histogram > 0 else -1, _clamp(abs(histogram) / scale), f"MACD histogram {histogram:+.4g}"
            )
        )
    lower, upper = values.get("bb_lower"), values.get("bb_upper")
    if lower is not None and upper is not None and upper > lower:
        width = upper - lower
        if close < lower:
            votes.append(
                RuleVote("bollinger", 1, _clamp((lower - close) / (0.25 * width) + 0.3), "close below lower band")
            )
        elif close > upper:
            votes.append(
                RuleVote("bollinger", -1, _clamp((close - upper) / (0.25 * width) + 0.3), "close above upper band")
            )
        else:
            votes.append(RuleVote("bollinger", 0, 0.0, "close inside the bands"))
    support = [level.price for level in snapshot.levels if level.kind == "support" and level.price < close]
    resistance = [level.price for level in snapshot.levels if level.kind == "resistance" and level.price > close]
    near_support = (close - max(support)) / close if support else None
    near_resistance = (min(resistance) - close) / close if resistance else None
    if (
        near_support is not None
        and near_support <= NEAR_LEVEL_FRACTION
        and (near_resistance is None or near_support < near_resistance)
    ):
        votes.append(
            RuleVote("levels", 1, _clamp(1 - near_support / NEAR_LEVEL_FRACTION), f"{near_support:.1%} above support")
        )
    elif near_resistance is not None and near_resistance <= NEAR_LEVEL_FRACTION:
        votes.append(
            RuleVote(
                "levels",
                -1,
                _clamp(1 - near_resistance / NEAR_LEVEL_FRACTION),
                f"{near_resistance:.1%} below resistance",
            )
        )
    patterns = [item for item in snapshot.patterns if item.bias != "neutral"]
    if patterns:
        score = sum(
            (1 if item.bias == "bullish" else -1) * item.confidence * (1.0 if item.confirmed else 0.6)
            for item in patterns
        )
        names = ", ".join(
            f"{item.kind.replace('_', ' ')}{' (confirmed)' if item.confirmed else ''}" for item in patterns
        )
        direction = 1 if score > 0 else -1 if score < 0 else 0
        votes.append(RuleVote("patterns", direction, _clamp(abs(score) / 2), f"patterns: {names}"))
    return votes


def combine_rule_votes(votes: list[RuleVote]) -> tuple[Signal, float, float]:
    """Return (signal, confidence, net score) from rule votes.

    The net score is the mean of direction × strength over all rules (abstentions count as 0).
    Confidence of a buy/sell = half the strength-weighted agreement of the active rules with the
    signal plus half the net strength; of a hold it shrinks as the net score nears a threshold.
    """
    if not votes:
        return Signal.HOLD, 0.1, 0.0
    net = sum(vote.direction * vote.strength for vote in votes) / len(votes)
    if net >= TECHNICAL_SIGNAL_THRESHOLD:
        signal = Signal.BUY
    elif net <= -TECHNICAL_SIGNAL_THRESHOLD:
        signal = Signal.SELL
    else:
        return Signal.HOLD, round(0.3 + 0.3 * (1 - abs(net) / TECHNICAL_SIGNAL_THRESHOLD), 4), net
    active_strength = sum(vote.strength for vote in votes if vote.direction != 0)
    agreeing = sum(vote.strength for vote in votes if vote.direction == signal.direction)
    agreement = agreeing / active_strength if active_strength else 0.0
    confidence = 0.5 * agreement + 0.5 * _clamp(abs(net) * 2)
    return signal, round(_clamp(confidence), 4), net


class TechnicalAnalyst:
    """Votes of indicator rules (trend, RSI, MACD, Bollinger, support/resistance)."""

    provider = "builtin"

    def __init__(self, name: str = "technical", model: str = "rules-v1", horizon_hours: int = 24):
        self.name = name
        self.model = model
        self.horizon_hours = horizon_hours

    def analyse(self, snapshot: ContextSnapshot) -> AnalystResult:
        """Return the combined vote of the indicator rules."""
        started = time.perf_counter()
        try:
            votes = technical_votes(snapshot)
            signal, confidence, net = combine_rule_votes(votes)
            listed = "; ".join(
                f"{vote.reason} ({'+' if vote.direction > 0 else '-' if vote.direction < 0 else '0'})" for vote in votes
            )
            rationale = f"{len(votes)} indicator rules, net score {net:+.2f}: {listed or 'no indicator data'}."
            opinion = Opinion(
                signal=signal, confidence=confidence, horizon_hours=self.horizon_hours, rationale=rationale
            )
            return AnalystResult(self.name, self.provider, self.model, opinion=opinion, latency_ms=_elapsed_ms(started))
        except Exception as error:  # an analyst never raises
            return AnalystResult(
                self.name,
                self.provider,
                self.model,
                error=f"{type(error).__name__}: {error}",
                latency_ms=_elapsed_ms(started),
            )


@lru_cache(maxsize=1)
def _scorer() -> SentimentScorer:
    from core.news.sentiment import SentimentScorer

    return SentimentScorer()


def lexicon_sentiment(title: str, summary: str | None) -> float:
    """Score a headline like the news pipeline does (VADER plus the crypto lexicon), in [-1, 1]."""
    return _scorer().score_item(title, summary)


class SentimentAnalyst:
    """Time-decayed, influence-weighted news sentiment (stored scores, or VADER where missing)."""

    provider = "builtin"

    def __init__(
        self,
        name: str = "sentiment",
        model: str = "vader-decay",
        *,
        half_life_hours: float = 12.0,
        lookback_hours: float = 72.0,
        horizon_hours: int = 24,
    ):
        self.name = name
        self.model = model
        self.half_life_hours = half_life_hours
        self.lookback_hours = lookback_hours
        self.horizon_hours = horizon_hours

    def analyse(self, snapshot: ContextSnapshot) -> AnalystResult:
        """Return a signal from the decayed mean sentiment of the snapshot's headlines."""
        started = time.perf_counter()
        try:
            opinion = self._opinion(snapshot)
            return AnalystResult(self.name, self.provider, self.model, opinion=opinion, latency_ms=_elapsed_ms(started))
        except Exception as error:  # an analyst never raises
            return AnalystResult(
                self.name,
                self.provider,
                self.model,
                error=f"{type(error).__name__}: {error}",
                latency_ms=_elapsed_ms(started),
            )

    def _opinion(self, snapshot: ContextSnapshot) -> Opinion:
        weighted_sum = 0.0
        weight_total = 0.0
        effective_items = 0.0
        counted = 0
        scored_here = 0
        for item in snapshot.headlines:
            age_hours = (snapshot.as_of - item.published_at).total_seconds() / 3600
            if age_hours < 0 or age_hours > self.lookback_hours:
                continue
            sentiment = item.sentiment
            if sentiment is None:
                sentiment = lexicon_sentiment(item.title, item.summary)
                scored_here += 1
            decay = 0.5 ** (age_hours / self.half_life_hours)
            influence = item.influence if item.influence is not None else 0.5
            weight = decay * (0.5 + influence)
            weighted_sum += weight * sentiment
            weight_total += weight
            effective_items += decay
            counted += 1
        if counted == 0 or weight_total == 0:
            return Opinion(
                signal=Signal.HOLD,
                confidence=0.1,
                horizon_hours=self.horizon_hours,
                rationale=(
                    f"No news or posts about {snapshot.symbol} in the last {self.lookback_hours:g} h, "
                    "so sentiment gives no signal."
                ),
            )
        score = weighted_sum / weight_total
        coverage = 1 - math.exp(-effective_items / 3)
        if score >= SENTIMENT_SIGNAL_THRESHOLD:
            signal = Signal.BUY
        elif score <= -SENTIMENT_SIGNAL_THRESHOLD:
            signal = Signal.SELL
        else:
            signal = Signal.HOLD
        if signal is Signal.HOLD:
            confidence = 0.2 + 0.3 * coverage * (1 - abs(score) / SENTIMENT_SIGNAL_THRESHOLD)
        else:
            confidence = _clamp(0.2 + 0.7 * min(1.0, abs(score) * 1.5) * coverage, 0.0, 0.9)
        rescored = f"; {scored_here} scored here with VADER" if scored_here else ""
        return Opinion(
            signal=signal,
            confidence=round(confidence, 4),
            horizon_hours=self.horizon_hours,
            rationale=(
                f"Decayed sentiment {score:+.2f} over {counted} items in {self.lookback_hours:g} h "
                f"(half-life {self.half_life_hours:g} h, effective weight {effective_items:.1f}){rescored}."
            ),
        )


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
