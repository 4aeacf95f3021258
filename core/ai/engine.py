"""Run a consensus: fan the snapshot out to every analyst at once, combine, store.

- All analysts run concurrently in threads; the run waits at most ``deadline_seconds`` and
  records any analyst still busy then as failed ("no answer within ..."), so a slow or failing
  analyst never holds up the rest beyond its deadline.
- Answers are cached by (analyst, model, context hash): an analyst with a cached valid answer is
  not asked again (no call, no cost). The cache is the ``ai_opinions`` table, with a small
  in-process layer in front of it.
- :func:`analyse_instrument` is the one entry used by the CLI, the worker and the benchmark.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.ai.builtin import SentimentAnalyst, TechnicalAnalyst
from core.ai.claims import ClaimCheck, check_claims
from core.ai.config import AIConfig, ConsensusParameters, ProviderKind, load_ai_config
from core.ai.consensus import ConsensusOutcome, TrackStats, Vote, combine
from core.ai.context import ContextSnapshot, build_snapshot
from core.ai.costs import SpendingGuard
from core.ai.llm import CallBudget, LLMAnalyst, build_llm_analyst, prompt_hash
from core.ai.models import AnalystOpinion, AnalystTrackRecord, ConsensusOrigin, ConsensusRecord
from core.ai.opinion import Analyst, AnalystResult, Figure, Opinion
from core.ai.version import konsens_version
from core.db.engine import Database
from core.market.models import Instrument
from core.observability.tracing import carry_context
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[str], None]


class OpinionCache:
    """Valid answers by (analyst, model, context hash): in memory, backed by ``ai_opinions``."""

    def __init__(self, database: Database | None = None, *, memory_size: int = 512):
        self.database = database
        self._memory: OrderedDict[tuple[str, str, str], AnalystResult] = OrderedDict()
        self._memory_size = memory_size
        self._lock = threading.Lock()

    def get(self, analyst: str, model: str, context_hash: str) -> AnalystResult | None:
        """Return the cached valid result, or None."""
        key = (analyst, model, context_hash)
        with self._lock:
            found = self._memory.get(key)
            if found is not None:
                self._memory.move_to_end(key)
                return found
        if self.database is None:
            return None
        found = self.database.run(lambda session: _cached_from_database(session, *key))
        if found is not None:
            self.put(found, context_hash)
        return found

    def put(self, result: AnalystResult, context_hash: str) -> None:
        """Remember a valid result for ``context_hash`` (failures are never cached)."""
        if not result.ok:
            return
        key_hash = context_hash
        with self._lock:
            self._memory[(result.analyst, result.model, key_hash)] = result
            self._memory.move_to_end((result.analyst, result.model, key_hash))
            while len(self._memory) > self._memory_size:
                self._memory.popitem(last=False)


def _cached_from_database(session: Session, analyst: str, model: str, context_hash: str) -> AnalystResult | None:
    row = session.scalar(
        select(AnalystOpinion)
        .where(
            AnalystOpinion.analyst == analyst,
            AnalystOpinion.model == model,
            AnalystOpinion.context_hash == context_hash,
            AnalystOpinion.ok.is_(True),
        )
        .order_by(AnalystOpinion.id.desc())
        .limit(1)
    )
    if row is None or row.signal is None or row.confidence is None:
        return None
    return AnalystResult(
        analyst=row.analyst,
        provider=row.provider,
        model=row.model,
        opinion=Opinion(
            signal=row.signal,
            confidence=row.confidence,
            horizon_hours=row.horizon_hours or 24,
            rationale=row.rationale or "",
            figures=tuple(
                Figure(name=str(claim["name"]), value=claim["claimed"])
                for claim in (row.claims or [])
                if isinstance(claim.get("claimed"), int | float | str) and not isinstance(claim.get("claimed"), bool)
            ),
        ),
        prompt=row.prompt,
        answer=row.answer,
        reasoning=row.reasoning,
        latency_ms=row.latency_ms or 0.0,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        cost_usd=row.cost_usd,
        cost_eur=row.cost_eur,
        model_version=row.model_version,
        request_params=dict(row.request_params or {}),
    )


@dataclass(frozen=True)
class ConsensusRun:
    """The outcome of one run plus every analyst's result, in analyst order."""

    snapshot: ContextSnapshot
    outcome: ConsensusOutcome
    results: tuple[AnalystResult, ...]
    elapsed_seconds: float
    parameters: ConsensusParameters
    consensus_id: int | None = None
    discounted: dict[str, str] = field(default_factory=dict)  # analyst -> why its vote got weight 0

    @property
    def cost_eur(self) -> Decimal:
        """Return what this run's provider calls cost (cached answers cost nothing)."""
        return sum((result.cost_eur or Decimal(0) for result in self.results), Decimal(0))


