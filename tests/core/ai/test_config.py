"""AI settings: environment, Settings page values, encrypted keys, enablement reasons."""

from __future__ import annotations

import pytest

from core.ai.config import (
    SECRET_DEEPSEEK_KEY,
    ProviderKind,
    load_ai_config,
    save_consensus_parameters,
    save_openai_compatible_endpoint,
    save_provider_fields,
    settings_overview,
    store_api_key,
)
from core.db.engine import Database
from core.system.models import StoredSecret


def _by_name(config):
    return {provider.name: provider for provider in config.providers}


def test_without_settings_only_the_built_in_analysts_run() -> None:
    providers = _by_name(load_ai_config())
    assert [name for name, provider in providers.items() if provider.enabled] == ["technical", "sentiment"]
    assert providers["azure-openai"].reason == (
        "not configured: missing KONSENS_AZURE_OPENAI_ENDPOINT, KONSENS_AZURE_OPENAI_API_KEY, "
        "KONSENS_AZURE_OPENAI_DEPLOYMENT"
    )
    assert providers["deepseek"].reason == "not configured: missing KONSENS_DEEPSEEK_API_KEY"
    assert providers["ollama"].reason == "not configured: missing KONSENS_OLLAMA_HOST, KONSENS_OLLAMA_MODEL"


def test_environment_enables_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KONSENS_AZURE_OPENAI_ENDPOINT", "https://konsens.openai.azure.com")
    monkeypatch.setenv("KONSENS_AZURE_OPENAI_API_KEY", "azure-secret")
    monkeypatch.setenv("KONSENS_AZURE_OPENAI_DEPLOYMENT", "gpt4o")
    monkeypatch.setenv("KONSENS_DEEPSEEK_API_KEY", "sk-ds")
    monkeypatch.setenv("KONSENS_OLLAMA_HOST", "http://127.0.0.1:11434")
    monkeypatch.setenv("KONSENS_OLLAMA_MODEL", "llama3.1:8b")
    monkeypatch.setenv(
        "KONSENS_OPENAI_COMPATIBLE",
        '[{"name": "groq", "base_url": "https://api.groq.com/openai/v1", "model": "llama"}]',
    )
    providers = _by_name(load_ai_config())
    assert all(provider.enabled for provider in providers.values())
    assert providers["azure-openai"].model == "gpt4o" and providers["azure-openai"].api_version == "2024-10-21"
    assert providers["deepseek"].endpoint == "https://api.deepseek.com"
    assert providers["deepseek"].model == "deepseek-reasoner"
    assert providers["groq"].kind is ProviderKind.OPENAI_COMPATIBLE
    assert "azure-secret" not in repr(providers["azure-openai"])  # keys never in reprs or logs


