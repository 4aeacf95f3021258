"""LLM analysts: Azure OpenAI, DeepSeek-R1, Ollama and any OpenAI-compatible endpoint.

Each analyst sends the same prompt (the context snapshot as JSON), validates the answer into an
:class:`~core.ai.opinion.Opinion` and never raises: timeouts, HTTP errors, refusals, empty or
malformed answers become an :class:`~core.ai.opinion.AnalystResult` with ``error`` set.

Call policy (shared by all providers, in :meth:`LLMAnalyst.analyse`): every provider call has a
timeout; 429, 5xx and connection errors are retried with exponential backoff (honouring
``Retry-After``) up to ``max_attempts``; an empty or invalid answer is asked again up to
``content_retries`` times; every call first takes one unit of the provider's daily budget.
Tokens, a cost estimate and the latency are recorded. The client libraries' own retries are
switched off so this one policy applies.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from core.ai.config import CallLimits, ProviderConfig, ProviderKind
from core.ai.opinion import (
    AnalystResult,
    InvalidAnswer,
    Opinion,
    OpinionAnswer,
    opinion_from_json,
)
from core.logging_setup import redact
from core.observability.tracing import traced
from core.retry import backoff_seconds, retry_after_seconds

if TYPE_CHECKING:
    from core.ai.context import ContextSnapshot

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER_SECONDS = 30.0
MAX_TOKENS = 2000

SYSTEM_PROMPT = """You are a careful trading analyst. You receive a JSON snapshot of one instrument:
recent candles, indicator values (SMA, EMA, RSI, MACD, Bollinger bands, ATR), support and
resistance levels, recent headlines with sentiment scores, and the trader's current position.
Decide whether the trader should buy, sell or hold over a horizon you choose.
Answer with json only: exactly one JSON object and nothing else, for example
{"signal": "hold", "confidence": 0.55, "horizon_hours": 24,
 "rationale": "Price sits between support and resistance; momentum is flat."}
signal is one of buy, sell, hold; confidence is the probability between 0 and 1 that your call
is right; horizon_hours is a whole number between 1 and 720; rationale is two to four sentences."""


class ProviderError(Exception):
    """A failed provider call, with whether it is worth retrying."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class Completion:
    """One provider answer, reduced to what the analyst needs."""

    content: str | None
    reasoning: str | None = None
    refusal: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    opinion: Opinion | None = None  # set when the client library already parsed the answer


class CallBudget:
    """Per-provider daily call budgets (thread-safe); ``used`` holds today's calls so far."""

    def __init__(self, limits: Mapping[str, int] | Callable[[str], int], used: Mapping[str, int] | None = None):
        self._limit_of = limits if callable(limits) else (lambda provider: int(limits.get(provider, 0)))
        self._used = dict(used or {})
        self._lock = threading.Lock()

    def try_acquire(self, provider: str) -> bool:
        """Take one call from ``provider``'s budget; return False when it is used up."""
        with self._lock:
            used = self._used.get(provider, 0)
            if used >= self._limit_of(provider):
                return False
            self._used[provider] = used + 1
            return True

    def used(self, provider: str) -> int:
        """Return the calls counted for ``provider`` today."""
        with self._lock:
            return self._used.get(provider, 0)

    def limit(self, provider: str) -> int:
        """Return the daily budget of ``provider``."""
        return self._limit_of(provider)


def build_messages(snapshot: ContextSnapshot) -> list[dict[str, str]]:
    """Return the chat messages for a snapshot (system instructions + the snapshot as JSON)."""
    payload = json.dumps(snapshot.prompt_payload(), separators=(",", ":"))
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Snapshot of {snapshot.symbol} (json):\n{payload}"},
    ]


def render_prompt(messages: list[dict[str, str]]) -> str:
    """Return the messages as one text, as stored with each opinion."""
    return "\n\n".join(f"[{message['role']}]\n{message['content']}" for message in messages)


def _span_attributes(analyst: LLMAnalyst) -> dict[str, str]:
    return {"analyst": analyst.name, "provider": analyst.provider, "model": analyst.model}