@dataclass
class ConsensusEngine:
    """Ask every analyst about one snapshot concurrently, then combine the answers."""

    analysts: Sequence[Analyst]
    parameters: ConsensusParameters
    deadline_seconds: float = 120.0
    cache: OpinionCache | None = None
    progress: ProgressCallback | None = None
    _notes: list[str] = field(default_factory=list)

    def run(self, snapshot: ContextSnapshot, track_records: dict[str, TrackStats] | None = None) -> ConsensusRun:
        """Run all analysts on ``snapshot`` and return the combined result (never raises for an analyst)."""
        started = time.perf_counter()
        context_hash = snapshot.context_hash
        results: dict[str, AnalystResult] = {}
        to_ask: list[Analyst] = []
        for analyst in self.analysts:
            lookup_started = time.perf_counter()
            cached = self.cache.get(analyst.name, analyst.model, context_hash) if self.cache else None
            if cached is not None:
                results[analyst.name] = cached.as_cached((time.perf_counter() - lookup_started) * 1000)
            else:
                to_ask.append(analyst)
        if to_ask:
            self._report(f"asking {len(to_ask)} analyst(s): {', '.join(analyst.name for analyst in to_ask)}")
            results.update(self._fan_out(to_ask, snapshot))
        if self.cache is not None:
            for result in results.values():
                if not result.cached:
                    self.cache.put(result, context_hash)
        ordered = tuple(_with_checked_claims(results[analyst.name], analyst, snapshot) for analyst in self.analysts)
        discounted = {
            result.analyst: result.claims.describe()
            for result in ordered
            if result.ok and result.claims is not None and result.claims.has_false_claims
        }
        votes = [
            Vote(result.analyst, result.opinion.signal, result.opinion.confidence)
            for result in ordered
            if result.ok and result.opinion is not None and result.analyst not in discounted
        ]
        failures = {result.analyst: result.error or "failed" for result in ordered if not result.ok}
        outcome = combine(votes, self.parameters, track_records=track_records, failures=failures)
        if discounted:
            outcome = replace(outcome, weights={**outcome.weights, **dict.fromkeys(discounted, 0.0)})
        return ConsensusRun(
            snapshot=snapshot,
            outcome=outcome,
            results=ordered,
            elapsed_seconds=time.perf_counter() - started,
            parameters=self.parameters,
            discounted=discounted,
        )

    def _fan_out(self, analysts: Sequence[Analyst], snapshot: ContextSnapshot) -> dict[str, AnalystResult]:
        executor = ThreadPoolExecutor(max_workers=len(analysts), thread_name_prefix="analyst")
        started = time.perf_counter()
        futures: dict[Future[AnalystResult], Analyst] = {
            executor.submit(carry_context(analyst.analyse), snapshot): analyst for analyst in analysts
        }
        done, not_done = wait(futures, timeout=self.deadline_seconds)
        executor.shutdown(wait=False, cancel_futures=True)
        results: dict[str, AnalystResult] = {}
        for future in done:
            analyst = futures[future]
            try:
                results[analyst.name] = future.result()
            except Exception as error:  # Analyst.analyse should not raise; if it does, record it
                results[analyst.name] = AnalystResult(
                    analyst.name,
                    analyst.provider,
                    analyst.model,
                    error=f"crashed: {type(error).__name__}: {error}",
                    latency_ms=(time.perf_counter() - started) * 1000,
                )
        for future in not_done:
            analyst = futures[future]
            results[analyst.name] = AnalystResult(
                analyst.name,
                analyst.provider,
                analyst.model,
                error=f"no answer within {self.deadline_seconds:g} s",
                latency_ms=self.deadline_seconds * 1000,
                attempts=1,
            )
        return results

    def _report(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)


