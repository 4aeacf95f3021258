"""The AI replay as a job: ``ai.history`` asks the analysts about past decision times in the jobs worker.

Parameters (JSON): ``symbol``, ``since`` and optional ``until`` (dates or ISO times, UTC),
``every_hours`` (default 24), ``analysts`` (names; default every enabled one), ``max_cost_eur``
(the run's EUR cap; default the configured one). They are checked when the job is submitted (an
unknown instrument or analyst, a bad date or cap refuses it). A cancelled job stops between
decision times: what was asked is stored and the run is STOPPED ("cancelled"). Not resumable: a
restarted job would ask the analysts again (and pay again), so an interrupted run stays as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from core.jobs.kinds import JobCancelled, JobContext, JobKind, JsonDict, job_database


def _validate(params: Mapping[str, Any]) -> JsonDict:
    from core.ai.history_params import HistoryRunError, parse_day  # not core.ai.history: keep submit light

    symbol = str(params.get("symbol") or "").strip()
    if not symbol:
        raise HistoryRunError("give the instrument symbol")
    if not params.get("since"):
        raise HistoryRunError("give since (the first decision time)")
    since = parse_day(str(params["since"]))
    until = parse_day(str(params["until"])) if params.get("until") else None
    if until is not None and until < since:
        raise HistoryRunError("the run needs since ≤ until")
    try:
        every_hours = float(params.get("every_hours", 24.0))
    except (TypeError, ValueError):
        raise HistoryRunError(f"every_hours must be a number, got {params.get('every_hours')!r}") from None
    if not every_hours > 0:
        raise HistoryRunError("every_hours must be positive")
    cap = params.get("max_cost_eur")
    if cap is not None:
        try:
            amount = Decimal(str(cap))
        except InvalidOperation:
            raise HistoryRunError(f"max_cost_eur must be a number of euros, got {cap!r}") from None
        if not amount.is_finite() or amount < 0:
            raise HistoryRunError("max_cost_eur must be 0 or more")
        cap = str(amount)
    analysts = [str(name) for name in params.get("analysts") or []]
    return {
        "symbol": symbol,
        "since": since.isoformat(),
        "until": until.isoformat() if until else None,
        "every_hours": every_hours,
        "analysts": analysts,
        "max_cost_eur": cap,
    }


def _describe(params: Mapping[str, Any]) -> str:
    return f"AI history {params.get('symbol')} from {str(params.get('since'))[:10]} every {params.get('every_hours')} h"


def history_job(context: JobContext) -> JsonDict:
    """Plan and carry out the AI history run; progress per decision time, cancel between them."""
    from core.ai.history import HistoryRunError, history_report, parse_day, plan_history_run, run_history
    from core.market.query import instrument_by_symbol
    from core.timeutil import utc_now

    params = _validate(context.params)
    database = job_database(context)
    since = parse_day(params["since"])
    until = parse_day(params["until"]) if params["until"] else None

    def plan_it(session: Any) -> Any:
        instrument = instrument_by_symbol(session, params["symbol"])
        if instrument is None:
            raise HistoryRunError(f"unknown instrument {params['symbol']!r}")
        return plan_history_run(
            session,
            instrument,
            since=since,
            until=until or utc_now(),
            every_hours=params["every_hours"],
            analyst_names=params["analysts"] or None,
        )

    plan = database.run(plan_it)
    cancelled = False

    def step(done: int, planned: int) -> None:
        nonlocal cancelled
        try:
            context.progress(done, planned, f"{done} of {planned} decision times")
        except JobCancelled:
            cancelled = True  # stop between decision times; the run is closed as STOPPED

    context.progress(0, len(plan.points), f"0 of {len(plan.points)} decision times")
    cap = Decimal(params["max_cost_eur"]) if params["max_cost_eur"] is not None else None
    result = run_history(
        database, plan, cost_cap_eur=cap, step=step, should_stop=lambda: cancelled or context.cancelled()
    )
    if result.stop_reason == "cancelled":
        raise JobCancelled(
            f"the AI history run {result.run_id} was cancelled after {result.points_done} decision times"
        )
    report = database.run(lambda session: history_report(session, result.run_id))
    return {
        "run_id": result.run_id,
        "status": str(result.status),
        "points_done": result.points_done,
        "cost_eur": str(result.cost_eur),
        "stop_reason": result.stop_reason,
        "clean": report.get("clean"),
        "contaminated_periods": report.get("contaminated_periods"),
    }


JOB_KINDS: tuple[JobKind, ...] = (
    JobKind("ai.history", "AI history run", history_job, resumable=False, validate=_validate, describe=_describe),
)
