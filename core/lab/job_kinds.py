"""The lab's long runs declared as job kinds (``core.jobs.kinds``): walk-forward, optuna search, robustness.

This module is imported by ``core.jobs.kinds.job_kinds()`` in every process that lists, submits or
runs jobs (the jobs worker at rest, ``konsens jobs submit``, the Jobs page), so it declares the
kinds cheaply: the work itself is in :mod:`core.lab.job_runs`, imported (with numpy, pandas, numba
and optuna) only when a lab job runs, and the parameters are checked by ``LabRequest`` (imported
when a job is submitted). See :mod:`core.lab.job_runs` for what each kind does and checkpoints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.jobs.kinds import JobContext, JobKind, JsonDict


def walk_forward_job(context: JobContext) -> JsonDict:
    """Walk-forward of a strategy: search each training window, trade the next."""
    from core.lab.job_runs import walk_forward_job as run

    return run(context)


def search_job(context: JobContext) -> JsonDict:
    """An optuna search of a strategy's parameters, with DSR and PBO."""
    from core.lab.job_runs import search_job as run

    return run(context)


def robustness_job(context: JobContext) -> JsonDict:
    """The robustness report of a strategy and parameter set."""
    from core.lab.job_runs import robustness_job as run

    return run(context)


def _validate(params: Mapping[str, Any]) -> JsonDict:
    """A request that cannot run is refused when it is submitted (``LabRequestError`` names the field)."""
    from core.lab.service import LabRequest

    return LabRequest.from_params(params).to_params()


def _describe(params: Mapping[str, Any]) -> str:
    return f"{params.get('strategy')} on {params.get('data')} {params.get('timeframe') or ''}".strip()


JOB_KINDS: tuple[JobKind, ...] = (
    JobKind(
        "lab.walk_forward", "Walk-forward", walk_forward_job, resumable=True, validate=_validate, describe=_describe
    ),
    JobKind(
        "lab.search", "Parameter search (optuna)", search_job, resumable=True, validate=_validate, describe=_describe
    ),
    JobKind(
        "lab.robustness", "Robustness report", robustness_job, resumable=False, validate=_validate, describe=_describe
    ),
)
