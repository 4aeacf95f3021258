"""AI history runs: ask the analysts about past decision times, point in time, under a cost cap.

A history run is how an LLM analyst is backtested: at every decision time ``t`` between ``since``
and ``until`` (every ``every_hours``) it builds the snapshot *as it was known at t* — candles closed
by ``t``, headlines published by then, no position (today's position was not known then), and no
track-record weights (those come from later scoring) — runs the analysts and stores the consensus
with ``origin = history``. Live track records leave these opinions out.

Before it starts, :func:`plan_history_run` estimates the calls and their cost ("about 412 calls,
about € 3.10") from each analyst's past token use (or, with none, from the prompt's size and the
model's kind) and states, per LLM model, how many decision times lie before its training cutoff:
there the model may already know the prices ("contaminated"), so :func:`history_report` shows
those periods apart from the clean ones. The run stops at its EUR cap (``history_run_cost_cap_eur``
or ``--max-cost-eur``) with the reason, and the provider caps per day and month hold as always.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.ai.config import BUILT_IN_MODELS, KNOWN_OUTPUT_TOKEN_LIMITS, AIConfig, ProviderConfig, load_ai_config
from core.ai.context import MIN_BARS, NotEnoughData, build_snapshot, preferred_timeframe
from core.ai.costs import MILLION, SpendingGuard
from core.ai.engine import ConsensusEngine, ConsensusRun, build_analysts, raise_cost_cap_alerts, store_run
from core.ai.history_params import HistoryRunError as HistoryRunError  # re-exported (callers import it here)
from core.ai.history_params import parse_day as parse_day
from core.ai.llm import LLMAnalyst, build_messages, render_prompt
from core.ai.models import (
    AIHistoryRun,
    AnalystOpinion,
    ConsensusOrigin,
    ConsensusRecord,
    HistoryRunStatus,
    Signal,
)
from core.ai.opinion import Analyst
from core.db.engine import Database
from core.market.models import Candle, Instrument
from core.market.query import TIMEFRAME_SECONDS, close_at
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

DEFAULT_ANSWER_TOKENS = 350  # a four-field answer with its figures, from a model that does not reason
DEFAULT_REASONING_ANSWER_TOKENS = 2500  # the same from a reasoning model, its chain of thought included
REASONING_MODELS = frozenset({"deepseek-reasoner"})
MAX_POINTS = 10_000


@dataclass(frozen=True)
class ModelContamination:
    """One LLM model against the run's decision times."""

    model: str
    cutoff: date | None
    points_before_cutoff: int
    points: int

    @property
    def contaminated(self) -> bool:
        return self.points_before_cutoff > 0

    def describe(self) -> str:
        if self.cutoff is None:
            return f"{self.model}: training cutoff unknown — every period counts as contaminated"
        if not self.points_before_cutoff:
            return f"{self.model}: clean (training cutoff {self.cutoff.isoformat()}, before the whole run)"
        return (
            f"{self.model}: contaminated: the model may know these prices — {self.points_before_cutoff} of "
            f"{self.points} decision times lie before its training cutoff {self.cutoff.isoformat()}"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "training_cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "points_before_cutoff": self.points_before_cutoff,
            "points": self.points,
            "contaminated": self.contaminated,
        }


@dataclass(frozen=True)
class HistoryPlan:
    """What a history run will do and roughly cost, before it starts."""

    instrument_id: int
    symbol: str
    since: datetime
    until: datetime
    every_hours: float
    points: tuple[datetime, ...]
    analysts: tuple[str, ...]
    llm_providers: tuple[ProviderConfig, ...]
    estimated_calls: int
    estimated_cost_eur: Decimal
    contamination: tuple[ModelContamination, ...]
    cost_per_call_eur: dict[str, Decimal] = field(default_factory=dict)

    def describe(self) -> str:
        """Return the dry-run line: "about 412 calls, about € 3.10"."""
        return f"about {self.estimated_calls} calls, about € {self.estimated_cost_eur:.2f}"

    def contaminated_before(self, model: str) -> date | None:
        """Return the cutoff before which ``model``'s answers are contaminated (``date.max`` if unknown)."""
        for item in self.contamination:
            if item.model == model:
                return item.cutoff or date.max
        return None

    def as_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "every_hours": self.every_hours,
            "decision_times": len(self.points),
            "analysts": list(self.analysts),
            "estimated_calls": self.estimated_calls,
            "estimated_cost_eur": str(self.estimated_cost_eur.quantize(Decimal("0.01"))),
            "estimate": self.describe(),
            "contamination": [item.as_json() for item in self.contamination],
        }