class LLMAnalyst:
    """Base of the network analysts: the shared call policy around one ``_complete`` call."""

    provider: str = "llm"

    def __init__(
        self,
        name: str,
        model: str,
        limits: CallLimits,
        *,
        budget: CallBudget | None = None,
        input_cost_per_million_tokens: Decimal = Decimal(0),
        output_cost_per_million_tokens: Decimal = Decimal(0),
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.name = name
        self.model = model
        self.limits = limits
        self.budget = budget
        self.input_cost = input_cost_per_million_tokens
        self.output_cost = output_cost_per_million_tokens
        self._sleep = sleep

    def _complete(self, messages: list[dict[str, str]]) -> Completion:  # pragma: no cover - abstract
        raise NotImplementedError

    @traced(
        "llm.analyse",
        attributes_of=lambda self, _snapshot: {"analyst": self.name, "provider": self.provider, "model": self.model},
    )
    def analyse(self, snapshot: ContextSnapshot) -> AnalystResult:
        """Ask the model about ``snapshot``; return its validated opinion or the failure."""
        started = time.perf_counter()
        messages = build_messages(snapshot)
        prompt = render_prompt(messages)
        attempts = 0
        transport_failures = 0
        content_failures = 0
        prompt_tokens = 0
        completion_tokens = 0
        last_answer: str | None = None
        last_reasoning: str | None = None

        def result(opinion: Opinion | None = None, error: str | None = None) -> AnalystResult:
            if error:
                logger.info("%s analyst failed: %s", self.name, redact(error))
            return AnalystResult(
                analyst=self.name,
                provider=self.provider,
                model=self.model,
                opinion=opinion,
                error=error,
                prompt=prompt,
                answer=last_answer,
                reasoning=last_reasoning,
                latency_ms=(time.perf_counter() - started) * 1000,
                prompt_tokens=prompt_tokens or None,
                completion_tokens=completion_tokens or None,
                cost_usd=self._cost(prompt_tokens, completion_tokens),
                attempts=attempts,
            )

        while True:
            if self.budget is not None and not self.budget.try_acquire(self.provider):
                return result(
                    error=f"daily call budget used up ({self.budget.limit(self.provider)} calls for {self.provider})"
                )
            attempts += 1
            try:
                completion = self._complete(messages)
            except ProviderError as error:
                transport_failures += 1
                if error.retryable and transport_failures < self.limits.max_attempts:
                    self._sleep(self._backoff(transport_failures, error.retry_after))
                    continue
                suffix = f" after {attempts} attempts" if attempts > 1 else ""
                return result(error=f"{error.reason}{suffix}")
            except Exception as error:  # a client library surprise must not crash the run
                return result(error=f"unexpected {type(error).__name__}: {redact(str(error))[:300]}")
            prompt_tokens += completion.prompt_tokens or 0
            completion_tokens += completion.completion_tokens or 0
            last_answer = completion.content
            last_reasoning = completion.reasoning or last_reasoning
            if completion.refusal:
                return result(error=f"refused: {completion.refusal[:300]}")
            try:
                opinion = completion.opinion or opinion_from_json(completion.content or "")
            except InvalidAnswer as error:
                content_failures += 1
                if content_failures <= self.limits.content_retries:
                    continue
                detail = str(error)
                if detail == "invalid answer: " or "Invalid JSON" in detail:
                    detail = f"invalid answer (not JSON): {(completion.content or '')[:80]!r}"
                return result(error=detail)
            return result(opinion=opinion)

    def _backoff(self, failure_number: int, retry_after: float | None) -> float:
        return backoff_seconds(
            failure_number,
            base_seconds=self.limits.retry_base_seconds,
            max_seconds=MAX_RETRY_AFTER_SECONDS,
            retry_after=retry_after,
        )

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        million = Decimal(1_000_000)
        return (Decimal(prompt_tokens) * self.input_cost + Decimal(completion_tokens) * self.output_cost) / million


# --- OpenAI-style providers (Azure, DeepSeek, any OpenAI-compatible endpoint) --------------------


def _retry_after(headers: Any) -> float | None:
    return retry_after_seconds(dict(headers) if headers is not None else None)


def _openai_error(error: Exception, timeout: float) -> ProviderError:
    """Map an ``openai`` exception to a :class:`ProviderError` with a clear reason."""
    import openai

    if isinstance(error, openai.APITimeoutError):
        return ProviderError(f"timed out after {timeout:g} s", retryable=False)
    if isinstance(error, openai.APIConnectionError):
        return ProviderError(f"connection failed: {redact(str(error))[:200]}", retryable=True)
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        message = redact(str(getattr(error, "message", error)))[:200]
        retryable = status == 429 or status >= 500
        label = "rate limited (HTTP 429)" if status == 429 else f"HTTP {status}"
        return ProviderError(
            f"{label}: {message}", retryable=retryable, retry_after=_retry_after(error.response.headers)
        )
    return ProviderError(f"{type(error).__name__}: {redact(str(error))[:200]}", retryable=False)


def _usage(completion: Any) -> tuple[int | None, int | None]:
    usage = getattr(completion, "usage", None)
    if usage is None:
        return None, None
    return getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None)


