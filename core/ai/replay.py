"""Replay one decision record: rebuild its prompt from the stored snapshot and, if possible, ask again."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from core.ai.claims import check_claims
from core.ai.config import AIConfig, load_ai_config
from core.ai.context import ContextSnapshot
from core.ai.costs import SpendingGuard
from core.ai.engine import raise_cost_cap_alerts
from core.ai.llm import LLMAnalyst, build_llm_analyst
from core.ai.opinion import Analyst, AnalystResult
from core.ai.records import DecisionRecord, RebuiltPrompt, load_record, rebuild_prompt, store_replay, stored_snapshot
from core.db.engine import Database


@dataclass(frozen=True)
class ReplayOutcome:
    """The record, its rebuilt prompt, and the new answer (None with the reason when not asked)."""

    record: DecisionRecord
    rebuilt: RebuiltPrompt
    new_result: AnalystResult | None
    new_opinion_id: int | None
    not_asked_reason: str | None


def replay_opinion(
    database: Database,
    opinion_id: int,
    *,
    ask: bool = True,
    config: AIConfig | None = None,
    analyst: Analyst | None = None,
) -> ReplayOutcome:
    """Rebuild opinion ``opinion_id``'s prompt (checked by hash) and ask its provider again if configured.

    The new answer is stored as an opinion with ``replay_of_id`` (kept out of scoring and track
    records); its call counts against the provider's budget and cost caps like any other.
    """

    def prepare(session: Session) -> tuple[DecisionRecord, RebuiltPrompt, AIConfig, SpendingGuard]:
        record = load_record(session, opinion_id)
        rebuilt = rebuild_prompt(record)
        loaded = config or load_ai_config(session)
        return record, rebuilt, loaded, SpendingGuard.from_database(session, loaded.costs)

    record, rebuilt, loaded, spending = database.run(prepare)
    if not ask:
        return ReplayOutcome(record, rebuilt, None, None, "not asked (--no-ask)")
    if analyst is None:
        provider = next(
            (item for item in loaded.enabled_providers if item.name == record.opinion.analyst and item.is_llm), None
        )
        if provider is None:
            reason = f"{record.opinion.analyst} is not configured as an enabled LLM analyst here"
            return ReplayOutcome(record, rebuilt, None, None, reason)
        analyst = build_llm_analyst(provider, loaded.limits, spending=spending, eur_per_usd=loaded.costs.eur_per_usd)
    elif isinstance(analyst, LLMAnalyst) and analyst.spending is None:
        analyst.spending = spending
    snapshot = stored_snapshot(record)
    result = analyst.analyse(snapshot)
    if result.ok and result.opinion is not None:
        result = _checked(result, snapshot)

    def store(session: Session) -> int:
        row = store_replay(session, load_record(session, opinion_id), result)
        raise_cost_cap_alerts(session, spending)
        return row.id

    return ReplayOutcome(record, rebuilt, result, database.run(store), None)


def _checked(result: AnalystResult, snapshot: ContextSnapshot) -> AnalystResult:
    assert result.opinion is not None
    return replace(result, claims=check_claims(snapshot, [figure.model_dump() for figure in result.opinion.figures]))