def _is_contaminated(cutoff: date | None, when: datetime) -> bool:
    return cutoff is None or when.date() <= cutoff


def _decision_points(
    session: Session, instrument: Instrument, since: datetime, until: datetime, every_hours: float
) -> list[datetime]:
    timeframe = preferred_timeframe(session, instrument.id)
    if timeframe is None:
        raise HistoryRunError(f"{instrument.symbol}: no candles collected yet")
    bar = timedelta(seconds=TIMEFRAME_SECONDS.get(timeframe, 3600))
    first = session.scalar(
        select(func.min(Candle.ts)).where(Candle.instrument_id == instrument.id, Candle.timeframe == timeframe)
    )
    if first is None:
        raise HistoryRunError(f"{instrument.symbol}: no {timeframe} candles")
    earliest = first + bar * MIN_BARS  # enough closed candles for the indicators
    step = timedelta(hours=every_hours)
    points: list[datetime] = []
    point = max(since, earliest)
    while point <= until and len(points) < MAX_POINTS:
        points.append(point)
        point += step
    return points


def _tokens_per_call(session: Session, analyst: str) -> tuple[float, float] | None:
    row = session.execute(
        select(func.avg(AnalystOpinion.prompt_tokens), func.avg(AnalystOpinion.completion_tokens)).where(
            AnalystOpinion.analyst == analyst,
            AnalystOpinion.cached.is_(False),
            AnalystOpinion.attempts > 0,
            AnalystOpinion.prompt_tokens.is_not(None),
            AnalystOpinion.is_demo.is_(False),
        )
    ).one()
    if row[0] is None or row[1] is None:
        return None
    return float(row[0]), float(row[1])


def plan_history_run(
    session: Session,
    instrument: Instrument,
    *,
    since: datetime,
    until: datetime,
    every_hours: float,
    config: AIConfig | None = None,
    analyst_names: Sequence[str] | None = None,
    now: datetime | None = None,
) -> HistoryPlan:
    """Plan a history run: its decision times, analysts, estimated calls and cost, contamination."""
    now = now or utc_now()
    if since.tzinfo is None or until.tzinfo is None:
        raise HistoryRunError("since and until must be aware UTC times")
    until = min(until, now)
    if until < since:
        raise HistoryRunError("the run needs since ≤ until (and since in the past)")
    if not every_hours > 0:
        raise HistoryRunError("every_hours must be positive")
    config = config or load_ai_config(session)
    providers = [
        provider for provider in config.enabled_providers if analyst_names is None or provider.name in analyst_names
    ]
    if analyst_names is not None:
        unknown = sorted(set(analyst_names) - {provider.name for provider in config.enabled_providers})
        if unknown:
            raise HistoryRunError(f"no enabled analyst named {', '.join(unknown)}")
    if not providers:
        raise HistoryRunError("no enabled analyst to ask")
    points = _decision_points(session, instrument, since, until, every_hours)
    if not points:
        raise HistoryRunError(f"{instrument.symbol}: no decision time in that range has enough candles before it")
    llm = tuple(provider for provider in providers if provider.is_llm)
    sample_prompt_tokens = 1500.0
    try:
        sample = build_snapshot(session, instrument, until=points[0], include_position=False)
        sample_prompt_tokens = len(render_prompt(build_messages(sample))) / 4
    except NotEnoughData:
        pass
    per_call: dict[str, Decimal] = {}
    for provider in llm:
        measured = _tokens_per_call(session, provider.name)
        if measured is not None:
            prompt_tokens, answer_tokens = measured
        else:
            reasoning = provider.model.strip().lower() in REASONING_MODELS
            prompt_tokens = sample_prompt_tokens
            answer_tokens = DEFAULT_REASONING_ANSWER_TOKENS if reasoning else DEFAULT_ANSWER_TOKENS
            if provider.model.strip().lower() in KNOWN_OUTPUT_TOKEN_LIMITS:
                answer_tokens = min(answer_tokens, KNOWN_OUTPUT_TOKEN_LIMITS[provider.model.strip().lower()][0])
        usd = (
            Decimal(str(round(prompt_tokens))) * provider.input_cost_per_million_tokens
            + Decimal(str(round(answer_tokens))) * provider.output_cost_per_million_tokens
        ) / MILLION
        per_call[provider.name] = usd * config.costs.eur_per_usd
    calls = len(points) * len(llm)
    cost = sum((per_call[provider.name] * len(points) for provider in llm), Decimal(0))
    contamination = []
    for model in sorted({provider.model for provider in llm if provider.model not in BUILT_IN_MODELS}):
        cutoff = config.training_cutoff(model)
        before = sum(1 for point in points if _is_contaminated(cutoff, point))
        contamination.append(ModelContamination(model, cutoff, before, len(points)))
    return HistoryPlan(
        instrument_id=instrument.id,
        symbol=instrument.symbol,
        since=since,
        until=until,
        every_hours=every_hours,
        points=tuple(points),
        analysts=tuple(provider.name for provider in providers),
        llm_providers=llm,
        estimated_calls=calls,
        estimated_cost_eur=cost,
        contamination=tuple(contamination),
        cost_per_call_eur=per_call,
    )