def test_settings_page_values_and_encrypted_keys(sqlite_database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    with sqlite_database.session() as session:
        save_provider_fields(session, {"ollama_host": "http://gpu-box:11434", "ollama_model": "qwen2.5:14b"})
        store_api_key(session, SECRET_DEEPSEEK_KEY, "sk-page-key-9876")
        save_openai_compatible_endpoint(session, "local-vllm", "http://127.0.0.1:8000/v1", "mistral", "vllm-key")
        save_consensus_parameters(
            session,
            quorum=3,
            agreement_threshold=0.7,
            decision_threshold=0.2,
            weights={"technical": 0.5},
            disabled_analysts=["sentiment"],
        )
    with sqlite_database.session() as session:
        stored = session.get(StoredSecret, SECRET_DEEPSEEK_KEY)
        assert stored is not None and b"sk-page-key-9876" not in stored.ciphertext
        config = load_ai_config(session)
        overview = settings_overview(session)
    providers = _by_name(config)
    assert providers["ollama"].enabled and providers["ollama"].endpoint == "http://gpu-box:11434"
    assert providers["deepseek"].enabled and providers["deepseek"].api_key == "sk-page-key-9876"
    assert providers["local-vllm"].api_key == "vllm-key"
    assert not providers["sentiment"].enabled and providers["sentiment"].reason == "switched off in Settings"
    assert (config.parameters.quorum, config.parameters.agreement_threshold) == (3, 0.7)
    assert config.parameters.weight_of("technical") == 0.5 and config.parameters.weight_of("x") == 1.0
    assert overview.key_hints[SECRET_DEEPSEEK_KEY] == "••••9876"
    # the page wins over the environment (one override order in every area); the environment
    # applies where the page is blank
    monkeypatch.setenv("KONSENS_OLLAMA_HOST", "http://env-host:11434")
    monkeypatch.setenv("KONSENS_DEEPSEEK_API_KEY", "sk-env-key-1111")
    monkeypatch.setenv("KONSENS_AZURE_OPENAI_ENDPOINT", "https://env.openai.azure.com")
    with sqlite_database.session() as session:
        providers = _by_name(load_ai_config(session))
        assert providers["ollama"].endpoint == "http://gpu-box:11434"
        assert providers["deepseek"].api_key == "sk-page-key-9876"
        assert providers["azure-openai"].endpoint == "https://env.openai.azure.com"
        overview = settings_overview(session)
        assert overview.environment_defaults["ollama_host"] == "http://env-host:11434"
        assert overview.key_hints[SECRET_DEEPSEEK_KEY] == "••••9876"
        save_provider_fields(session, {"ollama_host": ""})  # blank on the page: the environment's value
    with sqlite_database.session() as session:
        assert _by_name(load_ai_config(session))["ollama"].endpoint == "http://env-host:11434"


def test_invalid_consensus_parameters_are_refused(sqlite_database: Database) -> None:
    with sqlite_database.session() as session, pytest.raises(ValueError, match="agreement threshold"):
        save_consensus_parameters(
            session, quorum=2, agreement_threshold=1.5, decision_threshold=0.2, weights={}, disabled_analysts=[]
        )
    with sqlite_database.session() as session, pytest.raises(ValueError, match="base URL"):
        save_openai_compatible_endpoint(session, "bad", "ftp://x", "m")


def test_output_token_limit_follows_the_documented_model_limits() -> None:
    from core.ai.config import DEFAULT_MAX_OUTPUT_TOKENS, output_token_limit

    assert output_token_limit("deepseek-reasoner") == 32_768
    assert output_token_limit("deepseek-chat") == 4_096
    assert output_token_limit("deepseek-reasoner", 100_000) == 65_536  # capped at the documented maximum
    assert output_token_limit("deepseek-reasoner", 8_000) == 8_000
    assert output_token_limit("my-azure-deployment") == DEFAULT_MAX_OUTPUT_TOKENS
    assert output_token_limit("my-azure-deployment", 25_000) == 25_000


def test_provider_limits_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.ai.config import AISettings, load_ai_config

    monkeypatch.setenv("KONSENS_DEEPSEEK_API_KEY", "sk-test")
    monkeypatch.setenv("KONSENS_AZURE_OPENAI_ENDPOINT", "https://example.invalid")
    monkeypatch.setenv("KONSENS_AZURE_OPENAI_API_KEY", "k")
    monkeypatch.setenv("KONSENS_AZURE_OPENAI_DEPLOYMENT", "o3-mini-konsens")
    monkeypatch.setenv("KONSENS_AZURE_OPENAI_MAX_OUTPUT_TOKENS", "25000")
    providers = {provider.name: provider for provider in load_ai_config(None, AISettings()).providers}
    assert providers["deepseek"].max_output_tokens == 32_768
    assert providers["azure-openai"].max_output_tokens == 25_000
    monkeypatch.setenv("KONSENS_DEEPSEEK_MAX_OUTPUT_TOKENS", "70000")
    with pytest.raises(ValueError, match="65536"):
        AISettings()


def test_cost_caps_saved_on_the_page_apply_and_a_bad_cap_is_refused(sqlite_database: Database) -> None:
    from decimal import Decimal

    from core.ai.config import load_ai_config, save_consensus_parameters

    with sqlite_database.session() as session:
        save_consensus_parameters(
            session,
            quorum=2,
            agreement_threshold=0.6,
            decision_threshold=0.15,
            weights={},
            disabled_analysts=[],
            daily_cost_cap_eur=Decimal("1.5"),
            monthly_cost_cap_eur=Decimal(20),
        )
    with sqlite_database.session() as session:
        costs = load_ai_config(session).costs
        assert costs.daily_cap_of("deepseek") == Decimal("1.5") and costs.monthly_cap_of("deepseek") == Decimal(20)
        with pytest.raises(ValueError, match="cost cap"):
            save_consensus_parameters(
                session,
                quorum=2,
                agreement_threshold=0.6,
                decision_threshold=0.15,
                weights={},
                disabled_analysts=[],
                daily_cost_cap_eur=Decimal(-1),
            )
