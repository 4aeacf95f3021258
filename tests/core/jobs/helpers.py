"""Job kinds for the queue and runner tests (real functions run through the real runner)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from core.jobs.kinds import JobContext, JobKind, JsonDict


def _count(context: JobContext) -> JsonDict:
    total = int(context.params["steps"])
    start = int((context.checkpoint_state or {}).get("done", 0))
    seen = []
    for step in range(start, total):
        time.sleep(float(context.params.get("pause", 0)))
        seen.append(step)
        context.checkpoint({"done": step + 1})
        context.progress(step + 1, total, f"step {step + 1}")
    return {"resumed_from": start, "ran": seen}


def _validate_count(params: Mapping[str, Any]) -> JsonDict:
    steps = params.get("steps")
    if not isinstance(steps, int) or steps <= 0:
        raise ValueError(f"steps must be a positive whole number, got {steps!r}")
    return {"steps": steps, "pause": float(params.get("pause", 0))}


def _fail(context: JobContext) -> JsonDict:
    context.progress(1, 2, "about to fail")
    raise RuntimeError(f"the data has a hole at {context.params['where']}")


def _ignore_cancel(context: JobContext) -> JsonDict:
    time.sleep(float(context.params["seconds"]))
    return {"slept": context.params["seconds"]}


def _not_json(_context: JobContext) -> JsonDict:
    return {"when": object()}


COUNT = JobKind(
    "count",
    "Count",
    _count,
    resumable=True,
    validate=_validate_count,
    describe=lambda params: f"count to {params['steps']}",
)
COUNT_ONCE = JobKind("count-once", "Count (not resumable)", _count, validate=_validate_count)
FAIL = JobKind("fail", "Fail", _fail)
SLEEP = JobKind("sleep", "Sleep", _ignore_cancel)
NOT_JSON = JobKind("not-json", "Not JSON", _not_json)
TEST_KINDS = {kind.name: kind for kind in (COUNT, COUNT_ONCE, FAIL, SLEEP, NOT_JSON)}
