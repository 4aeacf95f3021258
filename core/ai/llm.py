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

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from core.ai.claims import figure_names_hint
from core.ai.config import CallLimits, ProviderConfig, ProviderKind, output_token_limit
from core.ai.costs import SpendingGuard, worst_case_call_eur
from core.ai.opinion import (
    AnalystResult,
    InvalidAnswer,
    Opinion,
    OpinionAnswer,
    opinion_from_json,
)
from core.errors import ErrorBranch, KonsensError
from core.logging_setup import redact
from core.observability.tracing import traced
from core.retry import backoff_seconds, retry_after_seconds

if TYPE_CHECKING:
    from core.ai.context import ContextSnapshot

logger = logging.getLogger(__name__)

TRUNCATED_PREFIX = "truncated:"
OLLAMA_SEED = 7  # a fixed seed with temperature 0: the same prompt gives the same answer

MAX_RETRY_AFTER_SECONDS = 30.0

SYSTEM_PROMPT = """You are a careful trading analyst. You receive a JSON snapshot of one instrument:
recent candles, indicator values (SMA, EMA, RSI, MACD, Bollinger bands, ATR), support and
resistance levels, recent headlines with sentiment scores, and the trader's current position.
Decide whether the trader should buy, sell or hold over a horizon you choose.
Answer with json only: exactly one JSON object and nothing else, for example
{"signal": "hold", "confidence": 0.55, "horizon_hours": 24,
 "rationale": "Price sits between support and resistance; RSI is neutral.",
 "figures": [{"name": "rsi_14", "value": 51.3}, {"name": "support", "value": 84000.0}]}
signal is one of buy, sell, hold; confidence is the probability between 0 and 1 that your call
is right; horizon_hours is a whole number between 1 and 720; rationale is two to four sentences.
figures lists every number from the snapshot that your rationale relies on, each with its name
and its value exactly as in the snapshot. Quote only figures that are in the snapshot: each one
is checked, and an answer with a figure that is not there, or a wrong value, is discarded."""


