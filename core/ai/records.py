"""Decision records: everything needed to audit, and to reproduce, one analyst's opinion.

A record is an ``ai_opinions`` row with its consensus row: the context snapshot itself (candles
window, indicator values, levels, headlines with their publish times, position), the full prompt
and its SHA-256, the request parameters, the model version the API returned, the raw answer and
reasoning, the checked figures, tokens, cost, latency and the Konsens version.

:func:`rebuild_prompt` turns the stored snapshot back into the prompt with today's code; a
replay compares its hash with the stored one (identical unless the prompt template changed since,
which the Konsens version of the record then explains) and can ask the provider again.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from core.ai.models import AnalystOpinion, ConsensusRecord
from core.errors import PermanentError
from core.market.models import Instrument

if TYPE_CHECKING:
    from core.ai.context import ContextSnapshot
    from core.ai.opinion import AnalystResult


class RecordNotFound(PermanentError, LookupError):
    """No opinion with that id, or it has no stored snapshot (recorded before decision records)."""


@dataclass(frozen=True)
class DecisionRecord:
    """One opinion's full record."""

    opinion: AnalystOpinion
    consensus: ConsensusRecord | None
    symbol: str

    @property
    def snapshot_json(self) -> dict[str, Any] | None:
        return self.consensus.snapshot if self.consensus is not None else None

    def as_json(self) -> dict[str, Any]:
        """Return the record as printed by ``konsens analyze --show ID --json``."""
        row = self.opinion

        def money(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        return {
            "id": row.id,
            "consensus_id": row.consensus_id,
            "symbol": self.symbol,
            "analyst": row.analyst,
            "provider": row.provider,
            "model": row.model,
            "model_version": row.model_version,
            "request_params": row.request_params,
            "konsens_version": row.konsens_version,
            "created_at": row.created_at.isoformat(),
            "as_of": row.as_of.isoformat(),
            "ok": row.ok,
            "signal": row.signal.value if row.signal else None,
            "confidence": row.confidence,
            "horizon_hours": row.horizon_hours,
            "rationale": row.rationale,
            "error": row.error,
            "claims_checked": row.claims_checked,
            "claims_false": row.claims_false,
            "claims": row.claims or [],
            "prompt_hash": row.prompt_hash,
            "prompt": row.prompt,
            "answer": row.answer,
            "reasoning": row.reasoning,
            "prompt_tokens": row.prompt_tokens,
            "completion_tokens": row.completion_tokens,
            "cost_usd": money(row.cost_usd),
            "cost_eur": money(row.cost_eur),
            "latency_ms": row.latency_ms,
            "attempts": row.attempts,
            "cached": row.cached,
            "contaminated": row.contaminated,
            "replay_of_id": row.replay_of_id,
            "snapshot": self.snapshot_json,
        }


def load_record(session: Session, opinion_id: int) -> DecisionRecord:
    """Return the decision record of opinion ``opinion_id`` (raises :class:`RecordNotFound`)."""
    row = session.get(AnalystOpinion, opinion_id)
    if row is None:
        raise RecordNotFound(f"no opinion #{opinion_id}")
    consensus = session.get(ConsensusRecord, row.consensus_id) if row.consensus_id is not None else None
    if consensus is None and row.replay_of_id is not None:
        original = session.get(AnalystOpinion, row.replay_of_id)
        if original is not None and original.consensus_id is not None:
            consensus = session.get(ConsensusRecord, original.consensus_id)
    instrument = session.get(Instrument, row.instrument_id)
    return DecisionRecord(row, consensus, instrument.symbol if instrument else str(row.instrument_id))


def stored_snapshot(record: DecisionRecord) -> ContextSnapshot:
    """Return the record's context snapshot as the object it was built as."""
    from core.ai.context import ContextSnapshot

    if record.snapshot_json is None:
        raise RecordNotFound(
            f"opinion #{record.opinion.id} has no stored snapshot (it was recorded before decision records existed)"
        )
    return ContextSnapshot.model_validate(record.snapshot_json)


@dataclass(frozen=True)
class RebuiltPrompt:
    """The prompt rebuilt from a stored snapshot, compared with the stored one."""

    prompt: str
    prompt_hash: str
    stored_hash: str | None

    @property
    def identical(self) -> bool:
        return self.stored_hash is not None and self.prompt_hash == self.stored_hash


def rebuild_prompt(record: DecisionRecord) -> RebuiltPrompt:
    """Rebuild the exact prompt of a record from its stored snapshot (with today's prompt code)."""
    from core.ai.llm import build_messages, prompt_hash, render_prompt

    snapshot = stored_snapshot(record)
    prompt = render_prompt(build_messages(snapshot))
    return RebuiltPrompt(prompt=prompt, prompt_hash=prompt_hash(prompt), stored_hash=record.opinion.prompt_hash)


def store_replay(session: Session, record: DecisionRecord, result: AnalystResult) -> AnalystOpinion:
    """Store the answer of a replay as an opinion pointing at the original (not scored, not in track records)."""
    from core.ai.engine import opinion_record

    original = record.opinion
    row = opinion_record(
        result,
        instrument_id=original.instrument_id,
        context_hash=original.context_hash,
        as_of=original.as_of,
        replay_of_id=original.id,
    )
    session.add(row)
    session.flush()
    return row
