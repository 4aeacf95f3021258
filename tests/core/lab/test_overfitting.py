"""Deflated Sharpe ratio and probability of backtest overfitting against the papers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from core.lab.overfitting import (
    deflated_sharpe_of_trials,
    deflated_sharpe_ratio,
    expected_maximum_sharpe,
    overfitting_report,
    probability_of_backtest_overfitting,
)


def test_deflated_sharpe_matches_the_papers_numerical_example() -> None:
    """Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", section "A numerical example":
    N = 100 trials, variance of their annualised Sharpe ratios 1/2, the chosen strategy's annualised
    Sharpe ratio 2.5 over T = 1,250 daily observations (250 a year), skewness -3, kurtosis 10.
    The paper finds SR0 ≈ 0.1132 (per day) and DSR ≈ 0.90: the strategy is not significant at 95 %."""
    days = 250
    result = deflated_sharpe_ratio(
        2.5 / math.sqrt(days), trials=100, sharpe_variance=0.5 / days, observations=1250, skewness=-3, kurtosis=10
    )
    assert result.benchmark == pytest.approx(0.1132, abs=5e-5)
    assert result.dsr == pytest.approx(0.900, abs=1e-3)
    assert result.verdict.startswith("Unproven")


def test_expected_maximum_grows_with_trials_and_is_the_mean_for_one() -> None:
    assert expected_maximum_sharpe(1, 1.0) == 0.0
    assert expected_maximum_sharpe(10, 1.0) < expected_maximum_sharpe(1000, 1.0)


def test_dsr_of_noise_trials_is_low_and_of_a_real_edge_high() -> None:
    generator = np.random.default_rng(3)
    noise = [generator.normal(0, 0.01, 1000) for _ in range(200)]
    best = int(np.argmax([series.mean() / series.std(ddof=1) for series in noise]))
    assert deflated_sharpe_of_trials(noise, best).dsr < 0.5
    edge = [*noise, generator.normal(0.003, 0.01, 1000)]
    assert deflated_sharpe_of_trials(edge, len(edge) - 1).dsr > 0.99


def _reference_pbo(matrix: np.ndarray, blocks: int) -> float:
    """CSCV step by step as in Bailey, Borwein, López de Prado & Zhu (2015), section 2.2: one loop per split."""
    periods, trials = matrix.shape
    size = periods // blocks
    parts = [matrix[index * size : (index + 1) * size] for index in range(blocks)]
    logits = []
    for chosen in itertools.combinations(range(blocks), blocks // 2):
        train = np.vstack([parts[index] for index in chosen])
        test = np.vstack([parts[index] for index in range(blocks) if index not in chosen])
        in_sample = train.mean(axis=0) / train.std(axis=0, ddof=1)
        out_sample = test.mean(axis=0) / test.std(axis=0, ddof=1)
        best = int(np.argmax(in_sample))
        rank = 1 + int(np.sum(out_sample < out_sample[best]))  # no ties with continuous data
        omega = rank / (trials + 1)
        logits.append(math.log(omega / (1 - omega)))
    return sum(value <= 0 for value in logits) / len(logits)


def test_pbo_equals_the_step_by_step_procedure() -> None:
    generator = np.random.default_rng(11)
    matrix = generator.normal(0.0002, 0.01, (480, 30)) + generator.normal(0, 0.0005, 30)
    fast = probability_of_backtest_overfitting(matrix, 8)
    assert fast.splits == math.comb(8, 4) == 70
    assert fast.pbo == pytest.approx(_reference_pbo(matrix, 8))


def test_pbo_worked_by_hand_two_trials_that_swap() -> None:
    """Two blocks, two trials: A wins the first block and loses the second, B the reverse. Each split picks
    the winner of its in-sample block, which is the loser out-of-sample: rank 1 of 2, ω = 1/3, λ = ln(1/2) < 0,
    so PBO = 1 (and the in-sample best lost money out-of-sample both times)."""
    a = [0.02, 0.01, -0.01, -0.02]
    b = [-0.01, -0.02, 0.02, 0.01]
    result = probability_of_backtest_overfitting(np.array([a, b]).T, 2)
    assert result.splits == 2
    assert result.pbo == 1.0
    assert result.probability_of_loss == 1.0
    assert result.logits == pytest.approx((math.log(0.5), math.log(0.5)))
    assert result.verdict.startswith("Overfitted")


def test_pbo_of_noise_is_near_a_half_and_of_a_dominant_trial_zero() -> None:
    """The paper's baseline: when no trial has skill the in-sample best is a random draw out-of-sample,
    so PBO ≈ 1/2; a trial with a real edge keeps winning out-of-sample, so PBO ≈ 0."""
    generator = np.random.default_rng(5)
    noise = generator.normal(0, 0.01, (1600, 100))
    assert 0.3 < probability_of_backtest_overfitting(noise, 16).pbo < 0.7
    skilled = noise.copy()
    skilled[:, 7] += 0.004
    result = probability_of_backtest_overfitting(skilled, 16)
    assert result.pbo == 0.0
    assert result.verdict.startswith("Low")


def test_bad_matrices_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="even"):
        probability_of_backtest_overfitting(np.zeros((100, 3)), 3)
    with pytest.raises(ValueError, match="two trials"):
        probability_of_backtest_overfitting(np.zeros((100, 1)), 4)
    with pytest.raises(ValueError, match="periods"):
        probability_of_backtest_overfitting(np.zeros((10, 3)), 16)


def test_report_uses_fewer_blocks_on_short_samples_and_says_so() -> None:
    generator = np.random.default_rng(2)
    returns = [generator.normal(0, 0.01, 12) for _ in range(5)]
    report = overfitting_report(returns, 0)
    assert report.pbo is not None and report.pbo.blocks == 6
    assert "6 blocks" in report.note
    assert overfitting_report(returns[:1], 0).deflated_sharpe is None
