"""The lab's long runs as jobs (declared in ``core.lab.job_kinds``): walk-forward, optuna search, robustness.

Each kind reads a :class:`core.lab.service.LabRequest` from the job's parameters, reports progress
in trials (``JobContext.progress`` raises ``JobCancelled`` once the user cancels; the analyses also
poll ``cancelled()`` between trials), stores the finished result in ``lab_results`` and returns
``{"result_id": ..., "verdict": ..., ...}``. The walk-forward checkpoints every finished fold and
the search its trials (every ``CHECKPOINT_TRIALS``), so a restarted attempt continues from there;
the robustness report starts again.

This module imports the lab (numpy, pandas, numba, optuna): only the process that runs a lab job
imports it; ``core.lab.job_kinds`` declares the kinds without it.
"""

from __future__ import annotations

import time
from typing import Any

from core.backtest.lookahead import check_lookahead
from core.jobs.kinds import JobCancelled, JobContext, JsonDict, job_database
from core.lab.models import LabKind
from core.lab.robustness import LookaheadCheck, build_report
from core.lab.search import SearchTrial, run_search
from core.lab.service import LabRequest, evaluator_for, load_request_bars, store_result
from core.lab.walkforward import FoldResult, WindowKind, run_walk_forward

CHECKPOINT_TRIALS = 25
CHECKPOINT_SECONDS = 10.0

# The look-ahead check the robustness report runs (full data against truncated copies).
LOOKAHEAD_CHECK: LookaheadCheck = check_lookahead


def _progress(context: JobContext, unit: str) -> Any:
    def report(done: int, total: int) -> None:
        context.progress(done, total, f"{done} of {total} {unit}")

    return report


def walk_forward_job(context: JobContext) -> JsonDict:
    """Walk-forward of a strategy: search each training window, trade the next."""
    request = LabRequest.from_params(context.params)
    database = job_database(context)
    bars = load_request_bars(request, database)
    state = context.checkpoint_state or {}
    finished: list[JsonDict] = list(state.get("folds") or [])

    def on_fold(fold: FoldResult) -> None:
        finished.append(fold.to_dict())
        context.checkpoint({"folds": finished})

    result = run_walk_forward(
        evaluator_for(request, bars),
        request.search_space(),
        folds=request.folds,
        trials=request.trials,
        kind=WindowKind(request.window),
        train_ratio=request.train_ratio,
        seed=request.seed,
        objective=request.objective,
        pruning=request.pruning,
        progress=_progress(context, "trials"),
        should_stop=context.cancelled,
        previous=finished,
        on_fold=on_fold,
    )
    if result.stopped:  # cancelled between trials: keep the finished folds, store nothing
        raise JobCancelled("the walk-forward was cancelled")
    context.progress(request.folds * request.trials, request.folds * request.trials, "storing the result")
    data = result.to_dict()
    result_id = store_result(LabKind.WALK_FORWARD, request, bars, data, result.verdict(), result.seconds, database)
    return {"result_id": result_id, "verdict": result.verdict(), "folds": len(result.folds), "summary": data["summary"]}


def search_job(context: JobContext) -> JsonDict:
    """An optuna search of a strategy's parameters, with DSR and PBO."""
    request = LabRequest.from_params(context.params)
    database = job_database(context)
    bars = load_request_bars(request, database)
    state = context.checkpoint_state or {}
    trials: list[JsonDict] = list(state.get("trials") or [])
    last_saved = [time.monotonic(), len(trials)]

    def on_trial(trial: SearchTrial) -> None:
        trials.append(trial.to_dict())
        if len(trials) - last_saved[1] >= CHECKPOINT_TRIALS or time.monotonic() - last_saved[0] >= CHECKPOINT_SECONDS:
            context.checkpoint({"trials": trials})
            last_saved[:] = [time.monotonic(), len(trials)]

    result = run_search(
        evaluator_for(request, bars),
        request.search_space(),
        trials=request.trials,
        seed=request.seed,
        objective=request.objective,
        pruning=request.pruning,
        progress=_progress(context, "trials"),
        should_stop=context.cancelled,
        previous=trials,
        on_trial=on_trial,
    )
    if result.stopped:  # cancelled between trials: keep the trials so far, store nothing
        context.checkpoint({"trials": trials})
        raise JobCancelled("the search was cancelled")
    data = result.to_dict()
    verdict = result.overfitting.verdict()
    result_id = store_result(LabKind.SEARCH, request, bars, data, verdict, result.seconds, database)
    return {"result_id": result_id, "verdict": verdict, "best": data["best"], "counts": data["counts"]}


def robustness_job(context: JobContext) -> JsonDict:
    """The robustness report of a strategy and parameter set."""
    request = LabRequest.from_params(context.params)
    database = job_database(context)
    bars = load_request_bars(request, database)
    report = build_report(
        request, bars, lookahead=LOOKAHEAD_CHECK, progress=_progress(context, "steps"), should_stop=context.cancelled
    )
    if context.cancelled():
        raise JobCancelled("the robustness report was cancelled")
    data = report.to_dict()
    result_id = store_result(LabKind.ROBUSTNESS, request, bars, data, report.verdict(), report.seconds, database)
    return {"result_id": result_id, "verdict": report.verdict()}