@dataclass(frozen=True)
class HistoryRunResult:
    run_id: int
    status: HistoryRunStatus
    points_done: int
    cost_eur: Decimal
    stop_reason: str | None


def run_history(
    database: Database,
    plan: HistoryPlan,
    *,
    cost_cap_eur: Decimal | None = None,
    config: AIConfig | None = None,
    analysts: Sequence[Analyst] | None = None,
    progress: Callable[[str], None] | None = None,
    step: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    now: datetime | None = None,
) -> HistoryRunResult:
    """Carry out a planned history run; each decision time is stored as soon as it is done.

    ``step(done, planned)`` is called after each decision time; ``should_stop()`` is asked before
    each one: True stops the run (STOPPED, "cancelled"), keeping what is stored.
    """
    now = now or utc_now()

    def start(session: Session) -> tuple[int, AIConfig, SpendingGuard]:
        loaded = config or load_ai_config(session)
        cap = cost_cap_eur if cost_cap_eur is not None else loaded.costs.history_run_cap_eur
        run = AIHistoryRun(
            instrument_id=plan.instrument_id,
            started_at=now,
            since=plan.since,
            until=plan.until,
            every_hours=plan.every_hours,
            status=HistoryRunStatus.RUNNING,
            analysts=list(plan.analysts),
            points_planned=len(plan.points),
            points_done=0,
            estimated_calls=plan.estimated_calls,
            estimated_cost_eur=plan.estimated_cost_eur.quantize(Decimal("0.000001")),
            cost_cap_eur=cap,
            cost_eur=Decimal(0),
            contamination={item.model: item.as_json() for item in plan.contamination},
        )
        session.add(run)
        session.flush()
        guard = SpendingGuard.from_database(session, loaded.costs, now=now, run_cap_eur=cap)
        return run.id, loaded, guard

    run_id, config, guard = database.run(start)
    if analysts is None:
        wanted = set(plan.analysts)
        analysts = [analyst for analyst in build_analysts(config, spending=guard) if analyst.name in wanted]
    engine = ConsensusEngine(
        analysts=analysts, parameters=config.parameters, deadline_seconds=config.limits.deadline_seconds
    )
    llm_budgets = {analyst.provider for analyst in analysts if isinstance(analyst, LLMAnalyst)}
    done = 0
    status = HistoryRunStatus.DONE
    stop_reason: str | None = None
    for point in plan.points:
        if should_stop is not None and should_stop():
            status, stop_reason = HistoryRunStatus.STOPPED, "cancelled"
            break

        def snapshot_at(session: Session, point: datetime = point) -> Any:
            instrument = session.get(Instrument, plan.instrument_id)
            assert instrument is not None
            return build_snapshot(
                session, instrument, until=point, include_position=False, lookback_hours=config.news_lookback_hours
            )

        try:
            snapshot = database.run(snapshot_at)
        except NotEnoughData as error:
            logger.info("History run %d: %s at %s, skipped", run_id, error, point.isoformat())
            continue
        consensus = engine.run(snapshot, track_records={})  # no weights from later scoring: point in time
        contaminated = frozenset(
            item.model for item in plan.contamination if _is_contaminated(item.cutoff, snapshot.as_of)
        )

        def store(
            session: Session,
            consensus: ConsensusRun = consensus,
            point: datetime = point,
            contaminated: frozenset[str] = contaminated,
        ) -> None:
            store_run(
                session,
                consensus,
                decided_at=point,
                origin=ConsensusOrigin.HISTORY,
                history_run_id=run_id,
                contaminated_models=contaminated,
            )

        database.run(store)
        done += 1
        if progress:
            progress(f"{done}/{len(plan.points)} decision times, € {guard.spent_in_run():.4f} spent")
        if step is not None:
            step(done, len(plan.points))
        if llm_budgets and llm_budgets <= set(guard.refusals):  # every LLM is out of money: stop
            status = HistoryRunStatus.STOPPED
            stop_reason = "; ".join(f"{name}: {reason}" for name, reason in sorted(guard.refusals.items()))
            break

    def finish(session: Session) -> None:
        run = session.get(AIHistoryRun, run_id)
        assert run is not None
        run.status = status
        run.points_done = done
        run.cost_eur = guard.spent_in_run().quantize(Decimal("0.000001"))
        run.stop_reason = stop_reason
        run.finished_at = utc_now()
        raise_cost_cap_alerts(session, guard, now=now)

    database.run(finish)
    return HistoryRunResult(run_id, status, done, guard.spent_in_run(), stop_reason)