def _with_checked_claims(result: AnalystResult, analyst: Analyst, snapshot: ContextSnapshot) -> AnalystResult:
    """Return ``result`` with its figures checked against the snapshot (every LLM answer is checked)."""
    if not result.ok or result.opinion is None:
        return result
    if not result.opinion.figures and not isinstance(analyst, LLMAnalyst):
        return result
    figures = [figure.model_dump() for figure in result.opinion.figures]
    return replace(result, claims=check_claims(snapshot, figures))


# --- building analysts from the configuration -------------------------------------------------


def start_of_utc_day(now: datetime) -> datetime:
    """Return midnight UTC of ``now``'s day."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def calls_today(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Return provider calls made since UTC midnight, per provider (the budget's usage)."""
    now = now or utc_now()
    rows = session.execute(
        select(AnalystOpinion.provider, func.coalesce(func.sum(AnalystOpinion.attempts), 0))
        .where(AnalystOpinion.created_at >= start_of_utc_day(now), AnalystOpinion.is_demo.is_(False))
        .group_by(AnalystOpinion.provider)
    )
    return {provider: int(total) for provider, total in rows}


def build_analysts(
    config: AIConfig, *, budget: CallBudget | None = None, spending: SpendingGuard | None = None
) -> list[Analyst]:
    """Create an analyst for every enabled provider (LLM calls held to the call budget and cost caps)."""
    analysts: list[Analyst] = []
    for provider in config.enabled_providers:
        if provider.kind is ProviderKind.TECHNICAL:
            analysts.append(TechnicalAnalyst(provider.name, provider.model))
        elif provider.kind is ProviderKind.SENTIMENT:
            analysts.append(
                SentimentAnalyst(
                    provider.name,
                    provider.model,
                    half_life_hours=config.news_half_life_hours,
                    lookback_hours=config.news_lookback_hours,
                )
            )
        else:
            analysts.append(
                build_llm_analyst(
                    provider, config.limits, budget=budget, spending=spending, eur_per_usd=config.costs.eur_per_usd
                )
            )
    return analysts


def load_track_stats(session: Session) -> dict[str, TrackStats]:
    """Return every analyst's scored / hits counts and hallucination rate from ``analyst_track_records``."""
    return {
        row.analyst: TrackStats(scored=row.scored, hits=row.hits, hallucination_rate=row.hallucination_rate or 0.0)
        for row in session.scalars(select(AnalystTrackRecord))
    }


# --- storing a run -------------------------------------------------------------------------------


def store_run(
    session: Session,
    run: ConsensusRun,
    *,
    decided_at: datetime | None = None,
    is_demo: bool = False,
    origin: ConsensusOrigin = ConsensusOrigin.LIVE,
    history_run_id: int | None = None,
    contaminated_models: frozenset[str] = frozenset(),
) -> ConsensusRecord:
    """Write the consensus and every analyst's opinion or failure (each a full decision record).

    The consensus row keeps the context snapshot itself; each opinion keeps its prompt and prompt
    hash, the raw answer, the model version and request parameters, its checked figures, tokens,
    cost and latency, and the Konsens version. ``contaminated_models`` (history runs) are the
    models asked about a time before their training cutoff.
    """
    snapshot = run.snapshot
    outcome = run.outcome
    decided_at = decided_at or utc_now()
    price = Decimal(str(snapshot.last_close))
    record = ConsensusRecord(
        instrument_id=snapshot.instrument_id,
        decided_at=decided_at,
        as_of=snapshot.as_of,
        decision=outcome.decision,
        leaning=outcome.leaning,
        score=round(outcome.score, 6),
        agreement=round(outcome.agreement, 6),
        flagged=outcome.flagged,
        flag_reason=outcome.flag_reason,
        context_hash=snapshot.context_hash,
        valid_opinions=outcome.valid_opinions,
        failed_opinions=len(outcome.failures),
        dissenters=list(outcome.dissenters),
        failures=dict(outcome.failures),
        weights={name: round(weight, 6) for name, weight in outcome.weights.items()},
        price=price,
        parameters=run.parameters.as_dict(),
        is_demo=is_demo,
        snapshot=snapshot.model_dump(mode="json"),
        discounted=dict(run.discounted),
        origin=origin,
        history_run_id=history_run_id,
    )
    session.add(record)
    session.flush()
    for result in run.results:
        session.add(
            opinion_record(
                result,
                instrument_id=snapshot.instrument_id,
                context_hash=snapshot.context_hash,
                as_of=snapshot.as_of,
                created_at=decided_at,
                consensus_id=record.id,
                price=price,
                is_demo=is_demo,
                contaminated=result.model in contaminated_models,
            )
        )
    session.flush()
    return record


