"""The robustness report of one strategy: the evidence for and against trusting its backtest.

Five sections, each with its figures and a plain-words verdict:

1. **Look-ahead**: the strategy on the full data and on truncated data must decide the same
   (the check is passed in as a callable, ``check(strategy, bars)`` returning an object with
   ``.clean``, ``.findings`` and ``.summary()``, so this module does not depend on where the check
   lives; without one the section says it was not run).
2. **Walk-forward**: out-of-sample against in-sample (``core.lab.walkforward``).
3. **Overfitting**: the deflated Sharpe ratio and PBO of an optuna search over the whole data
   (``core.lab.search``, ``core.lab.overfitting``).
4. **Costs**: the chosen parameters at 0, 1×, 2× and 3× the configured fee and slippage.
5. **Benchmark**: the chosen parameters against buying and holding the same bars.

The chosen parameters are the request's fixed parameters over the strategy's defaults.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from core.backtest.engine import EngineKind
from core.backtest.results import run_backtest
from core.backtest.series import PriceSeries
from core.backtest.strategies import build_strategy
from core.backtest.strategy import Strategy
from core.lab.evaluate import TrialEvaluator
from core.lab.search import Progress, StopCheck, run_search
from core.lab.service import LabRequest
from core.lab.walkforward import WalkForwardError, WindowKind, run_walk_forward

COST_MULTIPLES = (0.0, 1.0, 2.0, 3.0)
COST_METRICS = ("total_return", "sharpe", "max_drawdown", "trades", "fees_paid")
BENCHMARK_METRICS = ("total_return", "cagr", "sharpe", "max_drawdown", "annual_volatility")


class LookaheadFinding(Protocol):
    """What the injected look-ahead check returns (``core.backtest.lookahead.LookaheadReport``)."""

    @property
    def clean(self) -> bool: ...

    @property
    def findings(self) -> Any: ...

    def summary(self) -> str: ...


LookaheadCheck = Callable[[Strategy, PriceSeries], LookaheadFinding]


@dataclass
class RobustnessSection:
    """One part of the report: a title, a verdict in plain words, whether it is a warning, and figures."""

    key: str
    title: str
    verdict: str
    warning: bool
    figures: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "verdict": self.verdict,
            "warning": self.warning,
            "figures": self.figures,
        }


@dataclass
class RobustnessReport:
    """Every section for one strategy, parameter set and data."""

    strategy: str
    parameters: dict[str, int | float]
    data_label: str
    timeframe: str
    start: str
    end: str
    candles: int
    sections: list[RobustnessSection]
    seconds: float = 0.0

    def section(self, key: str) -> RobustnessSection | None:
        return next((section for section in self.sections if section.key == key), None)

    def verdict(self) -> str:
        warnings = [section.title for section in self.sections if section.warning]
        if not warnings:
            return "No warning sign in any section; the result held up in every check that was run."
        return f"Warning signs in: {', '.join(warnings)}. Read those sections before trusting the backtest."

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "parameters": self.parameters,
            "data": self.data_label,
            "timeframe": self.timeframe,
            "start": self.start,
            "end": self.end,
            "candles": self.candles,
            "sections": [section.to_dict() for section in self.sections],
            "verdict": self.verdict(),
            "seconds": self.seconds,
        }


def _finite(value: float) -> float | None:
    return value if isinstance(value, int | float) and math.isfinite(value) else None


def _describe(finding: object) -> str:
    describe = getattr(finding, "describe", None)
    return str(describe()) if callable(describe) else str(finding)


def lookahead_section(check: LookaheadCheck | None, strategy: Strategy, bars: PriceSeries) -> RobustnessSection:
    if check is None:
        return RobustnessSection(
            "lookahead",
            "Look-ahead",
            "Not run: no look-ahead check was available to this report.",
            False,
            {"run": False},
        )
    found = check(strategy, bars)
    findings = list(found.findings or [])
    figures = {
        "run": True,
        "clean": bool(found.clean),
        "findings": len(findings),
        "details": [_describe(item) for item in findings[:20]],
    }
    if found.clean:
        return RobustnessSection("lookahead", "Look-ahead", f"Clean: {found.summary()}", False, figures)
    return RobustnessSection(
        "lookahead",
        "Look-ahead",
        f"Peeks into the future — the backtest is not valid: {found.summary()}",
        True,
        figures,
    )


def cost_section(request: LabRequest, bars: PriceSeries, strategy: Strategy) -> RobustnessSection:
    config = request.backtest_config()
    rows = []
    for multiple in COST_MULTIPLES:
        scaled = replace(config, fee_bps=config.fee_bps * multiple, slippage_bps=config.slippage_bps * multiple)
        result = run_backtest(strategy, bars, scaled, engine=_engine(strategy))
        rows.append(
            {
                "multiple": multiple,
                "fee_bps": scaled.fee_bps,
                "slippage_bps": scaled.slippage_bps,
                **{name: _finite(result.metrics.get(name, math.nan)) for name in COST_METRICS},
            }
        )
    at = {row["multiple"]: row for row in rows}
    base = at[1.0]["total_return"]
    doubled = at[2.0]["total_return"]
    free = at[0.0]["total_return"]
    if config.fee_bps == 0 and config.slippage_bps == 0:
        verdict, warning = "No costs are configured, so scaling them changes nothing; set a fee to test this.", True
    elif base is None or doubled is None:
        verdict, warning = "The returns could not be computed at every cost level.", True
    elif base <= 0:
        verdict = (
            f"Loses money at the configured costs ({base:+.1%}); without any costs the result would be "
            f"{free or 0:+.1%}."
        )
        warning = True
    elif doubled <= 0:
        verdict = (
            f"Fragile: {base:+.1%} at the configured costs, but {doubled:+.1%} at twice the costs — a little more "
            "slippage than assumed erases the edge."
        )
        warning = True
    else:
        verdict = (
            f"Survives higher costs: {base:+.1%} at the configured costs, {doubled:+.1%} at twice and "
            f"{at[3.0]['total_return'] or 0:+.1%} at three times them."
        )
        warning = False
    return RobustnessSection("costs", "Fees and slippage", verdict, warning, {"rows": rows})


def benchmark_section(request: LabRequest, bars: PriceSeries, strategy: Strategy) -> RobustnessSection:
    result = run_backtest(strategy, bars, request.backtest_config(), engine=_engine(strategy))
    rows = {
        name: {
            "strategy": _finite(result.metrics.get(name, math.nan)),
            "buy_and_hold": _finite(result.baseline_metrics.get(name, math.nan)),
        }
        for name in BENCHMARK_METRICS
    }
    mine, theirs = result.metrics["total_return"], result.baseline_metrics["total_return"]
    sharpe, hold_sharpe = result.metrics.get("sharpe", math.nan), result.baseline_metrics.get("sharpe", math.nan)
    if mine > theirs and (not math.isfinite(hold_sharpe) or sharpe >= hold_sharpe):
        verdict, warning = (
            f"Beats buy-and-hold: {mine:+.1%} against {theirs:+.1%}, with a Sharpe at least as good.",
            False,
        )
    elif mine > theirs:
        verdict = f"Earns more than buy-and-hold ({mine:+.1%} against {theirs:+.1%}) but with a worse Sharpe ratio."
        warning = False
    else:
        verdict = f"Worse than simply buying and holding: {mine:+.1%} against {theirs:+.1%}."
        warning = True
    return RobustnessSection("benchmark", "Against buy-and-hold", verdict, warning, {"metrics": rows})


def _engine(strategy: Strategy) -> EngineKind:
    return EngineKind.FAST if strategy.has_fast_path() else EngineKind.EVENT


def build_report(
    request: LabRequest,
    bars: PriceSeries,
    *,
    lookahead: LookaheadCheck | None = None,
    progress: Progress | None = None,
    should_stop: StopCheck | None = None,
) -> RobustnessReport:
    """Build every section for ``request`` on ``bars`` (see the module docstring)."""
    began = time.perf_counter()
    strategy = build_strategy(request.strategy, request.parameters)
    evaluator = TrialEvaluator(request.strategy, bars, request.backtest_config(), base_parameters=request.parameters)
    space = request.search_space()
    total = request.trials + request.folds * request.trials + 3
    done = 0

    def step(count: int = 1) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, total)

    sections = [lookahead_section(lookahead, strategy, bars)]
    step()
    if space:
        sections.append(_walk_forward_section(request, evaluator, space, progress, should_stop, total, done))
        step(request.folds * request.trials)
        base = done

        def search_progress(finished: int, _total: int) -> None:
            if progress is not None:
                progress(base + finished, total)

        search = run_search(
            evaluator,
            space,
            trials=request.trials,
            seed=request.seed,
            objective=request.objective,
            pruning=request.pruning,
            should_stop=should_stop,
            progress=search_progress,
        )
        step(request.trials)
        report = search.overfitting
        dsr, pbo = report.deflated_sharpe, report.pbo
        best = search.best
        warning = (dsr is not None and dsr.dsr < 0.95) or (pbo is not None and pbo.pbo >= 0.5)
        sections.append(
            RobustnessSection(
                "overfitting",
                "Overfitting",
                report.verdict() or "Not enough trials to measure.",
                warning,
                {**report.to_dict(), "trials": len(search.trials), "best": best.to_dict() if best else None},
            )
        )
    else:
        sections.append(RobustnessSection("walk_forward", "Walk-forward", "Not run: no parameter is searched.", False))
        sections.append(RobustnessSection("overfitting", "Overfitting", "Not run: no parameter is searched.", False))
        step(request.folds * request.trials + request.trials)
    sections.append(cost_section(request, bars, strategy))
    sections.append(benchmark_section(request, bars, strategy))
    step()
    return RobustnessReport(
        strategy=request.strategy,
        parameters=dict(strategy.params),
        data_label=bars.label,
        timeframe=bars.timeframe,
        start=bars.index[0].isoformat(),
        end=bars.index[-1].isoformat(),
        candles=len(bars),
        sections=sections,
        seconds=time.perf_counter() - began,
    )


def _walk_forward_section(
    request: LabRequest,
    evaluator: TrialEvaluator,
    space: Any,
    progress: Progress | None,
    should_stop: StopCheck | None,
    total: int,
    base: int,
) -> RobustnessSection:
    try:
        walk = run_walk_forward(
            evaluator,
            space,
            folds=request.folds,
            trials=request.trials,
            kind=WindowKind(request.window),
            train_ratio=request.train_ratio,
            seed=request.seed,
            objective=request.objective,
            pruning=request.pruning,
            should_stop=should_stop,
            progress=(lambda d, _t: progress(base + d, total)) if progress else None,
        )
    except WalkForwardError as error:
        return RobustnessSection("walk_forward", "Walk-forward", f"Not run: {error}.", True)
    summary = walk.summary()
    mean_out = summary["mean_out_of_sample"]
    warning = not math.isfinite(mean_out) or mean_out <= 0 or not summary["efficiency"] >= 0.5
    return RobustnessSection("walk_forward", "Walk-forward", walk.verdict(), warning, walk.to_dict())