class ProviderError(KonsensError):
    """A failed provider call, with whether it is worth retrying."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.branch = ErrorBranch.TRANSIENT if retryable else ErrorBranch.PERMANENT


@dataclass(frozen=True)
class Completion:
    """One provider answer, reduced to what the analyst needs."""

    content: str | None
    reasoning: str | None = None
    refusal: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    model_version: str | None = None  # the answering model (and system fingerprint) as the API names it
    opinion: Opinion | None = None  # set when the client library already parsed the answer
    truncated: bool = False  # the provider stopped at the output token limit (finish reason "length")


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
    """Return the chat messages for a snapshot (system instructions + the snapshot as JSON).

    A pure function of the snapshot: a stored snapshot rebuilds the same prompt, byte for byte.
    """
    payload = json.dumps(snapshot.prompt_payload(), separators=(",", ":"))
    names = figure_names_hint(snapshot)
    return [
        {"role": "system", "content": f"{SYSTEM_PROMPT}\nFigure names in this snapshot: {names}."},
        {"role": "user", "content": f"Snapshot of {snapshot.symbol} (json):\n{payload}"},
    ]


def render_prompt(messages: list[dict[str, str]]) -> str:
    """Return the messages as one text, as stored with each opinion."""
    return "\n\n".join(f"[{message['role']}]\n{message['content']}" for message in messages)


def prompt_hash(prompt: str) -> str:
    """Return the SHA-256 of a rendered prompt (stored with each opinion; checked by a replay)."""
    return hashlib.sha256(prompt.encode()).hexdigest()


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
        max_output_tokens: int | None = None,
        spending: SpendingGuard | None = None,
        eur_per_usd: Decimal = Decimal("0.86"),
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.name = name
        self.model = model
        self.limits = limits
        self.max_output_tokens = max_output_tokens or output_token_limit(model)
        self.spending = spending
        self.eur_per_usd = eur_per_usd
        self.budget = budget
        self.input_cost = input_cost_per_million_tokens
        self.output_cost = output_cost_per_million_tokens
        self._sleep = sleep

    def _complete(self, messages: list[dict[str, str]]) -> Completion:  # pragma: no cover - abstract
        raise NotImplementedError

    def request_parameters(self) -> dict[str, Any]:  # pragma: no cover - abstract
        """Return what each call sends besides the messages (stored in the decision record)."""
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
        last_model_version: str | None = None
        worst_case = worst_case_call_eur(
            prompt, self.max_output_tokens, self.input_cost, self.output_cost, self.eur_per_usd
        )

        def result(
            opinion: Opinion | None = None, error: str | None = None, *, skipped_for_cost: bool = False
        ) -> AnalystResult:
            if error:
                logger.info("%s analyst failed: %s", self.name, redact(error))
            cost_usd = self._cost(prompt_tokens, completion_tokens)
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
                cost_usd=cost_usd,
                cost_eur=(cost_usd * self.eur_per_usd).quantize(Decimal("0.000001")),
                attempts=attempts,
                model_version=last_model_version,
                request_params=self.request_parameters(),
                skipped_for_cost=skipped_for_cost,
            )

        while True:
            if self.spending is not None:
                refusal = self.spending.reserve(self.provider, worst_case)
                if refusal is not None:
                    return result(error=refusal, skipped_for_cost=attempts == 0)
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
            if self.spending is not None:
                call_usd = self._cost(completion.prompt_tokens or 0, completion.completion_tokens or 0)
                self.spending.record(self.provider, call_usd * self.eur_per_usd)
            last_model_version = completion.model_version or last_model_version
            last_answer = completion.content
            last_reasoning = completion.reasoning or last_reasoning
            if completion.truncated:
                # Not retried: the same call would stop at the same limit and cost as much again.
                return result(error=self._truncation_reason(completion))
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

    def _truncation_reason(self, completion: Completion) -> str:
        used = f"; {completion.completion_tokens} output tokens used" if completion.completion_tokens else ""
        if completion.reasoning_tokens:
            used += f", {completion.reasoning_tokens} of them reasoning"
        return (
            f"{TRUNCATED_PREFIX} the answer was cut off at the output token limit "
            f"({self.max_output_tokens} tokens{used}); raise the {self.provider} max output tokens setting"
        )

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


def _model_version(completion: Any) -> str | None:
    """Return the answering model as the API names it, with its ``system_fingerprint`` when sent."""
    model = getattr(completion, "model", None)
    fingerprint = getattr(completion, "system_fingerprint", None)
    if not model and not fingerprint:
        return None
    return f"{model or '?'} ({fingerprint})" if fingerprint else str(model)


def _reasoning_tokens(completion: Any) -> int | None:
    """Return ``usage.completion_tokens_details.reasoning_tokens`` (OpenAI o-series, DeepSeek-R1) if sent."""
    details = getattr(getattr(completion, "usage", None), "completion_tokens_details", None)
    value = getattr(details, "reasoning_tokens", None)
    return int(value) if isinstance(value, int) else None


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

    def request_parameters(self) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model, "max_tokens": self.max_output_tokens}
        if self.json_mode:
            params["response_format"] = {"type": "json_object"}
        params["temperature"] = None  # not sent: DeepSeek-R1 ignores sampling parameters
        params["seed"] = None  # not sent
        return params

    def _complete(self, messages: list[dict[str, str]]) -> Completion:
        import openai

        extra: dict[str, Any] = {"response_format": {"type": "json_object"}} if self.json_mode else {}
        try:
            response = self.client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=self.max_output_tokens,
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
            reasoning_tokens=_reasoning_tokens(response),
            model_version=_model_version(response),
            truncated=choice.finish_reason == "length",
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

        self.api_version = api_version
        self.client = openai.AzureOpenAI(
            azure_endpoint=endpoint,
            api_key=api_key,
            api_version=api_version,
            timeout=limits.timeout_seconds,
            max_retries=0,
        )

    def request_parameters(self) -> dict[str, Any]:
        return {
            "deployment": self.model,
            "api_version": self.api_version,
            "response_format": {"type": "json_schema", "name": "OpinionAnswer", "strict": True},
            "max_completion_tokens": self.max_output_tokens,
            "temperature": None,  # not sent: reasoning deployments refuse it
            "seed": None,
        }

    def _complete(self, messages: list[dict[str, str]]) -> Completion:
        import openai

        try:
            raw = self.client.chat.completions.with_raw_response.parse(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                response_format=OpinionAnswer,
                max_completion_tokens=self.max_output_tokens,
            )
        except openai.OpenAIError as error:
            raise _openai_error(error, self.limits.timeout_seconds) from error
        body_content = _content_from_body(raw.http_response)
        try:
            parsed = raw.parse()
        except openai.ContentFilterFinishReasonError:
            return Completion(content=body_content, refusal="blocked by the provider's content filter")
        except openai.LengthFinishReasonError as error:
            prompt_tokens, completion_tokens = _usage(error.completion)
            return Completion(
                content=body_content,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                reasoning_tokens=_reasoning_tokens(error.completion),
                truncated=True,
            )
        except (ValidationError, ValueError):
            # The answer is not valid JSON for the schema: hand the raw text to the shared validation.
            return Completion(
                content=body_content,
                prompt_tokens=_body_usage(raw.http_response, "prompt_tokens"),
                completion_tokens=_body_usage(raw.http_response, "completion_tokens"),
            )
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
            reasoning_tokens=_reasoning_tokens(parsed),
            model_version=_model_version(parsed),
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

    def request_parameters(self) -> dict[str, Any]:
        return {"model": self.model, "format": "json_schema:OpinionAnswer", "options": self._options()}

    def _options(self) -> dict[str, Any]:
        return {"temperature": 0, "seed": OLLAMA_SEED, "num_predict": self.max_output_tokens}

    def _complete(self, messages: list[dict[str, str]]) -> Completion:
        import httpx
        import ollama

        try:
            response = self.client.chat(
                model=self.model,
                messages=messages,
                format=OpinionAnswer.model_json_schema(),
                options=self._options(),
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
            model_version=response.model,
            truncated=response.done_reason == "length",
        )


# --- construction from configuration --------------------------------------------------------------


def build_llm_analyst(
    provider: ProviderConfig,
    limits: CallLimits,
    *,
    budget: CallBudget | None = None,
    spending: SpendingGuard | None = None,
    eur_per_usd: Decimal = Decimal("0.86"),
    sleep: Callable[[float], None] = time.sleep,
) -> LLMAnalyst:
    """Create the analyst for an enabled LLM provider configuration."""
    costs = {
        "spending": spending,
        "eur_per_usd": eur_per_usd,
        "input_cost_per_million_tokens": provider.input_cost_per_million_tokens,
        "output_cost_per_million_tokens": provider.output_cost_per_million_tokens,
        "max_output_tokens": provider.max_output_tokens,
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
            provider.name,
            provider.model,
            limits,
            base_url=provider.endpoint or "",
            api_key=provider.api_key or "",
            **costs,
        )
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
