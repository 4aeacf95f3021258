"""Exact tests of the consensus arithmetic: weighting, reliability prior, threshold, quorum."""

from __future__ import annotations

import pytest

from core.ai.config import ConsensusParameters
from core.ai.consensus import TrackStats, Vote, combine, leaning_of, reliability
from core.ai.models import Signal

BUY, SELL, HOLD = Signal.BUY, Signal.SELL, Signal.HOLD
PARAMETERS = ConsensusParameters(
    quorum=2, agreement_threshold=0.6, decision_threshold=0.15, prior_strength=10, prior_hit_rate=0.5
)


def test_new_analyst_starts_neutral() -> None:
    assert reliability(None, PARAMETERS) == 1.0
    assert reliability(TrackStats(0, 0), PARAMETERS) == 1.0


def test_reliability_shrinks_the_hit_rate_towards_the_prior() -> None:
    # 18 hits of 20: (18 + 10 × 0.5) / (20 + 10) = 23 / 30, divided by 0.5
    assert reliability(TrackStats(scored=20, hits=18), PARAMETERS) == pytest.approx(46 / 30)
    # 2 hits of 20: (2 + 5) / 30 / 0.5
    assert reliability(TrackStats(scored=20, hits=2), PARAMETERS) == pytest.approx(14 / 30)
    # exactly at the prior rate stays neutral
    assert reliability(TrackStats(scored=40, hits=20), PARAMETERS) == pytest.approx(1.0)


def test_confidence_weighted_vote() -> None:
    votes = [Vote("a", BUY, 0.8), Vote("b", BUY, 0.6), Vote("c", SELL, 0.4)]
    outcome = combine(votes, PARAMETERS)
    # score = (0.8 + 0.6 - 0.4) / (0.8 + 0.6 + 0.4) = 1.0 / 1.8
    assert outcome.score == pytest.approx(1.0 / 1.8)
    assert outcome.leaning is BUY
    assert outcome.agreement == pytest.approx(1.4 / 1.8)
    assert outcome.decision is BUY
    assert not outcome.flagged
    assert outcome.dissenters == ("c",)
    assert outcome.weights == pytest.approx({"a": 0.8, "b": 0.6, "c": 0.4})


def test_reliability_and_configured_weight_scale_the_votes() -> None:
    parameters = ConsensusParameters(
        quorum=2,
        agreement_threshold=0.5,
        decision_threshold=0.15,
        prior_strength=10,
        prior_hit_rate=0.5,
        analyst_weights={"b": 2.0},
    )
    track = {"a": TrackStats(scored=20, hits=18), "b": TrackStats(scored=20, hits=2)}
    votes = [Vote("a", BUY, 0.5), Vote("b", SELL, 0.5)]
    outcome = combine(votes, parameters, track_records=track)
    weight_a = 0.5 * 1.0 * (46 / 30)
    weight_b = 0.5 * 2.0 * (14 / 30)
    assert outcome.weights["a"] == pytest.approx(weight_a)
    assert outcome.weights["b"] == pytest.approx(weight_b)
    assert outcome.score == pytest.approx((weight_a - weight_b) / (weight_a + weight_b))
    # 0.7667 vs 0.4667: score 0.2432 -> buy with agreement 0.6216
    assert outcome.leaning is BUY
    assert outcome.agreement == pytest.approx(weight_a / (weight_a + weight_b))
    assert outcome.decision is BUY


def test_below_agreement_threshold_is_hold_and_flagged() -> None:
    votes = [Vote("a", BUY, 0.9), Vote("b", SELL, 0.5), Vote("c", HOLD, 0.3)]
    outcome = combine(votes, PARAMETERS)
    # score = (0.9 - 0.5) / 1.7 = 0.2353 -> leaning buy, agreement 0.9 / 1.7 = 0.529 < 0.6
    assert outcome.score == pytest.approx(0.4 / 1.7)
    assert outcome.leaning is BUY
    assert outcome.agreement == pytest.approx(0.9 / 1.7)
    assert outcome.decision is HOLD
    assert outcome.flagged
    assert outcome.flag_reason == "agreement 0.53 is below the threshold 0.60"
    assert outcome.dissenters == ("b", "c")


def test_below_quorum_is_hold_and_flagged() -> None:
    outcome = combine([Vote("a", BUY, 0.9)], PARAMETERS, failures={"b": "timed out after 60 s"})
    assert outcome.leaning is BUY
    assert outcome.agreement == 1.0
    assert outcome.decision is HOLD
    assert outcome.flagged
    assert outcome.flag_reason == "only 1 valid opinion(s); the quorum is 2"
    assert outcome.failures == {"b": "timed out after 60 s"}


def test_no_valid_opinion_at_all() -> None:
    outcome = combine([], PARAMETERS, failures={"a": "HTTP 500", "b": "refused: no"})
    assert outcome.decision is HOLD
    assert outcome.score == 0.0
    assert outcome.agreement == 0.0
    assert outcome.flagged
    assert outcome.valid_opinions == 0


def test_opposite_votes_cancel_to_a_flagged_hold() -> None:
    outcome = combine([Vote("a", BUY, 0.7), Vote("b", SELL, 0.7)], PARAMETERS)
    assert outcome.score == 0.0
    assert outcome.leaning is HOLD
    assert outcome.agreement == 0.0
    assert outcome.decision is HOLD and outcome.flagged


def test_unanimous_hold_is_an_unflagged_hold() -> None:
    outcome = combine([Vote("a", HOLD, 0.4), Vote("b", HOLD, 0.6)], PARAMETERS)
    assert outcome.score == 0.0 and outcome.agreement == 1.0
    assert outcome.decision is HOLD and not outcome.flagged
    assert outcome.dissenters == ()


def test_all_zero_confidence_counts_votes_equally() -> None:
    outcome = combine([Vote("a", SELL, 0.0), Vote("b", SELL, 0.0), Vote("c", HOLD, 0.0)], PARAMETERS)
    assert outcome.score == pytest.approx(-2 / 3)
    assert outcome.decision is SELL
    assert outcome.agreement == pytest.approx(2 / 3)


def test_score_exactly_at_the_threshold_decides() -> None:
    assert leaning_of(0.15, 0.15) is BUY
    assert leaning_of(-0.15, 0.15) is SELL
    assert leaning_of(0.1499, 0.15) is HOLD
    assert leaning_of(0.0, 0.0) is HOLD
