"""Overfitting measures for a strategy chosen as the best of many trials.

- :func:`deflated_sharpe_ratio` — Bailey & López de Prado, "The Deflated Sharpe Ratio:
  Correcting for Selection Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio
  Management 40(5), 2014. The probability that the true Sharpe ratio of the chosen trial is above
  the Sharpe ratio the best of ``N`` skill-less trials would show by luck alone (``SR0``), given
  the sample length and the skewness and kurtosis of the chosen trial's returns.
- :func:`probability_of_backtest_overfitting` — Bailey, Borwein, López de Prado & Zhu, "The
  Probability of Backtest Overfitting", Journal of Computational Finance 20(4), 2015 (2017 in
  print): combinatorially symmetric cross-validation (CSCV). The returns of every trial are cut
  into ``S`` blocks in time; for every choice of ``S/2`` blocks as the in-sample half, the best
  trial in-sample is ranked out-of-sample (the other half). PBO is the share of choices in which
  that trial ends up at or below the out-of-sample median.

Sharpe ratios here are per period (not annualised), as in both papers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import NDArray

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()

DSR_CONFIDENT = 0.95  # DSR at or above this: the Sharpe ratio is unlikely to be luck
PBO_LOW = 0.10
PBO_HIGH = 0.50


def expected_maximum_sharpe(trials: int, variance: float, mean: float = 0.0) -> float:
    """``SR0``: the expected maximum Sharpe ratio of ``trials`` skill-less trials (the DSR paper, eq. 2)."""
    if trials < 2 or not variance > 0:
        return mean
    standard_deviation = math.sqrt(variance)
    first = _NORMAL.inv_cdf(1.0 - 1.0 / trials)
    second = _NORMAL.inv_cdf(1.0 - 1.0 / (trials * math.e))
    return mean + standard_deviation * ((1.0 - EULER_GAMMA) * first + EULER_GAMMA * second)


def probabilistic_sharpe_ratio(
    sharpe: float, benchmark: float, observations: int, skewness: float, kurtosis: float
) -> float:
    """PSR: the probability that the true Sharpe ratio exceeds ``benchmark`` (``kurtosis`` not excess)."""
    if observations < 2 or not math.isfinite(sharpe):
        return math.nan
    variance_term = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    if not variance_term > 0:
        return math.nan
    z = (sharpe - benchmark) * math.sqrt(observations - 1) / math.sqrt(variance_term)
    return _NORMAL.cdf(z)


@dataclass(frozen=True)
class DeflatedSharpe:
    """The deflated Sharpe ratio of the chosen trial and what went into it."""

    dsr: float  # probability in [0, 1]
    sharpe: float  # per period, of the chosen trial
    benchmark: float  # SR0, per period
    trials: int
    observations: int
    skewness: float
    kurtosis: float
    sharpe_variance: float

    @property
    def verdict(self) -> str:
        return dsr_verdict(self.dsr, self.trials)

    def to_dict(self) -> dict[str, Any]:
        return {**_finite(asdict(self)), "verdict": self.verdict}


def deflated_sharpe_ratio(
    sharpe: float,
    *,
    trials: int,
    sharpe_variance: float,
    observations: int,
    skewness: float = 0.0,
    kurtosis: float = 3.0,
) -> DeflatedSharpe:
    """DSR from summary figures (all per period; ``kurtosis`` not excess, 3 for normal returns)."""
    benchmark = expected_maximum_sharpe(trials, sharpe_variance)
    dsr = probabilistic_sharpe_ratio(sharpe, benchmark, observations, skewness, kurtosis)
    return DeflatedSharpe(dsr, sharpe, benchmark, trials, observations, skewness, kurtosis, sharpe_variance)


def per_period_sharpe(returns: NDArray[np.float64]) -> float:
    """Mean over sample standard deviation (ddof=1) of one series of returns (NaN if it cannot be formed)."""
    values = returns[np.isfinite(returns)]
    if values.shape[0] < 2:
        return math.nan
    deviation = float(np.std(values, ddof=1))
    mean = float(np.mean(values))
    if deviation == 0.0:
        return 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    return mean / deviation


def moments(returns: NDArray[np.float64]) -> tuple[float, float]:
    """Skewness and (non-excess) kurtosis of returns, population moments as in the DSR paper."""
    values = returns[np.isfinite(returns)]
    if values.shape[0] < 3:
        return 0.0, 3.0
    centred = values - values.mean()
    variance = float(np.mean(centred**2))
    if variance == 0.0:
        return 0.0, 3.0
    return float(np.mean(centred**3)) / variance**1.5, float(np.mean(centred**4)) / variance**2


def deflated_sharpe_of_trials(
    returns: Sequence[NDArray[np.float64]], chosen: int, *, trials: int | None = None
) -> DeflatedSharpe:
    """DSR of trial ``chosen`` among ``returns`` (one array of per-period returns per trial).

    ``trials`` is the number of trials tried (default: one per series); pass more when some were
    abandoned early (pruned) but still took part in the selection.
    """
    sharpes = np.array([per_period_sharpe(series) for series in returns])
    finite = sharpes[np.isfinite(sharpes)]
    variance = float(np.var(finite, ddof=1)) if finite.shape[0] > 1 else 0.0
    skewness, kurtosis = moments(returns[chosen])
    return deflated_sharpe_ratio(
        float(sharpes[chosen]),
        trials=max(trials or 0, len(returns)),
        sharpe_variance=variance,
        observations=int(np.isfinite(returns[chosen]).sum()),
        skewness=skewness,
        kurtosis=kurtosis,
    )


@dataclass(frozen=True)
class OverfittingProbability:
    """The CSCV result: PBO and its by-products."""

    pbo: float  # share of splits where the in-sample best is at or below the out-of-sample median
    splits: int  # combinations evaluated (S choose S/2)
    blocks: int  # S
    trials: int  # N
    logits: tuple[float, ...]  # λ of every split
    probability_of_loss: float  # share of splits where the in-sample best lost out-of-sample
    median_oos_rank: float  # median relative rank ω of the in-sample best out-of-sample (0..1)

    @property
    def verdict(self) -> str:
        return pbo_verdict(self.pbo)

    def to_dict(self) -> dict[str, Any]:
        values = _finite(asdict(self))
        values.pop("logits")
        return {**values, "verdict": self.verdict}


def _sharpe_from_sums(total: NDArray[np.float64], squares: NDArray[np.float64], count: int) -> NDArray[np.float64]:
    """Per-period Sharpe (ddof=1) from sums and sums of squares; a series that does not vary scores 0."""
    mean = total / count
    variance = np.maximum((squares - total * mean) / (count - 1), 0.0)
    deviation = np.sqrt(variance)
    tiny = 1e-12 * np.maximum(np.abs(mean), 1e-300)
    flat = deviation <= tiny
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = mean / np.where(flat, 1.0, deviation)
    signed_infinity = np.where(mean > 0, np.inf, -np.inf)
    return np.where(flat, np.where(mean != 0, signed_infinity, 0.0), sharpe)


def probability_of_backtest_overfitting(matrix: NDArray[np.float64], blocks: int = 16) -> OverfittingProbability:
    """PBO by CSCV over ``matrix`` (T rows of periods × N columns of trials), in ``blocks`` (even) blocks.

    Rows that do not fill the last block evenly are dropped from the start (the oldest). The
    performance of a trial on a set of blocks is its per-period Sharpe ratio there, as in the
    paper. The in-sample best ``n*`` gets the out-of-sample relative rank ``ω = rank / (N + 1)``
    (ascending, ties sharing their average rank) and the logit ``λ = ln(ω / (1 − ω))``; PBO is
    the share of splits with ``λ ≤ 0``. All ``C(S, S/2)`` splits are evaluated at once from the
    blocks' sums and sums of squares.
    """
    values = np.asarray(matrix, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError("the returns matrix must be two-dimensional (periods × trials)")
    periods, trials = values.shape
    if blocks < 2 or blocks % 2:
        raise ValueError("the number of CSCV blocks must be even and at least 2")
    if trials < 2:
        raise ValueError("PBO needs at least two trials")
    size = periods // blocks
    if size < 2:
        raise ValueError(f"PBO needs at least {2 * blocks} periods for {blocks} blocks, got {periods}")
    values = np.nan_to_num(values[periods - size * blocks :], nan=0.0).reshape(blocks, size, trials)
    block_sums = values.sum(axis=1)  # blocks × trials
    block_squares = (values * values).sum(axis=1)
    chosen = np.array(list(itertools.combinations(range(blocks), blocks // 2)))
    membership = np.zeros((chosen.shape[0], blocks))
    np.put_along_axis(membership, chosen, 1.0, axis=1)
    count = size * blocks // 2
    omega = np.empty(chosen.shape[0])
    best_oos = np.empty(chosen.shape[0])
    chunk = max(1, 4_000_000 // trials)  # splits per step, so the work arrays stay around 32 MB
    for first in range(0, chosen.shape[0], chunk):
        inside = membership[first : first + chunk]
        in_sample = _sharpe_from_sums(inside @ block_sums, inside @ block_squares, count)
        out_of_sample = _sharpe_from_sums((1.0 - inside) @ block_sums, (1.0 - inside) @ block_squares, count)
        best = np.argmax(in_sample, axis=1)
        oos = out_of_sample[np.arange(inside.shape[0]), best][:, None]
        rank = np.sum(out_of_sample < oos, axis=1) + (np.sum(out_of_sample == oos, axis=1) + 1.0) / 2.0
        omega[first : first + chunk] = rank / (trials + 1)
        best_oos[first : first + chunk] = oos[:, 0]
    logits = np.log(omega / (1.0 - omega))
    return OverfittingProbability(
        pbo=float(np.mean(logits <= 0)),
        splits=int(chosen.shape[0]),
        blocks=blocks,
        trials=trials,
        logits=tuple(float(value) for value in logits),
        probability_of_loss=float(np.mean(best_oos < 0)),
        median_oos_rank=float(np.median(omega)),
    )


def dsr_verdict(dsr: float, trials: int) -> str:
    """The deflated Sharpe ratio in plain words."""
    if not math.isfinite(dsr):
        return "The deflated Sharpe ratio cannot be computed (too few returns, or returns that never vary)."
    share = f"{dsr:.0%}"
    if dsr >= DSR_CONFIDENT:
        return (
            f"Likely real: after allowing for {trials} trials, there is a {share} chance that the best Sharpe ratio "
            "is above what luck alone would produce."
        )
    if dsr >= 0.5:
        return (
            f"Unproven: only a {share} chance that the best Sharpe ratio beats the best of {trials} skill-less "
            "trials; it may well be luck from trying many parameters."
        )
    return (
        f"Probably luck: the best Sharpe ratio is no better than the best of {trials} skill-less trials would be "
        f"({share} chance it is real)."
    )


def pbo_verdict(pbo: float) -> str:
    """The probability of backtest overfitting in plain words."""
    if not math.isfinite(pbo):
        return "The probability of backtest overfitting cannot be computed."
    share = f"{pbo:.0%}"
    if pbo < PBO_LOW:
        return (
            f"Low overfitting risk: the in-sample best stayed in the better half out-of-sample in all but {share} of "
            "the splits."
        )
    if pbo < PBO_HIGH:
        return (
            f"Some overfitting: in {share} of the splits the in-sample best fell to the worse half out-of-sample; "
            "expect less on new data."
        )
    return (
        f"Overfitted: in {share} of the splits the in-sample best fell to the worse half out-of-sample; picking by "
        "this backtest is no better than picking at random."
    )


@dataclass(frozen=True)
class OverfittingReport:
    """Both measures for one sweep or search (either may be missing, with the reason)."""

    deflated_sharpe: DeflatedSharpe | None
    pbo: OverfittingProbability | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "deflated_sharpe": self.deflated_sharpe.to_dict() if self.deflated_sharpe else None,
            "pbo": self.pbo.to_dict() if self.pbo else None,
            "note": self.note,
        }

    def verdict(self) -> str:
        parts = [measure.verdict for measure in (self.deflated_sharpe, self.pbo) if measure is not None]
        if self.note:
            parts.append(self.note)
        return " ".join(parts)


def overfitting_report(
    returns: Sequence[NDArray[np.float64]], chosen: int, *, blocks: int = 16, trials: int | None = None
) -> OverfittingReport:
    """DSR and PBO for trials given as equally long arrays of per-period returns; ``chosen`` is the best.

    ``trials`` counts every trial tried (pruned ones too) for the DSR; PBO uses the series given.
    """
    if len(returns) < 2:
        return OverfittingReport(None, None, "Only one trial: there was no selection to correct for.")
    dsr = deflated_sharpe_of_trials(returns, chosen, trials=trials)
    length = min(series.shape[0] for series in returns)
    usable = blocks
    while usable > 2 and length // usable < 2:
        usable -= 2
    note = ""
    pbo: OverfittingProbability | None = None
    if length // usable >= 2:
        matrix = np.column_stack([series[series.shape[0] - length :] for series in returns])
        pbo = probability_of_backtest_overfitting(matrix, usable)
        if usable < blocks:
            note = f"PBO used {usable} blocks instead of {blocks}: the sample has only {length} periods."
    else:
        note = f"PBO needs at least 4 periods; the sample has {length}."
    return OverfittingReport(dsr, pbo, note)


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    return {
        key: (None if isinstance(value, float) and not math.isfinite(value) else value) for key, value in values.items()
    }