def opinion_record(
    result: AnalystResult,
    *,
    instrument_id: int,
    context_hash: str,
    as_of: datetime,
    created_at: datetime | None = None,
    consensus_id: int | None = None,
    price: Decimal | None = None,
    is_demo: bool = False,
    contaminated: bool = False,
    replay_of_id: int | None = None,
) -> AnalystOpinion:
    """Return the ``ai_opinions`` row (the decision record) of one analyst's result."""
    opinion = result.opinion
    claims: ClaimCheck | None = result.claims
    return AnalystOpinion(
        consensus_id=consensus_id,
        instrument_id=instrument_id,
        analyst=result.analyst,
        provider=result.provider,
        model=result.model,
        context_hash=context_hash,
        created_at=created_at or utc_now(),
        as_of=as_of,
        ok=result.ok,
        signal=opinion.signal if opinion else None,
        confidence=opinion.confidence if opinion else None,
        horizon_hours=opinion.horizon_hours if opinion else None,
        rationale=opinion.rationale if opinion else None,
        error=result.error,
        prompt=result.prompt,
        answer=result.answer,
        reasoning=result.reasoning,
        cached=result.cached,
        attempts=result.attempts,
        latency_ms=round(result.latency_ms, 3),
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        cost_usd=result.cost_usd,
        cost_eur=result.cost_eur,
        price_at_opinion=price,
        is_demo=is_demo,
        model_version=result.model_version,
        request_params=dict(result.request_params) or None,
        prompt_hash=prompt_hash(result.prompt) if result.prompt else None,
        konsens_version=konsens_version(),
        claims=[claim.as_json() for claim in claims.claims] if claims is not None else None,
        claims_checked=claims.checked if claims is not None else 0,
        claims_false=len(claims.false_claims) if claims is not None else 0,
        contaminated=contaminated,
        replay_of_id=replay_of_id,
    )


@dataclass(frozen=True)
class AnalysisSummary:
    """A stored consensus run, in the shape the CLI prints."""

    consensus_id: int
    symbol: str
    run: ConsensusRun

    def as_json(self) -> dict[str, Any]:
        """Return ``{"symbol", "decision", "score", "agreement", "flagged", "opinions": [...]}``."""
        outcome = self.run.outcome
        return {
            "symbol": self.symbol,
            "decision": outcome.decision.value,
            "score": round(outcome.score, 4),
            "agreement": round(outcome.agreement, 4),
            "flagged": outcome.flagged,
            "opinions": [
                {
                    "analyst": result.analyst,
                    "model": result.model,
                    "signal": result.opinion.signal.value if result.opinion else None,
                    "confidence": result.opinion.confidence if result.opinion else None,
                    "rationale": result.opinion.rationale if result.opinion else None,
                    "ok": result.ok,
                    "error": result.error,
                    "latency_ms": round(result.latency_ms, 1),
                    "cost_eur": str(result.cost_eur) if result.cost_eur is not None else None,
                    "claims_checked": result.claims.checked if result.claims is not None else 0,
                    "claims_false": len(result.claims.false_claims) if result.claims is not None else 0,
                    "false_claims": [claim.as_json() for claim in result.claims.false_claims]
                    if result.claims is not None
                    else [],
                    "weight": round(outcome.weights.get(result.analyst, 0.0), 6),
                }
                for result in self.run.results
            ],
        }


_process_cache: OpinionCache | None = None
_process_cache_lock = threading.Lock()


def process_cache(database: Database) -> OpinionCache:
    """Return the process-wide opinion cache for ``database``."""
    global _process_cache
    with _process_cache_lock:
        if _process_cache is None or _process_cache.database is not database:
            _process_cache = OpinionCache(database)
        return _process_cache