@dataclass
class _PeriodStats:
    decisions: int = 0
    directional: int = 0
    hits: int = 0
    follow_return: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "decisions": self.decisions,
            "buy_or_sell": self.directional,
            "hit_rate": round(self.hits / self.directional, 4) if self.directional else None,
            "return_following": round(self.follow_return, 6),
        }


def history_report(session: Session, run_id: int) -> dict[str, Any]:
    """Return a history run with its results split into clean and contaminated decision times.

    A decision time is contaminated when any LLM model asked then has a training cutoff after it
    (or an unknown one). Per part: decisions, buy/sell calls, their hit rate and the summed return
    of following them until the next decision time.
    """
    run = session.get(AIHistoryRun, run_id)
    if run is None:
        raise HistoryRunError(f"no AI history run #{run_id}")
    instrument = session.get(Instrument, run.instrument_id)
    records = list(
        session.scalars(
            select(ConsensusRecord).where(ConsensusRecord.history_run_id == run_id).order_by(ConsensusRecord.as_of)
        )
    )
    contaminated_ids = set(
        session.scalars(
            select(AnalystOpinion.consensus_id).where(
                AnalystOpinion.consensus_id.in_([record.id for record in records]),
                AnalystOpinion.contaminated.is_(True),
            )
        )
    )
    parts = {"clean": _PeriodStats(), "contaminated": _PeriodStats()}
    step = timedelta(hours=run.every_hours)
    for record in records:
        part = parts["contaminated" if record.id in contaminated_ids else "clean"]
        part.decisions += 1
        if record.decision is Signal.HOLD or record.price is None:
            continue
        timeframe = str((record.snapshot or {}).get("timeframe", "1h"))
        bar = timedelta(seconds=TIMEFRAME_SECONDS.get(timeframe, 3600))
        later = close_at(session, run.instrument_id, record.as_of + step - bar)  # the close known by then
        if later is None:
            continue
        realised = float(later) / float(record.price) - 1.0
        part.directional += 1
        part.follow_return += realised * record.decision.direction
        part.hits += 1 if realised * record.decision.direction > 0 else 0
    return {
        "run_id": run.id,
        "symbol": instrument.symbol if instrument else str(run.instrument_id),
        "status": run.status.value,
        "since": run.since.isoformat(),
        "until": run.until.isoformat(),
        "every_hours": run.every_hours,
        "points_planned": run.points_planned,
        "points_done": run.points_done,
        "estimated_cost_eur": str(run.estimated_cost_eur) if run.estimated_cost_eur is not None else None,
        "cost_cap_eur": str(run.cost_cap_eur) if run.cost_cap_eur is not None else None,
        "cost_eur": str(run.cost_eur),
        "stop_reason": run.stop_reason,
        "contamination": list((run.contamination or {}).values()),
        "contaminated": any(item.get("contaminated") for item in (run.contamination or {}).values()),
        "clean": parts["clean"].as_json(),
        "contaminated_periods": parts["contaminated"].as_json(),
    }


def list_history_runs(session: Session, limit: int = 50) -> list[AIHistoryRun]:
    """Return the newest AI history runs."""
    return list(session.scalars(select(AIHistoryRun).order_by(AIHistoryRun.id.desc()).limit(limit)))
