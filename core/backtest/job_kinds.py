"""Backtest work as jobs for the jobs worker: one backtest, a grid sweep (resumable), an AI replay.

Parameters are plain JSON (see each ``_validate_*``); they are checked when the job is submitted,
so a job that cannot run is refused before it is queued. ``data`` is a stored instrument symbol
(``BTC/EUR``) or a candle CSV file the worker can read. Results name the stored run
(``run_id``, ``konsens backtest-runs``), so the Backtest page shows them with its usual views.

Heavy imports (pandas, numpy, numba, the engines) happen inside the functions: this module is
imported by ``core.jobs.kinds.job_kinds()`` in every process that submits jobs. Checking a job on
submit needs none of them: the strategy names and parameters come from the cheap catalogue
(:mod:`core.backtest.catalogue`), the costs and engines from :mod:`core.backtest.trades`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from core.jobs.kinds import JobContext, JobKind, JsonDict, job_database, job_service

if TYPE_CHECKING:
    from core.backtest.parameters import Parameter

CHECKPOINT_SECONDS = 1.0  # a sweep stores its rows done at most this often


def _number(params: Mapping[str, Any], name: str, default: float | None, *, low: float = 0.0) -> float | None:
    value = params.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < low:
        raise ValueError(f"{name} must be a number of at least {low:g}, got {value!r}")
    return float(value)


def _text(params: Mapping[str, Any], name: str, default: str | None = None) -> str | None:
    value = params.get(name, default)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValueError(f"{name} must be a non-empty text, got {value!r}")
    return value.strip() if isinstance(value, str) else None


def _when(params: Mapping[str, Any], name: str) -> str | None:
    from core.timeutil import parse_utc

    value = _text(params, name)
    if value is None:
        return None
    try:
        return parse_utc(value).isoformat()
    except ValueError:
        raise ValueError(f"{name} must be a date or ISO time, got {value!r}") from None


def _data(params: Mapping[str, Any], *, files: bool = True) -> dict[str, Any]:
    from core.backtest.data import looks_like_file
    from core.market.timeframes import TIMEFRAME_SECONDS

    data = _text(params, "data")
    if data is None:
        raise ValueError("data (a stored symbol such as BTC/EUR, or a candle CSV file) is required")
    timeframe = _text(params, "timeframe")
    if timeframe is not None and timeframe not in TIMEFRAME_SECONDS:
        raise ValueError(f"unknown timeframe {timeframe!r} (choose from {', '.join(TIMEFRAME_SECONDS)})")
    is_file = looks_like_file(data)
    if is_file and not files:
        raise ValueError(f"{data!r} is a file; this job needs a stored instrument symbol")
    if is_file:
        from pathlib import Path

        path = Path(data).expanduser()
        if not path.is_file():
            raise ValueError(f"no candle file {data!r}")
        data = str(path.resolve())
    start, end = _when(params, "start"), _when(params, "end")
    if start is not None and end is not None and end <= start:
        raise ValueError("end must be after start")
    return {"data": data, "timeframe": timeframe, "start": start, "end": end}


def _config(params: Mapping[str, Any]) -> dict[str, Any]:
    from core.backtest.trades import BacktestConfig

    values = {
        "initial_cash": _number(params, "initial_cash", 10_000.0),
        "fee_bps": _number(params, "fee_bps", 10.0),
        "slippage_bps": _number(params, "slippage_bps", 0.0),
        "stop_loss": _number(params, "stop_loss", None),
        "take_profit": _number(params, "take_profit", None),
        "trailing_stop": _number(params, "trailing_stop", None),
    }
    BacktestConfig(**values)  # type: ignore[arg-type]  # raises ValueError with the reason
    return values


def _known_parameters(strategy: str) -> dict[str, Parameter]:
    from core.backtest.catalogue import strategy_parameters, unknown_strategy_message

    catalogue = strategy_parameters()
    if strategy not in catalogue:
        raise ValueError(unknown_strategy_message(strategy, catalogue))
    return {parameter.name: parameter for parameter in catalogue[strategy]}


def _strategy_parameters(strategy: str, values: object, label: str) -> dict[str, int | float]:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ValueError(f"{label} must be an object of name: value")
    known = _known_parameters(strategy)
    parsed: dict[str, int | float] = {}
    for name, value in values.items():
        if name not in known:
            raise ValueError(f"{strategy} has no parameter {name}")
        parsed[name] = known[name].parse(value)
    return parsed


def _engine(params: Mapping[str, Any]) -> str | None:
    from core.backtest.trades import EngineKind

    engine = _text(params, "engine")
    if engine is not None and engine not in {kind.value for kind in EngineKind}:
        raise ValueError(f"engine must be one of {', '.join(kind.value for kind in EngineKind)}, got {engine!r}")
    return engine


def _strategy(params: Mapping[str, Any]) -> str:
    """The strategy named in ``params``: a name from the cheap catalogue (:mod:`core.backtest.catalogue`)."""
    from core.backtest.catalogue import strategy_parameters, unknown_strategy_message

    strategy = _text(params, "strategy")
    catalogue = strategy_parameters()
    if strategy not in catalogue:
        raise ValueError(unknown_strategy_message(strategy, catalogue))
    return strategy


def _load(context: JobContext, strategy: Any) -> Any:
    """The bars a job runs on: a CSV file, or stored candles (with the recorded consensus if needed)."""
    from core.backtest.data import looks_like_file, read_candle_csv
    from core.backtest.service import load_bars
    from core.timeutil import parse_utc

    params = context.params
    start = parse_utc(params["start"]) if params.get("start") else None
    end = parse_utc(params["end"]) if params.get("end") else None
    if looks_like_file(params["data"]):
        return read_candle_csv(params["data"], timeframe=params.get("timeframe")).between(start, end)
    with job_database(context).session() as session:
        return load_bars(session, params["data"], params.get("timeframe") or "1h", strategy, start=start, end=end)


# --- one backtest --------------------------------------------------------------------------------


def _validate_backtest(params: Mapping[str, Any]) -> JsonDict:
    strategy = _strategy(params)
    return {
        "strategy": strategy,
        "parameters": _strategy_parameters(strategy, params.get("parameters"), "parameters"),
        **_data(params),
        **_config(params),
        "engine": _engine(params) or "event",
    }


def run_backtest_job(context: JobContext) -> JsonDict:
    """Backtest one parameter set and store the run."""
    from core.backtest.engine import BacktestConfig, EngineKind
    from core.backtest.results import run_backtest
    from core.backtest.store import save_result
    from core.backtest.strategies import build_strategy

    params = context.params
    context.progress(0, 3, "loading candles")
    strategy = build_strategy(params["strategy"], dict(params["parameters"]))
    bars = _load(context, strategy)
    context.progress(1, 3, f"backtesting {len(bars):,} candles")
    config = BacktestConfig(**{name: params[name] for name in _CONFIG_NAMES})
    result = run_backtest(strategy, bars, config, engine=EngineKind(params["engine"]))
    context.progress(2, 3, "storing the run")
    with job_database(context).session() as session:
        run_id = save_result(session, result)
    return {"run_id": run_id, "trades": len(result.trades), "metrics": _finite(result.metrics)}


_CONFIG_NAMES = ("initial_cash", "fee_bps", "slippage_bps", "stop_loss", "take_profit", "trailing_stop")


def _finite(values: Mapping[str, float]) -> dict[str, float | None]:
    return {key: (float(value) if math.isfinite(value) else None) for key, value in values.items()}


# --- a grid sweep (resumable) --------------------------------------------------------------------


def _validate_sweep(params: Mapping[str, Any]) -> JsonDict:
    from core.backtest.parameters import MAX_COMBINATIONS, parse_values

    strategy = _strategy(params)
    grid = params.get("grid")
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError("grid must name at least one parameter and its values")
    known = _known_parameters(strategy)
    parsed: dict[str, list[int | float]] = {}
    for name, values in grid.items():
        if name not in known:
            raise ValueError(f"{strategy} has no parameter {name}")
        if isinstance(values, str):
            values = parse_values(name, values)
        if not isinstance(values, list) or not values:
            raise ValueError(f"grid values of {name} must be a list or start:stop:step")
        parsed[name] = [known[name].parse(value) for value in values]
    combinations = math.prod(len(values) for values in parsed.values())
    if combinations > MAX_COMBINATIONS:
        raise ValueError(f"{combinations} combinations is too many (at most {MAX_COMBINATIONS})")
    base = _strategy_parameters(strategy, params.get("base_parameters"), "base_parameters")
    return {
        "strategy": strategy,
        "grid": parsed,
        "base_parameters": base,
        **_data(params),
        **_config(params),
        "engine": _engine(params),
        "metric": _text(params, "metric", "sharpe"),
        "store": bool(params.get("store", True)),
    }


def _data_label(data: str) -> str:
    """A stored symbol as it is (BTC/EUR), a file by its name."""
    from pathlib import Path

    return Path(data).name if data.lower().endswith(".csv") or Path(data).is_file() else data


def _describe_sweep(params: Mapping[str, Any]) -> str:
    axes = " × ".join(f"{name} ({len(values)})" for name, values in params["grid"].items())
    return f"Sweep {params['strategy']} over {axes} on {_data_label(str(params['data']))}"


def run_sweep_job(context: JobContext) -> JsonDict:
    """Run the grid, checkpointing the rows done; a restarted attempt continues after them."""
    from core.backtest.engine import BacktestConfig, EngineKind
    from core.backtest.store import save_sweep
    from core.backtest.strategies import strategy_class
    from core.backtest.sweep import SweepRow, run_sweep

    params = context.params
    rows_done = [_row_from_json(row) for row in (context.checkpoint_state or {}).get("rows", [])]
    context.progress(len(rows_done), 0, "loading candles")
    bars = _load(context, strategy_class(params["strategy"])())
    config = BacktestConfig(**{name: params[name] for name in _CONFIG_NAMES})
    rows: list[JsonDict] = [_row_json(row) for row in rows_done]
    last_checkpoint = time.monotonic()

    def on_row(row: SweepRow) -> None:
        nonlocal last_checkpoint
        rows.append(_row_json(row))
        if time.monotonic() - last_checkpoint >= CHECKPOINT_SECONDS:
            context.checkpoint({"rows": rows})
            last_checkpoint = time.monotonic()

    def progress(done: int, total: int) -> None:
        context.progress(done, total, f"{done} of {total} combinations")

    sweep = run_sweep(
        params["strategy"],
        params["grid"],
        bars,
        config,
        base_parameters=dict(params["base_parameters"]),
        engine=EngineKind(params["engine"]) if params.get("engine") else None,
        progress=progress,
        done_rows=rows_done,
        on_row=on_row,
    )
    context.checkpoint({"rows": rows})
    run_id = None
    if params.get("store", True):
        with job_database(context).session() as session:
            run_id = save_sweep(session, sweep)
    metric = params.get("metric") or "sharpe"
    best = sweep.best(metric)
    return {
        "run_id": run_id,
        "combinations": len(sweep.rows),
        "resumed_after": len(rows_done),
        "metric": metric,
        "best": _row_json(best) if best is not None else None,
        "warning": sweep.overfitting_warning(metric),
        "seconds": sweep.seconds,
    }


def _row_from_json(row: Mapping[str, Any]) -> Any:
    from core.backtest.sweep import SweepRow

    metrics = {key: (math.nan if value is None else float(value)) for key, value in row["metrics"].items()}
    return SweepRow(dict(row["parameters"]), metrics, row.get("error"))


def _row_json(row: Any) -> JsonDict:
    return {"parameters": dict(row.parameters), "metrics": _finite(row.metrics), "error": row.error}


# --- an AI / strategy replay through the paper executor ------------------------------------------


def _validate_replay(params: Mapping[str, Any]) -> JsonDict:
    from decimal import Decimal, InvalidOperation

    strategy = _strategy(params)
    data = _data(params, files=False)
    values: dict[str, str | None] = {}
    for name, default in (
        ("cash", "10000"),
        ("fraction", "0.45"),
        ("stop_loss_pct", None),
        ("take_profit_pct", None),
        ("trailing_stop_pct", None),
    ):
        raw = params.get(name, default)
        if raw is None:
            values[name] = None
            continue
        try:
            number = Decimal(str(raw))
        except InvalidOperation:
            raise ValueError(f"{name} must be a number, got {raw!r}") from None
        if not number.is_finite() or number <= 0:
            raise ValueError(f"{name} must be a positive number, got {raw!r}")
        values[name] = str(number)
    if Decimal(values["fraction"] or "0") > 1:
        raise ValueError("fraction must be in (0, 1]")
    return {
        "strategy": strategy,
        "parameters": _strategy_parameters(strategy, params.get("parameters"), "parameters"),
        **data,
        "timeframe": data["timeframe"] or "1h",
        **values,
        "target": _text(params, "target"),
    }


def _describe_replay(params: Mapping[str, Any]) -> str:
    return f"Replay {params['strategy']} on {params['data']} {params['timeframe']}"


def run_replay_job(context: JobContext) -> JsonDict:
    """Replay stored candles through the real paper executor (not resumable: the scratch database
    is half-filled after an interruption; submit it again)."""
    from decimal import Decimal

    from core.backtest.replay import ReplayConfig, default_target, replay
    from core.backtest.strategies import build_strategy
    from core.config import get_settings
    from core.db.engine import Database
    from core.timeutil import parse_utc

    params = context.params

    def decimal(name: str) -> Decimal | None:
        return Decimal(params[name]) if params.get(name) is not None else None

    config = ReplayConfig(
        initial_cash=Decimal(params["cash"]),
        position_fraction=Decimal(params["fraction"]),
        stop_loss_pct=decimal("stop_loss_pct"),
        take_profit_pct=decimal("take_profit_pct"),
        trailing_stop_pct=decimal("trailing_stop_pct"),
    )
    target_url = params.get("target") or default_target(get_settings().home)
    destination = Database(target_url)
    start = parse_utc(params["start"]) if params.get("start") else None
    end = parse_utc(params["end"]) if params.get("end") else None

    def progress(done: int, total: int) -> None:
        context.progress(done, total, f"candle {done} of {total}")

    try:
        result = replay(
            job_database(context),
            destination,
            build_strategy(params["strategy"], dict(params["parameters"])),
            params["data"],
            params["timeframe"],
            start=start,
            end=end,
            config=config,
            progress=progress,
            executor_worker=job_service("executor_worker"),
        )
    finally:
        destination.dispose()
    output = result.to_dict()
    output["target"] = target_url.split("///")[-1] if target_url.startswith("sqlite") else "(given target)"
    return output


def _describe_backtest(params: Mapping[str, Any]) -> str:
    return f"Backtest {params['strategy']} on {_data_label(str(params['data']))}"


JOB_KINDS: tuple[JobKind, ...] = (
    JobKind("backtest", "Backtest", run_backtest_job, validate=_validate_backtest, describe=_describe_backtest),
    JobKind(
        "backtest-sweep",
        "Parameter sweep",
        run_sweep_job,
        resumable=True,
        validate=_validate_sweep,
        describe=_describe_sweep,
    ),
    JobKind(
        "replay",
        "Replay through the paper executor",
        run_replay_job,
        validate=_validate_replay,
        describe=_describe_replay,
    ),
)

__all__ = ["JOB_KINDS", "run_backtest_job", "run_replay_job", "run_sweep_job"]