class OpenAICompatibleAnalyst(LLMAnalyst):
    """Any OpenAI-compatible chat completions endpoint (JSON mode by default)."""

    provider = "openai_compatible"

    def __init__(
        self,
        name: str,
        model: str,
        limits: CallLimits,
        *,
        base_url: str,
        api_key: str | None,
        json_mode: bool = True,
        provider: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(name, model, limits, **kwargs)
        import openai

        if provider:
            self.provider = provider
        self.json_mode = json_mode
        self.client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or "not-needed",
            timeout=limits.timeout_seconds,
            max_retries=0,
        )

    def _complete(self, messages: list[dict[str, str]]) -> Completion:
        import openai

        extra: dict[str, Any] = {"response_format": {"type": "json_object"}} if self.json_mode else {}
        try:
            response = self.client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=MAX_TOKENS,
                **extra,
            )
        except openai.OpenAIError as error:
            raise _openai_error(error, self.limits.timeout_seconds) from error
        if not response.choices:
            raise ProviderError("answer without choices", retryable=True)
        choice = response.choices[0]
        message = choice.message
        reasoning = getattr(message, "reasoning_content", None)
        if reasoning is None and message.model_extra:
            reasoning = message.model_extra.get("reasoning_content")
        refusal = message.refusal
        if refusal is None and choice.finish_reason == "content_filter":
            refusal = "blocked by the provider's content filter"
        prompt_tokens, completion_tokens = _usage(response)
        return Completion(
            content=message.content,
            reasoning=reasoning,
            refusal=refusal,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )


class DeepSeekAnalyst(OpenAICompatibleAnalyst):
    """DeepSeek-R1 (``deepseek-reasoner``): JSON mode; the reasoning text is stored, never sent back."""

    provider = "deepseek"

    def __init__(self, name: str, model: str, limits: CallLimits, *, base_url: str, api_key: str, **kwargs: Any):
        super().__init__(name, model, limits, base_url=base_url, api_key=api_key, json_mode=True, **kwargs)


class AzureOpenAIAnalyst(LLMAnalyst):
    """Azure OpenAI with structured output (strict JSON schema of :class:`OpinionAnswer`)."""

    provider = "azure_openai"

    def __init__(
        self,
        name: str,
        deployment: str,
        limits: CallLimits,
        *,
        endpoint: str,
        api_key: str,
        api_version: str,
        **kwargs: Any,
    ):
        super().__init__(name, deployment, limits, **kwargs)
        import openai

        self.client = openai.AzureOpenAI(
            azure_endpoint=endpoint,
            api_key=api_key,
            api_version=api_version,
            timeout=limits.timeout_seconds,
            max_retries=0,
        )

    def _complete(self, messages: list[dict[str, str]]) -> Completion:
        import openai

        try:
            raw = self.client.chat.completions.with_raw_response.parse(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                response_format=OpinionAnswer,
                max_completion_tokens=MAX_TOKENS,
            )
        except openai.OpenAIError as error:
            raise _openai_error(error, self.limits.timeout_seconds) from error
        body_content = _content_from_body(raw.http_response)
        try:
            parsed = raw.parse()
        except openai.ContentFilterFinishReasonError:
            return Completion(content=body_content, refusal="blocked by the provider's content filter")
        except openai.LengthFinishReasonError:
            raise ProviderError("answer cut off at the token limit", retryable=False) from None
        except (ValidationError, ValueError):
            # The answer is not valid JSON for the schema: hand the raw text to the shared validation.
            return Completion(content=body_content, prompt_tokens=_body_usage(raw.http_response, "prompt_tokens"),
                              completion_tokens=_body_usage(raw.http_response, "completion_tokens"))  # fmt: skip
        if not parsed.choices:
            raise ProviderError("answer without choices", retryable=True)
        message = parsed.choices[0].message
        prompt_tokens, completion_tokens = _usage(parsed)
        opinion: Opinion | None = None
        if message.parsed is not None:
            try:
                opinion = Opinion.model_validate(message.parsed.model_dump())
            except ValidationError:
                # Parsed, but out of range (e.g. confidence 1.7): the shared validation retries and records it.
                return Completion(
                    content=message.content, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
                )
        return Completion(
            content=message.content,
            refusal=message.refusal,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            opinion=opinion,
        )


