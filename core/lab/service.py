"""What the CLI, the page and the job kinds call: a lab request, its data, running and storing it.

A :class:`LabRequest` is the JSON-able description of an analysis (strategy, data, costs, search
space and budget); a job stores it as its parameters, so a worker can run it later, and the
stored result keeps it next to the outcome.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.backtest.engine import BacktestConfig
from core.backtest.series import PriceSeries
from core.backtest.strategies import strategy_class
from core.errors import PermanentError
from core.lab.evaluate import OBJECTIVES, TrialEvaluator
from core.lab.search import MAX_TRIALS, SearchRange, default_space, parse_space
from core.lab.walkforward import MAX_FOLDS, WindowKind

if TYPE_CHECKING:
    from core.db.engine import Database

CONFIG_FIELDS = (
    "initial_cash",
    "fee_bps",
    "slippage_bps",
    "position_fraction",
    "stop_loss",
    "take_profit",
    "trailing_stop",
)


class LabRequestError(PermanentError, ValueError):
    """A lab request that cannot run as given (nothing was started)."""


@dataclass(frozen=True)
class LabRequest:
    """One analysis as asked: strategy, data, costs, search space and budget."""

    strategy: str
    data: str  # a candle CSV file or a stored symbol
    timeframe: str | None = None
    start: str | None = None  # ISO dates or times (UTC)
    end: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)  # fixed parameters (not searched)
    space: tuple[str, ...] = ()  # "name=low:high[:step]"; empty: every parameter over its whole range
    config: dict[str, Any] = field(default_factory=dict)  # BacktestConfig fields
    trials: int = 100
    seed: int | None = 42
    objective: str = "sharpe"
    pruning: bool = True
    folds: int = 5
    window: str = WindowKind.ROLLING.value
    train_ratio: float = 3.0
    protections: dict[str, Any] | None = None  # core.backtest.protections.Protections fields; None: off

    def __post_init__(self) -> None:
        cls = strategy_class(self.strategy)  # StrategyError for an unknown one
        if self.objective not in OBJECTIVES:
            raise LabRequestError(f"unknown objective {self.objective!r} (choose from: {', '.join(OBJECTIVES)})")
        if self.window not in {kind.value for kind in WindowKind}:
            raise LabRequestError(f"window must be rolling or anchored, got {self.window!r}")
        if not 1 <= self.folds <= MAX_FOLDS:
            raise LabRequestError(f"the number of folds must be between 1 and {MAX_FOLDS}, got {self.folds}")
        if not 1 <= self.trials <= MAX_TRIALS:
            raise LabRequestError(f"the number of trials must be between 1 and {MAX_TRIALS}, got {self.trials}")
        if not (isinstance(self.train_ratio, int | float) and 0 < self.train_ratio < math.inf):
            raise LabRequestError(
                f"the training window must be a positive number of test windows, got {self.train_ratio}"
            )
        unknown = sorted(set(self.config) - set(CONFIG_FIELDS))
        if unknown:
            raise LabRequestError(f"unknown backtest setting {', '.join(unknown)}")
        self.backtest_config()  # validates the costs and exits
        self.search_space()  # validates the ranges
        known = {parameter.name for parameter in cls.parameters}
        extra = sorted(set(self.parameters) - known)
        if extra:
            raise LabRequestError(f"{self.strategy} has no parameter {', '.join(extra)}")
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None:
                self._when(name, value)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> LabRequest:
        """Rebuild a request from its JSON (a job's parameters); clear errors for bad input."""
        names = {item for item in cls.__dataclass_fields__}
        unknown = sorted(set(params) - names)
        if unknown:
            raise LabRequestError(f"unknown lab request field {', '.join(unknown)}")
        if "strategy" not in params or "data" not in params:
            raise LabRequestError("a lab request needs a strategy and data")
        values = dict(params)
        values["space"] = tuple(values.get("space") or ())
        try:
            return cls(**values)
        except TypeError as error:
            raise LabRequestError(f"bad lab request: {error}") from None

    def to_params(self) -> dict[str, Any]:
        values = asdict(self)
        values["space"] = list(self.space)
        return values

    def backtest_config(self) -> BacktestConfig:
        from core.backtest.protections import Protections

        try:
            protections = Protections(**self.protections) if self.protections is not None else None
            return BacktestConfig(**self.config, protections=protections)
        except (TypeError, ValueError) as error:
            raise LabRequestError(f"bad backtest settings: {error}") from None

    def search_space(self) -> dict[str, SearchRange]:
        parameters = strategy_class(self.strategy).parameters
        space = parse_space(parameters, self.space) if self.space else default_space(parameters)
        return {name: bounds for name, bounds in space.items() if name not in self.parameters}

    @staticmethod
    def _when(name: str, value: str) -> datetime:
        try:
            from core.timeutil import ensure_utc

            return ensure_utc(datetime.fromisoformat(value))
        except ValueError:
            raise LabRequestError(f"{name} must be an ISO date or time, got {value!r}") from None

    def window_times(self) -> tuple[datetime | None, datetime | None]:
        return (
            self._when("start", self.start) if self.start else None,
            self._when("end", self.end) if self.end else None,
        )


def live_protections() -> dict[str, Any]:
    """The protections with the risk limits in force (Settings → Risk), as a request stores them."""
    from core.backtest.protections import Protections
    from core.db.engine import get_database
    from core.risk.settings import load_limits

    with get_database().session() as session:
        return Protections.from_limits(load_limits(session)).to_dict()


def load_request_bars(request: LabRequest, database: Database | None = None) -> PriceSeries:
    """The candles a request names: a CSV file, or the stored candles of a symbol (in ``database``,
    default the configured one)."""
    from core.backtest.data import looks_like_file, read_candle_csv

    start, end = request.window_times()
    if looks_like_file(request.data):
        return read_candle_csv(request.data, timeframe=request.timeframe).between(start, end)
    from core.backtest.service import load_bars
    from core.backtest.strategies import build_strategy
    from core.db.engine import get_database

    with (database or get_database()).session() as session:
        return load_bars(
            session,
            request.data,
            request.timeframe or "1h",
            build_strategy(request.strategy, request.parameters),
            start=start,
            end=end,
        )


def evaluator_for(request: LabRequest, bars: PriceSeries) -> TrialEvaluator:
    return TrialEvaluator(request.strategy, bars, request.backtest_config(), base_parameters=request.parameters)


def store_result(
    kind: Any,
    request: LabRequest,
    bars: PriceSeries,
    result: dict[str, Any],
    verdict: str,
    seconds: float,
    database: Database | None = None,
) -> int:
    """Store a finished analysis in ``database`` (default the configured one); return its id."""
    from core.db.engine import get_database
    from core.lab.store import save_lab_result

    with (database or get_database()).session() as session:
        return save_lab_result(
            session,
            kind,
            request.strategy,
            bars,
            request.to_params(),
            _json_safe(result),
            verdict=verdict,
            seconds=seconds,
        )


def _json_safe(value: Any) -> Any:
    """NaN and infinities become None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_json_safe(item) for item in value]
    return value
