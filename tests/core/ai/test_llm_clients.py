"""LLM analysts against loopback servers speaking each provider's wire format, including failures.

Every failure case must come back as a recorded failure with its reason, never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

import pytest

from core.ai.config import CallLimits
from core.ai.context import ContextSnapshot
from core.ai.llm import (
    AzureOpenAIAnalyst,
    CallBudget,
    DeepSeekAnalyst,
    LLMAnalyst,
    OllamaAnalyst,
    OpenAICompatibleAnalyst,
)
from core.ai.models import Signal
from tests.core.ai.fake_llm import FakeLLMServer, Reply, ollama_chat, openai_completion, openai_error

AZURE_KEY = "azure-test-key-1234"
DEPLOYMENT = "gpt4o-konsens"
API_VERSION = "2024-10-21"


def make_azure(server: FakeLLMServer, limits: CallLimits, **kwargs: object) -> LLMAnalyst:
    return AzureOpenAIAnalyst(
        "azure-openai",
        DEPLOYMENT,
        limits,
        endpoint=server.url,
        api_key=AZURE_KEY,
        api_version=API_VERSION,
        input_cost_per_million_tokens=Decimal("2.50"),
        output_cost_per_million_tokens=Decimal("10.00"),
        **kwargs,
    )


def make_deepseek(server: FakeLLMServer, limits: CallLimits, **kwargs: object) -> LLMAnalyst:
    return DeepSeekAnalyst(
        "deepseek",
        "deepseek-reasoner",
        limits,
        base_url=server.url,
        api_key="sk-deepseek-test",
        input_cost_per_million_tokens=Decimal("0.55"),
        output_cost_per_million_tokens=Decimal("2.19"),
        **kwargs,
    )


def make_ollama(server: FakeLLMServer, limits: CallLimits, **kwargs: object) -> LLMAnalyst:
    return OllamaAnalyst("ollama", "llama3.1:8b", limits, host=server.url, **kwargs)


def ok_body(provider: str, content: str | None) -> dict[str, object]:
    return ollama_chat(content or "") if provider == "ollama" else openai_completion(content)


def error_body(provider: str, status: int, message: str) -> dict[str, object]:
    return {"error": message} if provider == "ollama" else openai_error(status, message)


FACTORIES: dict[str, Callable[..., LLMAnalyst]] = {
    "azure": make_azure,
    "deepseek": make_deepseek,
    "ollama": make_ollama,
}
PROVIDERS = list(FACTORIES)


# --- success and the wire format ---------------------------------------------------------------


def test_azure_sends_deployment_path_api_key_and_strict_schema(
    snapshot: ContextSnapshot, fast_limits: CallLimits
) -> None:
    with FakeLLMServer([Reply(body=openai_completion())]) as server:
        result = make_azure(server, fast_limits).analyse(snapshot)
    assert result.ok, result.error
    assert result.opinion is not None
    assert result.opinion.signal is Signal.BUY
    assert result.opinion.confidence == pytest.approx(0.72)
    assert result.opinion.horizon_hours == 48
    request = server.requests[0]
    assert request.path == f"/openai/deployments/{DEPLOYMENT}/chat/completions"
    assert request.query["api-version"] == [API_VERSION]
    assert request.headers["api-key"] == AZURE_KEY
    response_format = request.body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    schema = response_format["json_schema"]["schema"]
    assert set(schema["required"]) == {"signal", "confidence", "horizon_hours", "rationale", "figures"}
    assert schema["additionalProperties"] is False
    assert request.body["messages"][0]["role"] == "system"
    assert snapshot.symbol in request.body["messages"][1]["content"]
    # tokens, cost (812 × 2.50 + 64 × 10.00 per million USD) and latency are recorded
    assert (result.prompt_tokens, result.completion_tokens) == (812, 64)
    assert result.cost_usd == (Decimal(812) * Decimal("2.50") + Decimal(64) * Decimal("10.00")) / Decimal(1_000_000)
    assert result.latency_ms > 0
    assert result.attempts == 1
    assert result.prompt is not None and "[system]" in result.prompt


def test_deepseek_uses_json_mode_and_stores_reasoning_without_sending_it(
    snapshot: ContextSnapshot, fast_limits: CallLimits
) -> None:
    reasoning = "The MACD histogram turned positive while price holds above support..."
    replies = [Reply(body=openai_completion(model="deepseek-reasoner", reasoning=reasoning))]
    with FakeLLMServer(replies) as server:
        result = make_deepseek(server, fast_limits).analyse(snapshot)
    assert result.ok, result.error
    assert result.reasoning == reasoning
    request = server.requests[0]
    assert request.path == "/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-deepseek-test"
    assert request.body["model"] == "deepseek-reasoner"
    assert request.body["response_format"] == {"type": "json_object"}
    assert "json" in request.body["messages"][0]["content"].lower()  # JSON mode needs the word and an example
    assert all("reasoning_content" not in message for message in request.body["messages"])
    assert reasoning not in json.dumps(request.body)


def test_ollama_posts_api_chat_with_schema_format(snapshot: ContextSnapshot, fast_limits: CallLimits) -> None:
    with FakeLLMServer([Reply(body=ollama_chat())]) as server:
        result = make_ollama(server, fast_limits).analyse(snapshot)
    assert result.ok, result.error
    assert result.opinion is not None and result.opinion.signal is Signal.BUY
    request = server.requests[0]
    assert request.path == "/api/chat"
    assert request.body["model"] == "llama3.1:8b"
    assert request.body["stream"] is False
    assert request.body["format"]["properties"]["signal"]["enum"] == ["buy", "sell", "hold"]
    assert request.body["options"]["temperature"] == 0
    assert (result.prompt_tokens, result.completion_tokens) == (640, 52)
    assert result.cost_usd == Decimal(0)


def test_any_openai_compatible_endpoint_by_configuration(snapshot: ContextSnapshot, fast_limits: CallLimits) -> None:
    with FakeLLMServer([Reply(body=openai_completion(model="llama-3.3-70b"))]) as server:
        analyst = OpenAICompatibleAnalyst(
            "groq-llama",
            "llama-3.3-70b",
            fast_limits,
            base_url=server.url + "/openai/v1",
            api_key="gsk-test",
            provider="openai_compatible:groq-llama",
        )
        result = analyst.analyse(snapshot)
    assert result.ok, result.error
    assert server.requests[0].path == "/openai/v1/chat/completions"
    assert server.requests[0].body["model"] == "llama-3.3-70b"


# --- failures: each is recorded with its reason, none raises --------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_timeout_is_a_recorded_failure(provider: str, snapshot: ContextSnapshot) -> None:
    limits = CallLimits(timeout_seconds=0.2, max_attempts=3, retry_base_seconds=0.01, content_retries=0)
    with FakeLLMServer([Reply(body=ok_body(provider, None), delay=0.6)]) as server:
        result = FACTORIES[provider](server, limits).analyse(snapshot)
    assert not result.ok
    assert result.error is not None and result.error.startswith("timed out after 0.2 s")
    assert result.attempts == 1  # a timeout is not retried: the run must not wait longer
    assert result.latency_ms < 600


@pytest.mark.parametrize("provider", PROVIDERS)
def test_429_then_success_is_retried(provider: str, snapshot: ContextSnapshot, fast_limits: CallLimits) -> None:
    replies = [
        Reply(status=429, body=error_body(provider, 429, "Rate limit exceeded"), headers={"Retry-After": "0"}),
        Reply(
            body=ok_body(
                provider,
                json.dumps({"signal": "sell", "confidence": 0.6, "horizon_hours": 12, "rationale": "Lower highs."}),
            )
        ),
    ]
    with FakeLLMServer(replies) as server:
        result = FACTORIES[provider](server, fast_limits).analyse(snapshot)
    assert result.ok, result.error
    assert result.opinion is not None and result.opinion.signal is Signal.SELL
    assert result.attempts == 2
    assert len(server.requests) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_500_every_time_fails_after_bounded_retries(
    provider: str, snapshot: ContextSnapshot, fast_limits: CallLimits
) -> None:
    with FakeLLMServer([Reply(status=500, body=error_body(provider, 500, "internal server error"))]) as server:
        result = FACTORIES[provider](server, fast_limits).analyse(snapshot)
    assert not result.ok
    assert result.error is not None and "HTTP 500" in result.error and "after 3 attempts" in result.error
    assert len(server.requests) == 3


@pytest.mark.parametrize("provider", PROVIDERS)
def test_malformed_json_content_is_retried_then_recorded(
    provider: str, snapshot: ContextSnapshot, fast_limits: CallLimits
) -> None:
    broken = '{"signal": "buy", "confidence": 0.7, "rationale": "cut off'
    with FakeLLMServer([Reply(body=ok_body(provider, broken))]) as server:
        result = FACTORIES[provider](server, fast_limits).analyse(snapshot)
    assert not result.ok
    assert result.error is not None and result.error.startswith("invalid answer")
    assert result.answer == broken
    assert len(server.requests) == 2  # one content retry


@pytest.mark.parametrize("provider", PROVIDERS)
def test_empty_content_is_retried_then_recorded(
    provider: str, snapshot: ContextSnapshot, fast_limits: CallLimits
) -> None:
    with FakeLLMServer([Reply(body=ok_body(provider, ""))]) as server:
        result = FACTORIES[provider](server, fast_limits).analyse(snapshot)
    assert not result.ok
    assert result.error == "invalid answer: empty content"
    assert len(server.requests) == 2


def test_deepseek_empty_content_then_valid_answer_succeeds(snapshot: ContextSnapshot, fast_limits: CallLimits) -> None:
    replies = [Reply(body=openai_completion("", reasoning="thinking...")), Reply(body=openai_completion())]
    with FakeLLMServer(replies) as server:
        result = make_deepseek(server, fast_limits).analyse(snapshot)
    assert result.ok, result.error
    assert result.attempts == 2
    assert (result.prompt_tokens, result.completion_tokens) == (812 * 2, 64 * 2)  # both calls are paid for


@pytest.mark.parametrize("provider", ["azure", "deepseek"])
def test_refusal_is_recorded(provider: str, snapshot: ContextSnapshot, fast_limits: CallLimits) -> None:
    body = openai_completion(None, refusal="I'm sorry, I can't help with trading decisions.")
    with FakeLLMServer([Reply(body=body)]) as server:
        result = FACTORIES[provider](server, fast_limits).analyse(snapshot)
    assert not result.ok
    assert result.error == "refused: I'm sorry, I can't help with trading decisions."
    assert len(server.requests) == 1  # a refusal is not asked again


def test_azure_content_filter_is_recorded_as_refusal(snapshot: ContextSnapshot, fast_limits: CallLimits) -> None:
    with FakeLLMServer([Reply(body=openai_completion(None, finish_reason="content_filter"))]) as server:
        result = make_azure(server, fast_limits).analyse(snapshot)
    assert not result.ok
    assert result.error == "refused: blocked by the provider's content filter"


def test_ollama_refusal_text_is_recorded_as_invalid_answer(snapshot: ContextSnapshot, fast_limits: CallLimits) -> None:
    text = "I'm sorry, but I can't provide financial advice."
    with FakeLLMServer([Reply(body=ollama_chat(text))]) as server:
        result = make_ollama(server, fast_limits).analyse(snapshot)
    assert not result.ok
    assert result.error is not None and result.error.startswith("invalid answer (not JSON)")
    assert "can't provide" in result.error


@pytest.mark.parametrize("provider", PROVIDERS)
def test_confidence_out_of_range_is_recorded(provider: str, snapshot: ContextSnapshot, fast_limits: CallLimits) -> None:
    answer = json.dumps({"signal": "buy", "confidence": 1.7, "horizon_hours": 24, "rationale": "Very sure."})
    with FakeLLMServer([Reply(body=ok_body(provider, answer))]) as server:
        result = FACTORIES[provider](server, fast_limits).analyse(snapshot)
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith("invalid answer: confidence")
    assert "less than or equal to 1" in result.error


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unauthorised_is_not_retried(provider: str, snapshot: ContextSnapshot, fast_limits: CallLimits) -> None:
    with FakeLLMServer([Reply(status=401, body=error_body(provider, 401, "Invalid API key"))]) as server:
        result = FACTORIES[provider](server, fast_limits).analyse(snapshot)
    assert not result.ok
    assert result.error is not None and "HTTP 401" in result.error
    assert len(server.requests) == 1


def test_connection_refused_is_recorded(snapshot: ContextSnapshot, fast_limits: CallLimits) -> None:
    with FakeLLMServer() as server:
        url = server.url
    analyst = DeepSeekAnalyst("deepseek", "deepseek-reasoner", fast_limits, base_url=url, api_key="k")
    result = analyst.analyse(snapshot)
    assert not result.ok
    assert result.error is not None and result.error.startswith("connection failed")


def test_daily_budget_stops_calls(snapshot: ContextSnapshot, fast_limits: CallLimits) -> None:
    budget = CallBudget({"deepseek": 3}, used={"deepseek": 2})
    with FakeLLMServer([Reply(status=503, body=openai_error(503, "Server overloaded"))]) as server:
        result = make_deepseek(server, fast_limits, budget=budget).analyse(snapshot)
    assert not result.ok
    assert result.error == "daily call budget used up (3 calls for deepseek)"
    assert len(server.requests) == 1  # the third call of the day was made, the fourth refused
    assert budget.used("deepseek") == 3


# --- output token limits and answers cut off at them -------------------------------------------
# DeepSeek's "Models & Pricing" page documents deepseek-reasoner's max_tokens as 32K by default and
# 64K at most, and counts the chain of thought as output; a limit of 2,000 cut most R1 answers off.

TRUNCATED_JSON = '{"signal": "buy", "confidence": 0.7, "horizon_hours": 24, "rationale": "Momentum is'


def test_deepseek_reasoner_gets_room_for_its_reasoning(snapshot: ContextSnapshot, fast_limits: CallLimits) -> None:
    with FakeLLMServer([Reply(body=openai_completion(model="deepseek-reasoner"))]) as server:
        result = make_deepseek(server, fast_limits).analyse(snapshot)
    assert result.ok, result.error
    assert server.requests[0].body["max_tokens"] == 32_768


def test_deepseek_answer_cut_off_at_the_limit_is_one_truncation_failure_not_retried(
    snapshot: ContextSnapshot, fast_limits: CallLimits
) -> None:
    body = openai_completion(
        TRUNCATED_JSON,
        finish_reason="length",
        model="deepseek-reasoner",
        reasoning="Step 1: the trend...",
        completion_tokens=32_768,
        reasoning_tokens=32_700,
    )
    with FakeLLMServer([Reply(body=body), Reply(body=openai_completion(model="deepseek-reasoner"))]) as server:
        result = make_deepseek(server, fast_limits).analyse(snapshot)
    assert not result.ok
    assert len(server.requests) == 1  # a retry would stop at the same limit and cost as much again
    assert result.error is not None and result.error.startswith("truncated:")
    assert "32768 tokens" in result.error and "32700 of them reasoning" in result.error
    assert result.completion_tokens == 32_768
    assert result.cost_usd == (Decimal(812) * Decimal("0.55") + Decimal(32_768) * Decimal("2.19")) / 1_000_000
    assert result.reasoning == "Step 1: the trend..."


def test_azure_answer_cut_off_at_the_limit_is_a_truncation_failure(
    snapshot: ContextSnapshot, fast_limits: CallLimits
) -> None:
    body = openai_completion(TRUNCATED_JSON, finish_reason="length", completion_tokens=2000)
    with FakeLLMServer([Reply(body=body)]) as server:
        result = make_azure(server, fast_limits, max_output_tokens=2000).analyse(snapshot)
    assert len(server.requests) == 1
    assert server.requests[0].body["max_completion_tokens"] == 2000
    assert result.error is not None and result.error.startswith("truncated:")
    assert result.completion_tokens == 2000


def test_ollama_answer_cut_off_at_num_predict_is_a_truncation_failure(
    snapshot: ContextSnapshot, fast_limits: CallLimits
) -> None:
    with FakeLLMServer([Reply(body=ollama_chat(TRUNCATED_JSON, done_reason="length"))]) as server:
        result = make_ollama(server, fast_limits, max_output_tokens=600).analyse(snapshot)
    assert len(server.requests) == 1
    assert server.requests[0].body["options"]["num_predict"] == 600
    assert result.error is not None and result.error.startswith("truncated:")