def _content_from_body(response: Any) -> str | None:
    try:
        body = response.json()
        return body["choices"][0]["message"].get("content")
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def _body_usage(response: Any, key: str) -> int | None:
    try:
        return int(response.json()["usage"][key])
    except (ValueError, KeyError, TypeError):
        return None


# --- Ollama ---------------------------------------------------------------------------------------


class OllamaAnalyst(LLMAnalyst):
    """A local model through Ollama (``POST /api/chat`` with ``format`` = the JSON schema)."""

    provider = "ollama"

    def __init__(self, name: str, model: str, limits: CallLimits, *, host: str, **kwargs: Any):
        super().__init__(name, model, limits, **kwargs)
        import ollama

        self.client = ollama.Client(host=host, timeout=limits.timeout_seconds)

    def _complete(self, messages: list[dict[str, str]]) -> Completion:
        import httpx
        import ollama

        try:
            response = self.client.chat(
                model=self.model,
                messages=messages,
                format=OpinionAnswer.model_json_schema(),
                options={"temperature": 0},
            )
        except ollama.ResponseError as error:
            status = error.status_code
            retryable = status == 429 or status >= 500 or status == -1
            label = "rate limited (HTTP 429)" if status == 429 else f"HTTP {status}"
            raise ProviderError(f"{label}: {redact(str(error.error))[:200]}", retryable=retryable) from error
        except httpx.TimeoutException as error:
            raise ProviderError(f"timed out after {self.limits.timeout_seconds:g} s", retryable=False) from error
        except httpx.TransportError as error:
            raise ProviderError(f"connection failed: {redact(str(error))[:200]}", retryable=True) from error
        except (ValueError, ValidationError) as error:
            raise ProviderError(f"unreadable response: {str(error)[:200]}", retryable=True) from error
        message = response.message
        return Completion(
            content=message.content,
            reasoning=getattr(message, "thinking", None),
            prompt_tokens=response.prompt_eval_count,
            completion_tokens=response.eval_count,
        )


# --- construction from configuration --------------------------------------------------------------


def build_llm_analyst(
    provider: ProviderConfig,
    limits: CallLimits,
    *,
    budget: CallBudget | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> LLMAnalyst:
    """Create the analyst for an enabled LLM provider configuration."""
    costs = {
        "input_cost_per_million_tokens": provider.input_cost_per_million_tokens,
        "output_cost_per_million_tokens": provider.output_cost_per_million_tokens,
        "budget": budget,
        "sleep": sleep,
    }
    if provider.kind is ProviderKind.AZURE_OPENAI:
        return AzureOpenAIAnalyst(
            provider.name,
            provider.model,
            limits,
            endpoint=provider.endpoint or "",
            api_key=provider.api_key or "",
            api_version=provider.api_version or "",
            **costs,
        )
    if provider.kind is ProviderKind.DEEPSEEK:
        return DeepSeekAnalyst(
            provider.name, provider.model, limits, base_url=provider.endpoint or "", api_key=provider.api_key or "",
            **costs,
        )  # fmt: skip
    if provider.kind is ProviderKind.OLLAMA:
        return OllamaAnalyst(provider.name, provider.model, limits, host=provider.endpoint or "", **costs)
    if provider.kind is ProviderKind.OPENAI_COMPATIBLE:
        return OpenAICompatibleAnalyst(
            provider.name,
            provider.model,
            limits,
            base_url=provider.endpoint or "",
            api_key=provider.api_key,
            json_mode=provider.json_mode,
            provider=f"openai_compatible:{provider.name}",
            **costs,
        )
    raise ValueError(f"{provider.name} is not an LLM provider")
