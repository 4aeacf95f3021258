"""Parameter search with optuna: TPE sampling, median pruning, a seed, on the fast path.

``run_search`` drives an optuna study through its ask-and-tell interface, so it owns the loop:
it reports progress, stops when asked, and can continue from the trials of an earlier attempt
(a resumed job). Each trial is scored by :class:`core.lab.evaluate.TrialEvaluator` (the compiled
simulator); with pruning on, a trial is first scored on the first quarter of the window and
abandoned if optuna's median pruner finds it below the median of the earlier trials there.
Repeated parameter sets (TPE proposes integers more than once) are scored once.

With the same seed, data and settings a search gives the same trials (a resumed search continues
with a fresh sampler state, so its later trials may differ from an uninterrupted run's). The best
trial is the one with the highest objective among completed trials; the result carries the
deflated Sharpe ratio and PBO over all completed trials (``core.lab.overfitting``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.backtest.strategy import Parameter, StrategyError
from core.lab.evaluate import OBJECTIVES, TrialEvaluator, TrialScore
from core.lab.overfitting import OverfittingReport, overfitting_report

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (done, total)
StopCheck = Callable[[], bool]

MAX_TRIALS = 100_000
PRUNE_MIN_BARS = 200  # a window's first quarter shorter than this is not worth pruning on
STARTUP_TRIALS = 10  # optuna: random trials before TPE, and before pruning starts
INVALID_VALUE = -1e12  # what optuna is told for a parameter set the strategy refuses


class SearchError(StrategyError):
    """A search that cannot run as asked (bad space, objective or trial count)."""


@dataclass(frozen=True)
class SearchRange:
    """The range one parameter is searched in (``step`` None: every integer, or continuous floats)."""

    name: str
    low: float
    high: float
    step: float | None = None
    integer: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "low": self.low, "high": self.high, "step": self.step, "integer": self.integer}


def parse_space(parameters: Sequence[Parameter], texts: Sequence[str]) -> dict[str, SearchRange]:
    """Parse ``name=low:high`` or ``name=low:high:step``; unnamed parameters keep their defaults."""
    known = {parameter.name: parameter for parameter in parameters}
    space: dict[str, SearchRange] = {}
    for text in texts:
        name, _, bounds = text.partition("=")
        name = name.strip()
        if name not in known:
            raise SearchError(f"unknown parameter {name!r} in {text!r} (it takes: {', '.join(known) or 'none'})")
        parts = bounds.split(":")
        try:
            numbers = [float(part) for part in parts]
        except ValueError:
            numbers = []
        if len(numbers) not in (2, 3) or numbers[1] <= numbers[0] or (len(numbers) == 3 and numbers[2] <= 0):
            raise SearchError(
                f"search range for {name} must be low:high or low:high:step with low < high, got {text!r}"
            )
        parameter = known[name]
        low, high = numbers[0], numbers[1]
        if low < parameter.minimum or high > parameter.maximum:
            raise SearchError(
                f"search range for {name} must stay within {parameter.minimum}..{parameter.maximum}, got {text!r}"
            )
        integer = parameter.kind is int
        step = numbers[2] if len(numbers) == 3 else None
        if integer and (not low.is_integer() or not high.is_integer() or (step is not None and not step.is_integer())):
            raise SearchError(f"{name} is a whole number: its search range must be too, got {text!r}")
        space[name] = SearchRange(name, low, high, step, integer)
    return space


def default_space(parameters: Sequence[Parameter]) -> dict[str, SearchRange]:
    """Every parameter over its whole allowed range."""
    return {
        parameter.name: SearchRange(
            parameter.name, float(parameter.minimum), float(parameter.maximum), None, parameter.kind is int
        )
        for parameter in parameters
    }


@dataclass(frozen=True)
class SearchTrial:
    """One trial: its parameters, how it ended and its metrics on the window."""

    number: int
    parameters: dict[str, int | float]
    state: str  # "complete", "pruned" or "invalid"
    value: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "parameters": self.parameters,
            "state": self.state,
            "value": _finite_or_none(self.value),
            "metrics": {key: _finite_or_none(value) for key, value in self.metrics.items()},
            "error": self.error,
        }


@dataclass
class SearchResult:
    """Every trial of a search, the best one and the overfitting measures."""

    strategy: str
    objective: str
    seed: int | None
    space: dict[str, SearchRange]
    window: tuple[int, int]
    trials: list[SearchTrial]
    overfitting: OverfittingReport
    seconds: float
    stopped: bool = False
    evaluations: int = 0

    @property
    def completed(self) -> list[SearchTrial]:
        return [trial for trial in self.trials if trial.state == "complete"]

    @property
    def best(self) -> SearchTrial | None:
        scored = [trial for trial in self.completed if trial.value is not None and math.isfinite(trial.value)]
        return max(scored, key=lambda trial: trial.value or 0.0) if scored else None

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {"complete": 0, "pruned": 0, "invalid": 0}
        for trial in self.trials:
            found[trial.state] = found.get(trial.state, 0) + 1
        return found

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "strategy": self.strategy,
            "objective": self.objective,
            "seed": self.seed,
            "space": {name: value.to_dict() for name, value in self.space.items()},
            "window": list(self.window),
            "trials": [trial.to_dict() for trial in self.trials],
            "counts": self.counts(),
            "best": best.to_dict() if best else None,
            "overfitting": self.overfitting.to_dict(),
            "verdict": self.overfitting.verdict(),
            "seconds": self.seconds,
            "stopped": self.stopped,
            "evaluations": self.evaluations,
        }


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _suggest(trial: Any, space: Mapping[str, SearchRange]) -> dict[str, int | float]:
    chosen: dict[str, int | float] = {}
    for name, bounds in space.items():
        if bounds.integer:
            chosen[name] = trial.suggest_int(name, int(bounds.low), int(bounds.high), step=int(bounds.step or 1))
        else:
            chosen[name] = trial.suggest_float(name, bounds.low, bounds.high, step=bounds.step)
    return chosen


def _distributions(space: Mapping[str, SearchRange]) -> dict[str, Any]:
    import optuna

    distributions: dict[str, Any] = {}
    for name, bounds in space.items():
        if bounds.integer:
            distributions[name] = optuna.distributions.IntDistribution(
                int(bounds.low), int(bounds.high), step=int(bounds.step or 1)
            )
        else:
            distributions[name] = optuna.distributions.FloatDistribution(bounds.low, bounds.high, step=bounds.step)
    return distributions


def _optuna_value(value: float) -> float:
    """Optuna takes finite numbers; ±inf (no variation) is clipped, it still ranks first or last."""
    return max(-1e12, min(1e12, value))


def run_search(
    evaluator: TrialEvaluator,
    space: Mapping[str, SearchRange],
    *,
    trials: int,
    seed: int | None = None,
    objective: str = "sharpe",
    pruning: bool = True,
    start: int = 0,
    stop: int | None = None,
    progress: Progress | None = None,
    should_stop: StopCheck | None = None,
    previous: Sequence[Mapping[str, Any]] = (),
    on_trial: Callable[[SearchTrial], None] | None = None,
) -> SearchResult:
    """Search ``space`` with ``trials`` optuna trials on bars ``start..stop-1`` (see the module docstring).

    ``previous`` holds trials of an earlier attempt (``SearchTrial.to_dict()``): they are given to
    the study as finished and count towards ``trials``. ``on_trial`` sees every new trial (e.g. to
    checkpoint).
    """
    import optuna

    if objective not in OBJECTIVES:
        raise SearchError(f"unknown objective {objective!r} (choose from: {', '.join(OBJECTIVES)})")
    if not 1 <= trials <= MAX_TRIALS:
        raise SearchError(f"the number of trials must be between 1 and {MAX_TRIALS}, got {trials}")
    if not space:
        raise SearchError("nothing to search: give at least one parameter range")
    stop = len(evaluator.bars) if stop is None else stop
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=STARTUP_TRIALS)
    quarter = start + (stop - start) // 4
    prune = pruning and quarter - start >= PRUNE_MIN_BARS
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=0)
        if prune
        else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    distributions = _distributions(space)
    done: list[SearchTrial] = []
    scores: dict[tuple[tuple[str, int | float], ...], TrialScore] = {}
    pruned: dict[tuple[tuple[str, int | float], ...], TrialScore] = {}
    for number, old in enumerate(previous):
        restored = SearchTrial(
            number, dict(old["parameters"]), old["state"], old.get("value"), dict(old.get("metrics") or {})
        )
        done.append(restored)
        _add_finished(study, restored, distributions, objective)
    began = time.perf_counter()
    stopped = False
    while len(done) < trials:
        if should_stop is not None and should_stop():
            stopped = True
            break
        trial = study.ask()
        parameters = _suggest(trial, space)
        key = tuple(sorted(parameters.items()))
        outcome = _run_trial(evaluator, trial, parameters, key, scores, pruned, objective, start, quarter, stop, prune)
        record = SearchTrial(
            len(done), outcome.parameters, outcome.state, outcome.value, outcome.metrics, outcome.error
        )
        if outcome.state == "complete" and outcome.value is not None:
            study.tell(trial, _optuna_value(outcome.value))
        elif outcome.state == "pruned":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:  # an invalid set scores the floor, so TPE learns to avoid its region
            study.tell(trial, INVALID_VALUE)
        done.append(record)
        if on_trial is not None:
            on_trial(record)
        if progress is not None:
            progress(len(done), trials)
    for record in done:  # trials restored from an earlier attempt: their returns for DSR and PBO
        key = tuple(sorted(record.parameters.items()))
        if record.state == "complete" and key not in scores:
            restored_score = evaluator.score(record.parameters, start, stop)
            if restored_score.error is None:
                scores[key] = restored_score
    seconds = time.perf_counter() - began
    report = _overfitting(done, scores, objective)
    logger.info("Search of %s: %d trials in %.1f s", evaluator.strategy_name, len(done), seconds)
    return SearchResult(
        strategy=evaluator.strategy_name,
        objective=objective,
        seed=seed,
        space=dict(space),
        window=(start, stop),
        trials=done,
        overfitting=report,
        seconds=seconds,
        stopped=stopped,
        evaluations=evaluator.evaluations,
    )


@dataclass(frozen=True)
class _Outcome:
    parameters: dict[str, int | float]
    state: str
    value: float | None
    metrics: dict[str, float]
    error: str | None = None


def _run_trial(
    evaluator: TrialEvaluator,
    trial: Any,
    parameters: dict[str, int | float],
    key: tuple[tuple[str, int | float], ...],
    scores: dict[tuple[tuple[str, int | float], ...], TrialScore],
    pruned: dict[tuple[tuple[str, int | float], ...], TrialScore],
    objective: str,
    start: int,
    quarter: int,
    stop: int,
    prune: bool,
) -> _Outcome:
    known = scores.get(key)
    if known is not None:
        return _Outcome(known.parameters, "complete", known.value(objective), known.metrics)
    abandoned = pruned.get(key)
    if abandoned is not None:  # proposed again after it was pruned: it stays pruned
        return _Outcome(abandoned.parameters, "pruned", None, abandoned.metrics)
    if prune:
        early = evaluator.score(parameters, start, quarter)
        if early.error is not None:
            return _Outcome(dict(parameters), "invalid", None, {}, early.error)
        early_value = early.value(objective)
        if math.isfinite(early_value):
            trial.report(_optuna_value(early_value), 0)
            if trial.should_prune():
                pruned[key] = early
                return _Outcome(early.parameters, "pruned", None, early.metrics)
    score = evaluator.score(parameters, start, stop)
    if score.error is not None:
        return _Outcome(dict(parameters), "invalid", None, {}, score.error)
    value = score.value(objective)
    if math.isnan(value):
        reason = f"no {objective} (no trades, or too few days)"
        return _Outcome(score.parameters, "invalid", None, score.metrics, reason)
    scores[key] = score
    return _Outcome(score.parameters, "complete", value, score.metrics)


def _add_finished(study: Any, trial: SearchTrial, distributions: dict[str, Any], objective: str) -> None:
    import optuna

    parameters = {name: trial.parameters[name] for name in distributions if name in trial.parameters}
    if len(parameters) != len(distributions):
        return
    if trial.state == "complete" and trial.value is not None:
        frozen = optuna.trial.create_trial(
            params=parameters, distributions=distributions, value=_optuna_value(trial.value)
        )
    elif trial.state == "pruned":
        frozen = optuna.trial.create_trial(
            params=parameters, distributions=distributions, state=optuna.trial.TrialState.PRUNED
        )
    else:
        frozen = optuna.trial.create_trial(params=parameters, distributions=distributions, value=INVALID_VALUE)
    study.add_trial(frozen)


def _overfitting(
    trials: Sequence[SearchTrial], scores: Mapping[tuple[tuple[str, int | float], ...], TrialScore], objective: str
) -> OverfittingReport:
    """DSR and PBO over the distinct completed trials scored in this attempt (every trial counts for N)."""
    distinct = list(scores.values())
    if len(distinct) < 2:
        return OverfittingReport(None, None, "Fewer than two distinct completed trials: nothing to compare.")
    values = np.array([score.value(objective) for score in distinct])
    chosen = int(np.nanargmax(np.where(np.isfinite(values), values, -np.inf)))
    tried = len({tuple(sorted(trial.parameters.items())) for trial in trials if trial.state != "invalid"})
    return overfitting_report([score.daily_returns for score in distinct], chosen, trials=tried)
