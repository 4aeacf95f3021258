"""The opinion an analyst returns, the result of asking one analyst, and the ``Analyst`` protocol."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.ai.models import Signal
from core.errors import PermanentError

if TYPE_CHECKING:
    from core.ai.claims import ClaimCheck
    from core.ai.context import ContextSnapshot

MAX_HORIZON_HOURS = 24 * 30


class Figure(BaseModel):
    """One figure an answer relies on, as the model quoted it (checked by :mod:`core.ai.claims`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1, max_length=80)
    value: float | str


class Opinion(BaseModel):
    """A validated opinion: ``{signal, confidence, horizon_hours, rationale, figures}``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    signal: Signal
    confidence: float = Field(ge=0.0, le=1.0)
    horizon_hours: int = Field(default=24, ge=1, le=MAX_HORIZON_HOURS)
    rationale: str = Field(min_length=1, max_length=8000)
    figures: tuple[Figure, ...] = Field(default=(), max_length=40)


class FigureAnswer(BaseModel):
    """A figure in the JSON schema sent to LLMs."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The snapshot's name of the figure, e.g. rsi_14, last_close, support.")
    value: float = Field(description="The value exactly as it appears in the snapshot.")


class OpinionAnswer(BaseModel):
    """The JSON schema LLMs are asked to fill (plain types; ranges are checked by :class:`Opinion`)."""

    model_config = ConfigDict(extra="forbid")

    signal: Literal["buy", "sell", "hold"]
    confidence: float = Field(description="Probability in [0, 1] that the call is right.")
    horizon_hours: int = Field(description="Hours until the call should be judged, 1 to 720.")
    rationale: str = Field(description="Two to four sentences: the main reasons.")
    figures: list[FigureAnswer] = Field(description="The snapshot figures the rationale relies on.")


def opinion_from_json(text: str) -> Opinion:
    """Parse and validate an answer text into an :class:`Opinion` (raises ``InvalidAnswer``)."""
    if not text or not text.strip():
        raise InvalidAnswer("invalid answer: empty content")
    cleaned = text.strip()
    if cleaned.startswith("```"):  # some models wrap JSON in a code fence despite JSON mode
        cleaned = cleaned.strip("`")
        cleaned = cleaned[4:] if cleaned.lower().startswith("json") else cleaned
    try:
        return Opinion.model_validate_json(cleaned)
    except ValidationError as error:
        raise InvalidAnswer(describe_validation_error(error)) from error


def describe_validation_error(error: ValidationError) -> str:
    """Return a one-line description of what was wrong with an answer."""
    parts = []
    for item in error.errors()[:3]:
        location = ".".join(str(part) for part in item.get("loc", ())) or "answer"
        parts.append(f"{location}: {item.get('msg', 'invalid')}")
    return "invalid answer: " + "; ".join(parts)


class InvalidAnswer(PermanentError, ValueError):
    """An answer that is empty, not JSON, or not a valid opinion."""


@dataclass(frozen=True)
class AnalystResult:
    """What asking one analyst produced: an opinion, or a failure with its reason; with the cost."""

    analyst: str
    provider: str
    model: str
    opinion: Opinion | None = None
    error: str | None = None
    prompt: str | None = None
    answer: str | None = None
    reasoning: str | None = None
    latency_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: Decimal | None = None
    attempts: int = 0
    cached: bool = False
    cost_eur: Decimal | None = None
    model_version: str | None = None  # the model (and fingerprint) the provider says answered
    request_params: dict[str, Any] = field(default_factory=dict)  # what was sent besides the prompt
    claims: ClaimCheck | None = None  # the answer's figures, checked against the snapshot
    skipped_for_cost: bool = False  # not asked: a cost cap was reached

    @property
    def ok(self) -> bool:
        """Return True if the analyst gave a valid opinion."""
        return self.opinion is not None and self.error is None

    def as_cached(self, latency_ms: float) -> AnalystResult:
        """Return this result as reused from the cache: no calls, no cost."""
        return replace(self, cached=True, attempts=0, latency_ms=latency_ms, cost_usd=Decimal(0), cost_eur=Decimal(0))

    @property
    def has_false_claims(self) -> bool:
        """Return True if the answer quoted a figure that is not in, or does not match, the snapshot."""
        return self.claims is not None and self.claims.has_false_claims


class Analyst(Protocol):
    """Anything that turns a context snapshot into an opinion.

    ``analyse`` never raises: a failure is returned as an :class:`AnalystResult` with ``error``.
    ``provider`` names the call budget it draws from; ``model`` is part of the cache key.
    """

    name: str
    provider: str
    model: str

    def analyse(self, snapshot: ContextSnapshot) -> AnalystResult:
        """Return this analyst's opinion on ``snapshot`` (or a failure)."""
        ...