def analyse_instrument(
    database: Database,
    instrument_id: int,
    *,
    config: AIConfig | None = None,
    analysts: Sequence[Analyst] | None = None,
    cache: OpinionCache | None = None,
    progress: ProgressCallback | None = None,
    now: datetime | None = None,
) -> AnalysisSummary:
    """Build the snapshot, run every enabled analyst, store and return the consensus.

    ``analysts`` overrides the configured ones (tests, benchmarks). Raises
    :class:`~core.ai.context.NotEnoughData` when the instrument has too few candles.
    """
    now = now or utc_now()

    def prepare(
        session: Session,
    ) -> tuple[AIConfig, ContextSnapshot, dict[str, TrackStats], dict[str, int], str, SpendingGuard]:
        instrument = session.get(Instrument, instrument_id)
        if instrument is None:
            raise LookupError(f"instrument {instrument_id} does not exist")
        loaded = config or load_ai_config(session)
        # Point in time: only candles closed and news published by now (a forming candle is left out).
        snapshot = build_snapshot(session, instrument, until=now, lookback_hours=loaded.news_lookback_hours)
        spending = SpendingGuard.from_database(session, loaded.costs, now=now)
        return loaded, snapshot, load_track_stats(session), calls_today(session, now), instrument.symbol, spending

    if progress:
        progress("building the context snapshot")
    config, snapshot, track_records, used, symbol, spending = database.run(prepare)
    if analysts is None:
        budget = CallBudget(config.limits.budget_of, used)
        analysts = build_analysts(config, budget=budget, spending=spending)
    engine = ConsensusEngine(
        analysts=analysts,
        parameters=config.parameters,
        deadline_seconds=config.limits.deadline_seconds,
        cache=cache if cache is not None else process_cache(database),
        progress=progress,
    )
    run = engine.run(snapshot, track_records)
    if progress:
        progress("storing the result")

    def store(session: Session) -> int:
        record = store_run(session, run, decided_at=now)
        raise_cost_cap_alerts(session, spending, now=now)
        return record.id

    consensus_id = database.run(store)
    logger.info(
        "Consensus %s: %s (score %+.2f, agreement %.2f%s) from %d valid / %d failed opinions in %.2f s",
        symbol,
        run.outcome.decision.value,
        run.outcome.score,
        run.outcome.agreement,
        ", flagged" if run.outcome.flagged else "",
        run.outcome.valid_opinions,
        len(run.outcome.failures),
        run.elapsed_seconds,
    )
    return AnalysisSummary(consensus_id=consensus_id, symbol=symbol, run=run)


def raise_cost_cap_alerts(session: Session, spending: SpendingGuard, *, now: datetime | None = None) -> int:
    """Raise one alert per provider and UTC day whose calls a cost cap stopped; return how many are new."""
    from core.risk.alerts import raise_alert
    from core.risk.models import AlertKind, AlertSeverity

    now = now or utc_now()
    raised = 0
    for provider, reason in sorted(spending.refusals.items()):
        alert = raise_alert(
            session,
            kind=AlertKind.AI_COST_CAP,
            severity=AlertSeverity.WARNING,
            subject=f"AI analyst {provider}",
            message=f"{provider} is skipped: {reason}",
            dedupe_key=f"ai-cost-cap:{provider}:{now.date().isoformat()}",
            details={"provider": provider, "reason": reason},
            now=now,
        )
        raised += alert is not None
    return raised


def latest_decision_time(session: Session, instrument_id: int) -> datetime | None:
    """Return when the newest non-demo live consensus of an instrument was decided, or None."""
    return session.scalar(
        select(func.max(ConsensusRecord.decided_at)).where(
            ConsensusRecord.instrument_id == instrument_id,
            ConsensusRecord.is_demo.is_(False),
            ConsensusRecord.origin == ConsensusOrigin.LIVE,
        )
    )


def is_due(last: datetime | None, now: datetime, schedule_minutes: float) -> bool:
    """Return True if a scheduled run is due (none yet, or the last one is older than the schedule)."""
    return last is None or now - last >= timedelta(minutes=schedule_minutes)
