"""``konsens backtest-search``, ``konsens backtest-walk-forward`` and ``konsens backtest-robustness`` (the lab)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from app.cli._common import echo_json, fail, open_database

if TYPE_CHECKING:
    from core.backtest.series import PriceSeries
    from core.lab.models import LabKind
    from core.lab.service import LabRequest

# The options the three commands share (typer copies an option's declaration for each command).
_STRATEGY = typer.Argument(..., help="Strategy name.")
_DATA = typer.Option(..., "--data", help="A candle CSV file or a stored instrument symbol.")
_SPACE = typer.Option(
    [], "--space", help="Searched parameter name=low:high or name=low:high:step (repeatable; default: every parameter)."
)
_TIMEFRAME = typer.Option(None, "--timeframe")
_FEE_BPS = typer.Option(10.0, "--fee-bps")
_CASH = typer.Option(10_000.0, "--cash")
_PROTECTIONS = typer.Option(
    False,
    "--protections/--no-protections",
    help="Apply the live risk guard's protections (saved risk limits) as live trading would.",
)
_STORE = typer.Option(True, "--store/--no-store")
_JSON = typer.Option(False, "--json")
_JOB = typer.Option(
    False, "--job", help="Queue it for the jobs worker instead of running it here (closing the terminal loses nothing)."
)


@dataclass(frozen=True)
class LabOptions:
    """What a lab command was given on the command line; ``request()`` turns it into the lab's request.

    ``folds``, ``window`` and ``train_ratio`` are None where a command has no such option (the
    request's default applies); ``store``, ``as_json`` and ``job`` say what to do with the result.
    """

    strategy: str
    data: str
    param: tuple[str, ...]
    space: tuple[str, ...]
    trials: int
    seed: int | None
    objective: str
    timeframe: str | None
    start: str | None
    end: str | None
    fee_bps: float
    slippage_bps: float
    cash: float
    pruning: bool = True
    protections: bool = False
    folds: int | None = None
    window: str | None = None
    train_ratio: float | None = None
    store: bool = True
    as_json: bool = False
    job: bool = False

    def parameters(self) -> dict[str, object]:
        """The fixed parameters of ``--param name=value``; a pair without ``=`` or name fails."""
        parameters: dict[str, object] = {}
        for pair in self.param:
            name, separator, value = pair.partition("=")
            if not separator or not name.strip():
                fail(f"--param takes name=value, got {pair!r}")
            parameters[name.strip()] = value.strip()
        return parameters

    def request(self) -> LabRequest:
        """Build and validate the lab request; bad input fails with its reason."""
        from core.backtest.strategy import StrategyError
        from core.lab.service import LabRequest, LabRequestError, live_protections
        from core.risk.settings import InvalidRiskLimits

        parameters = self.parameters()
        limits = None
        if self.protections:
            open_database()
            try:
                limits = live_protections()
            except InvalidRiskLimits as error:
                fail(str(error))
        walk_forward: dict[str, Any] = {"folds": self.folds, "window": self.window, "train_ratio": self.train_ratio}
        try:
            return LabRequest(
                strategy=self.strategy,
                data=self.data,
                timeframe=self.timeframe,
                start=self.start,
                end=self.end,
                parameters=parameters,
                space=self.space,
                config={"fee_bps": self.fee_bps, "slippage_bps": self.slippage_bps, "initial_cash": self.cash},
                trials=self.trials,
                seed=self.seed,
                objective=self.objective,
                pruning=self.pruning,
                protections=limits,
                **{name: value for name, value in walk_forward.items() if value is not None},
            )
        except (LabRequestError, StrategyError) as error:
            fail(str(error))


def _queue(kind: str, request: LabRequest, as_json: bool) -> None:
    from pathlib import Path

    from app.cli.jobs import queue_job

    params = request.to_params()
    if _is_file(request.data):  # the worker may run elsewhere: name the file absolutely
        params["data"] = str(Path(request.data).resolve())
    queue_job(kind, params, as_json=as_json)


def _bars(request: LabRequest) -> PriceSeries:
    from core.backtest.series import PriceDataError
    from core.lab.service import load_request_bars

    if not _is_file(request.data):
        open_database()  # migrate before reading stored candles
    try:
        return load_request_bars(request)
    except (PriceDataError, ValueError) as error:
        fail(str(error))


def _is_file(data: str) -> bool:
    from core.backtest.data import looks_like_file

    return bool(looks_like_file(data))


@contextmanager
def _progress(description: str, disable: bool) -> Iterator[Callable[[int, int], None]]:
    """A tqdm bar of trials (none with ``--json``); yields the ``progress(done, total)`` callback that moves it."""
    from tqdm import tqdm

    with tqdm(total=1, desc=description, unit="trial", disable=disable) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        yield progress


def _finish(
    options: LabOptions,
    kind: LabKind,
    request: LabRequest,
    bars: PriceSeries,
    data: dict[str, Any],
    verdict: str,
    seconds: float,
    lines: Callable[[], Iterable[str]],
) -> None:
    """Store the result (unless ``--no-store``); print it as JSON, or its ``lines`` and the verdict."""
    result_id = None
    if options.store:
        from core.lab.service import store_result

        open_database()
        result_id = store_result(kind, request, bars, data, verdict, seconds)
    if options.as_json:
        echo_json({**data, "result_id": result_id})
        return
    for line in lines():
        typer.echo(line)
    typer.echo(verdict)
    if result_id is not None:
        typer.echo(f"Stored as lab result {result_id}.")


def register(cli: typer.Typer) -> None:
    @cli.command("backtest-search")
    def backtest_search(
        strategy: str = _STRATEGY,
        data: str = _DATA,
        space: list[str] = _SPACE,
        param: list[str] = typer.Option([], "--param", help="Fixed parameter name=value (repeatable)."),
        trials: int = typer.Option(200, "--trials", help="Number of optuna trials."),
        seed: int | None = typer.Option(42, "--seed", help="Sampler seed: the same seed gives the same trials."),
        objective: str = typer.Option("sharpe", "--objective", help="sharpe, sortino, total_return or calmar."),
        pruning: bool = typer.Option(True, "--pruning/--no-pruning", help="Abandon trials weak on the first quarter."),
        timeframe: str | None = _TIMEFRAME,
        start: str | None = typer.Option(None, "--start", help="First day (ISO)."),
        end: str | None = typer.Option(None, "--end", help="Day after the last (ISO)."),
        fee_bps: float = _FEE_BPS,
        slippage_bps: float = typer.Option(0.0, "--slippage-bps"),
        cash: float = _CASH,
        protections: bool = _PROTECTIONS,
        store: bool = _STORE,
        as_json: bool = _JSON,
        job: bool = _JOB,
    ) -> None:
        """Search a strategy's parameters with optuna (TPE, pruning, seed); print the best and the overfitting."""
        from core.lab.models import LabKind
        from core.lab.search import run_search
        from core.lab.service import evaluator_for

        options = LabOptions(
            strategy=strategy,
            data=data,
            param=tuple(param),
            space=tuple(space),
            trials=trials,
            seed=seed,
            objective=objective,
            timeframe=timeframe,
            start=start,
            end=end,
            fee_bps=fee_bps,
            slippage_bps=slippage_bps,
            cash=cash,
            pruning=pruning,
            protections=protections,
            store=store,
            as_json=as_json,
            job=job,
        )
        request = options.request()
        if options.job:
            _queue("lab.search", request, options.as_json)
            return
        bars = _bars(request)
        with _progress(f"search {strategy}", as_json) as progress:
            result = run_search(
                evaluator_for(request, bars),
                request.search_space(),
                trials=trials,
                seed=seed,
                objective=objective,
                pruning=pruning,
                progress=progress,
            )

        def lines() -> Iterator[str]:
            counts = result.counts()
            yield (
                f"{len(result.trials)} trials: {counts['complete']} complete, {counts['pruned']} pruned, "
                f"{counts['invalid']} invalid ({result.seconds:.1f} s)."
            )
            distinct = {tuple(trial.parameters.items()): trial for trial in result.completed}
            ranked = sorted(distinct.values(), key=lambda trial: trial.value or float("-inf"), reverse=True)[:10]
            for trial in ranked:
                shown = ", ".join(f"{name}={value}" for name, value in trial.parameters.items())
                yield f"  {objective} {trial.value:8.3f}  {shown}"

        verdict = result.overfitting.verdict()
        _finish(options, LabKind.SEARCH, request, bars, result.to_dict(), verdict, result.seconds, lines)

    @cli.command("backtest-walk-forward")
    def backtest_walk_forward(
        strategy: str = _STRATEGY,
        data: str = _DATA,
        folds: int = typer.Option(5, "--folds", help="Number of test windows."),
        window: str = typer.Option("rolling", "--window", help="rolling or anchored training windows."),
        train_ratio: float = typer.Option(3.0, "--train-ratio", help="Training window length in test windows."),
        space: list[str] = _SPACE,
        param: list[str] = typer.Option([], "--param", help="Fixed parameter name=value (repeatable)."),
        trials: int = typer.Option(100, "--trials", help="Optuna trials per fold."),
        seed: int | None = typer.Option(42, "--seed"),
        objective: str = typer.Option("sharpe", "--objective"),
        pruning: bool = typer.Option(True, "--pruning/--no-pruning"),
        timeframe: str | None = _TIMEFRAME,
        start: str | None = typer.Option(None, "--start"),
        end: str | None = typer.Option(None, "--end"),
        fee_bps: float = _FEE_BPS,
        slippage_bps: float = typer.Option(0.0, "--slippage-bps"),
        cash: float = _CASH,
        protections: bool = _PROTECTIONS,
        store: bool = _STORE,
        as_json: bool = _JSON,
        job: bool = _JOB,
    ) -> None:
        """Walk-forward: optimise on each training window, trade the next; print every fold and the OOS result."""
        from core.backtest.strategy import StrategyError
        from core.lab.models import LabKind
        from core.lab.service import evaluator_for
        from core.lab.walkforward import WindowKind, run_walk_forward

        options = LabOptions(
            strategy=strategy,
            data=data,
            param=tuple(param),
            space=tuple(space),
            trials=trials,
            seed=seed,
            objective=objective,
            timeframe=timeframe,
            start=start,
            end=end,
            fee_bps=fee_bps,
            slippage_bps=slippage_bps,
            cash=cash,
            pruning=pruning,
            protections=protections,
            folds=folds,
            window=window,
            train_ratio=train_ratio,
            store=store,
            as_json=as_json,
            job=job,
        )
        request = options.request()
        if options.job:
            _queue("lab.walk_forward", request, options.as_json)
            return
        bars = _bars(request)
        try:
            with _progress(f"walk-forward {strategy}", as_json) as progress:
                result = run_walk_forward(
                    evaluator_for(request, bars),
                    request.search_space(),
                    folds=folds,
                    trials=trials,
                    kind=WindowKind(window),
                    train_ratio=train_ratio,
                    seed=seed,
                    objective=objective,
                    pruning=pruning,
                    progress=progress,
                )
        except StrategyError as error:
            fail(str(error))

        def lines() -> Iterator[str]:
            for fold in result.folds:
                shown = ", ".join(f"{name}={value}" for name, value in fold.parameters.items())
                yield (
                    f"fold {fold.bounds.number + 1}: train {fold.train_period[0][:10]}..{fold.train_period[1][:10]} "
                    f"test {fold.test_period[0][:10]}..{fold.test_period[1][:10]}  {shown}  "
                    f"IS {objective} {fold.in_sample.get(objective, float('nan')):.2f}  "
                    f"OOS {objective} {fold.out_of_sample.get(objective, float('nan')):.2f}  "
                    f"OOS return {fold.out_of_sample.get('total_return', float('nan')):+.2%}"
                )
            yield f"Stitched out-of-sample return {result.summary()['oos_total_return']:+.2%}."

        _finish(options, LabKind.WALK_FORWARD, request, bars, result.to_dict(), result.verdict(), result.seconds, lines)

    @cli.command("backtest-robustness")
    def backtest_robustness(
        strategy: str = _STRATEGY,
        data: str = _DATA,
        param: list[str] = typer.Option([], "--param", help="The parameter set to judge, name=value (repeatable)."),
        space: list[str] = _SPACE,
        trials: int = typer.Option(100, "--trials", help="Optuna trials of the search and of each fold."),
        folds: int = typer.Option(5, "--folds"),
        window: str = typer.Option("rolling", "--window"),
        seed: int | None = typer.Option(42, "--seed"),
        objective: str = typer.Option("sharpe", "--objective"),
        timeframe: str | None = _TIMEFRAME,
        start: str | None = typer.Option(None, "--start"),
        end: str | None = typer.Option(None, "--end"),
        fee_bps: float = _FEE_BPS,
        slippage_bps: float = typer.Option(5.0, "--slippage-bps"),
        cash: float = _CASH,
        protections: bool = _PROTECTIONS,
        store: bool = _STORE,
        as_json: bool = _JSON,
        job: bool = _JOB,
    ) -> None:
        """The robustness report of a strategy: look-ahead, walk-forward, overfitting, costs, buy-and-hold."""
        from core.lab.job_runs import LOOKAHEAD_CHECK
        from core.lab.models import LabKind
        from core.lab.robustness import build_report

        options = LabOptions(
            strategy=strategy,
            data=data,
            param=tuple(param),
            space=tuple(space),
            trials=trials,
            seed=seed,
            objective=objective,
            timeframe=timeframe,
            start=start,
            end=end,
            fee_bps=fee_bps,
            slippage_bps=slippage_bps,
            cash=cash,
            protections=protections,
            folds=folds,
            window=window,
            store=store,
            as_json=as_json,
            job=job,
        )
        request = options.request()
        if options.job:
            _queue("lab.robustness", request, options.as_json)
            return
        bars = _bars(request)
        with _progress(f"robustness {strategy}", as_json) as progress:
            report = build_report(request, bars, lookahead=LOOKAHEAD_CHECK, progress=progress)

        def lines() -> Iterator[str]:
            for section in report.sections:
                yield f"{'!' if section.warning else '·'} {section.title}: {section.verdict}"

        _finish(options, LabKind.ROBUSTNESS, request, bars, report.to_dict(), report.verdict(), report.seconds, lines)
