"""Settings of the AI consensus: providers, call limits, consensus parameters.

Two layers: :class:`AISettings` (environment ``KONSENS_*``, ``.env`` and the ``[ai]`` table of the
config file) and run-time values edited on the Settings page (``settings`` table, keys under
``ai.``; API keys encrypted in the ``secrets`` table). As in every area (``core/config.py``), what
is saved on the page wins over the environment, which gives the default;
:func:`load_ai_config` merges both into one frozen :class:`AIConfig`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, Field, SecretStr, field_validator

from core.config import KonsensSettingsBase
from core.system.settings_store import get_setting, set_setting

if TYPE_CHECKING:  # the secret store (SQLAlchemy, the ORM) is imported where a secret is read
    from sqlalchemy.orm import Session

    from core.security.secrets import SecretStore

logger = logging.getLogger(__name__)

DEFAULT_DEEPSEEK_BASE_URL = "https://api.deepseek.com"
DEFAULT_AZURE_API_VERSION = "2024-10-21"

# Names of run-time settings and secrets (Settings page).
SETTING_PREFIX = "ai."
SETTING_PROVIDER_FIELDS = "ai.providers"  # {"azure_openai_endpoint": "...", ...}
SETTING_PARAMETERS = "ai.parameters"  # {"quorum": 2, "agreement_threshold": 0.6, ...}
SETTING_WEIGHTS = "ai.weights"  # {"technical": 1.0, ...}
SETTING_DISABLED = "ai.disabled_analysts"  # ["sentiment", ...]
SETTING_OPENAI_COMPATIBLE = "ai.openai_compatible"  # [{"name", "base_url", "model", ...}]
SECRET_AZURE_KEY = "ai.azure_openai_api_key"
SECRET_DEEPSEEK_KEY = "ai.deepseek_api_key"


# Output token budgets of models whose limits the provider documents: (tokens sent as the limit,
# documented maximum). For a reasoning model the limit must also hold the reasoning, which is
# counted as output: DeepSeek documents deepseek-reasoner's max_tokens as 32K by default and 64K
# at most, and deepseek-chat's as 4K by default and 8K at most (api-docs.deepseek.com, "Models &
# Pricing"). Ollama and unknown models get DEFAULT_MAX_OUTPUT_TOKENS, which is ample for the
# four-field answer of a non-reasoning model. A model not listed here that reasons (an Azure
# o-series deployment, say) needs its provider's max output tokens setting.
DEFAULT_MAX_OUTPUT_TOKENS = 2000
KNOWN_OUTPUT_TOKEN_LIMITS: dict[str, tuple[int, int]] = {
    "deepseek-reasoner": (32_768, 65_536),
    "deepseek-chat": (4_096, 8_192),
}


def output_token_limit(model: str, configured: int | None = None) -> int:
    """Return the output token limit to send for ``model``: the configured one, else the known default.

    A configured limit above a known model's documented maximum is capped at that maximum (the
    provider would refuse the call).
    """
    known = KNOWN_OUTPUT_TOKEN_LIMITS.get(model.strip().lower())
    if configured is not None:
        return min(configured, known[1]) if known else configured
    return known[0] if known else DEFAULT_MAX_OUTPUT_TOKENS


def secret_name_for_endpoint(name: str) -> str:
    """Return the secret name under which an OpenAI-compatible endpoint's key is stored."""
    return f"ai.openai_compatible.{name}.api_key"


class ProviderKind(StrEnum):
    """The kinds of analysts Konsens knows."""

    TECHNICAL = "technical"
    SENTIMENT = "sentiment"
    AZURE_OPENAI = "azure_openai"
    DEEPSEEK = "deepseek"
    OLLAMA = "ollama"
    OPENAI_COMPATIBLE = "openai_compatible"


class OpenAICompatibleEndpoint(BaseModel):
    """Any other OpenAI-compatible chat completions endpoint, added by configuration."""

    model_config = {"frozen": True}

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="Analyst name, e.g. 'groq-llama'.")
    base_url: str
    model: str
    api_key: SecretStr | None = None
    json_mode: bool = True
    input_cost_per_million_tokens: Decimal = Decimal(0)
    output_cost_per_million_tokens: Decimal = Decimal(0)
    max_output_tokens: int | None = Field(default=None, ge=1, description="Output token limit (reasoning included).")


class AISettings(KonsensSettingsBase):
    """AI settings from the environment / config file (``KONSENS_AZURE_OPENAI_ENDPOINT``...)."""

    toml_table: ClassVar[str | None] = "ai"

    azure_openai_endpoint: str | None = None
    azure_openai_api_key: SecretStr | None = None
    azure_openai_deployment: str | None = None
    azure_openai_api_version: str | None = None
    deepseek_base_url: str | None = None
    deepseek_api_key: SecretStr | None = None
    deepseek_model: str = "deepseek-reasoner"
    deepseek_max_output_tokens: int | None = Field(
        default=None, ge=1, le=65_536, description="Output token limit incl. reasoning (default: the model's)."
    )
    azure_openai_max_output_tokens: int | None = Field(
        default=None, ge=1, description="max_completion_tokens of the deployment (raise it for reasoning models)."
    )
    ollama_max_output_tokens: int | None = Field(default=None, ge=1, description="num_predict of the Ollama model.")
    ollama_host: str | None = None
    ollama_model: str | None = None
    openai_compatible: list[OpenAICompatibleEndpoint] = Field(default_factory=list)

    llm_timeout_seconds: float = Field(default=60.0, gt=0, description="Timeout of one provider call.")
    llm_max_attempts: int = Field(default=3, ge=1, le=10, description="Attempts on 429 / 5xx / connection errors.")
    llm_retry_base_seconds: float = Field(default=1.0, ge=0, description="First backoff wait; doubles per attempt.")
    llm_content_retries: int = Field(default=1, ge=0, le=5, description="Extra calls on empty or invalid content.")
    analyst_deadline_seconds: float = Field(default=120.0, gt=0, description="Wait at most this long per run.")
    daily_call_budget: int = Field(default=200, ge=0, description="Provider calls per UTC day, per provider.")
    daily_call_budgets: dict[str, int] = Field(default_factory=dict, description="Per-provider overrides.")
    cost_per_million_tokens: dict[str, tuple[Decimal, Decimal]] = Field(
        default_factory=lambda: {
            "azure_openai": (Decimal("2.50"), Decimal("10.00")),
            "deepseek": (Decimal("0.55"), Decimal("2.19")),
            "ollama": (Decimal(0), Decimal(0)),
        },
        description="USD per million (input, output) tokens, for the cost estimate.",
    )

    eur_per_usd: Decimal = Field(
        default=Decimal("0.86"), gt=0, description="EUR per USD, to turn the USD token prices into the EUR caps."
    )
    daily_cost_cap_eur: Decimal = Field(default=Decimal(5), ge=0, description="EUR per provider per UTC day.")
    monthly_cost_cap_eur: Decimal = Field(default=Decimal(50), ge=0, description="EUR per provider per UTC month.")
    daily_cost_caps_eur: dict[str, Decimal] = Field(default_factory=dict, description="Per-provider daily caps.")
    monthly_cost_caps_eur: dict[str, Decimal] = Field(default_factory=dict, description="Per-provider monthly caps.")
    history_run_cost_cap_eur: Decimal = Field(
        default=Decimal(10), ge=0, description="EUR one AI history run may spend (override with --max-cost-eur)."
    )
    training_cutoffs: dict[str, date] = Field(
        default_factory=dict, description="Training cutoff per model name (adds to / overrides the known ones)."
    )

    quorum: int = Field(default=2, ge=1)
    agreement_threshold: float = Field(default=0.6, ge=0, le=1)
    decision_threshold: float = Field(default=0.15, ge=0, le=1)
    prior_strength: float = Field(default=10.0, ge=0, description="Pseudo-observations of the reliability prior.")
    prior_hit_rate: float = Field(
        default=0.35, gt=0, lt=1, description="Hit rate a new analyst is assumed to have (chance is about 1/3)."
    )
    hold_band: float = Field(default=0.01, ge=0, description="|return| below this counts as 'flat' when scoring.")
    schedule_minutes: float = Field(default=60.0, gt=0, description="Minutes between scheduled consensus runs.")
    news_lookback_hours: float = Field(default=72.0, gt=0)
    news_half_life_hours: float = Field(default=12.0, gt=0)

    @field_validator(
        "azure_openai_endpoint",
        "azure_openai_deployment",
        "azure_openai_api_version",
        "deepseek_base_url",
        "ollama_host",
        "ollama_model",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


@dataclass(frozen=True)
class ConsensusParameters:
    """How opinions are combined (see :mod:`core.ai.consensus`)."""

    quorum: int = 2
    agreement_threshold: float = 0.6
    decision_threshold: float = 0.15
    prior_strength: float = 10.0
    prior_hit_rate: float = 0.35
    analyst_weights: Mapping[str, float] = field(default_factory=dict)

    def weight_of(self, analyst: str) -> float:
        """Return the configured weight of ``analyst`` (1.0 unless set)."""
        return float(self.analyst_weights.get(analyst, 1.0))

    def as_dict(self) -> dict[str, Any]:
        """Return the parameters as a JSON-serialisable dict (stored with each consensus)."""
        return {
            "quorum": self.quorum,
            "agreement_threshold": self.agreement_threshold,
            "decision_threshold": self.decision_threshold,
            "prior_strength": self.prior_strength,
            "prior_hit_rate": self.prior_hit_rate,
            "analyst_weights": dict(self.analyst_weights),
        }


@dataclass(frozen=True)
class ProviderConfig:
    """One analyst as configured: whether it is enabled, and why not."""

    name: str
    kind: ProviderKind
    enabled: bool
    reason: str
    model: str = ""
    endpoint: str | None = None
    api_key: str | None = field(default=None, repr=False)
    api_version: str | None = None
    json_mode: bool = True
    input_cost_per_million_tokens: Decimal = Decimal(0)
    output_cost_per_million_tokens: Decimal = Decimal(0)
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS

    @property
    def is_llm(self) -> bool:
        """Return True for analysts that call a language model over the network."""
        return self.kind not in (ProviderKind.TECHNICAL, ProviderKind.SENTIMENT)


@dataclass(frozen=True)
class CallLimits:
    """Timeouts, retries and budgets of provider calls."""

    timeout_seconds: float = 60.0
    max_attempts: int = 3
    retry_base_seconds: float = 1.0
    content_retries: int = 1
    deadline_seconds: float = 120.0
    daily_call_budget: int = 200
    daily_call_budgets: Mapping[str, int] = field(default_factory=dict)

    def budget_of(self, provider: str) -> int:
        """Return the daily call budget of ``provider``."""
        return int(self.daily_call_budgets.get(provider, self.daily_call_budget))


@dataclass(frozen=True)
class CostLimits:
    """Hard spending caps in EUR (per provider per UTC day and month, per history run)."""

    eur_per_usd: Decimal = Decimal("0.86")
    daily_cap_eur: Decimal = Decimal(5)
    monthly_cap_eur: Decimal = Decimal(50)
    daily_caps_eur: Mapping[str, Decimal] = field(default_factory=dict)
    monthly_caps_eur: Mapping[str, Decimal] = field(default_factory=dict)
    history_run_cap_eur: Decimal = Decimal(10)

    def daily_cap_of(self, provider: str) -> Decimal:
        """Return the daily cap of ``provider`` in EUR."""
        return Decimal(self.daily_caps_eur.get(provider, self.daily_cap_eur))

    def monthly_cap_of(self, provider: str) -> Decimal:
        """Return the monthly cap of ``provider`` in EUR."""
        return Decimal(self.monthly_caps_eur.get(provider, self.monthly_cap_eur))

    def to_eur(self, usd: Decimal | None) -> Decimal | None:
        """Convert a USD cost estimate to EUR (None stays None)."""
        return None if usd is None else (usd * self.eur_per_usd).quantize(Decimal("0.000001"))


# Training cutoffs of known models: a history run or backtest of an LLM over a period before its
# cutoff is "contaminated" — the model may have learnt those prices. Where the maker publishes the
# knowledge cutoff it is used (OpenAI's GPT-4o / o3-mini: October 2023, GPT-4.1: June 2024; Meta's
# Llama 3.1/3.2: December 2023); where it does not, the release month of the model is used, which
# a cutoff can never be later than (the safe side): the deepseek-* aliases point to DeepSeek-V3.2
# (September 2025), Qwen 2.5 was released in September 2024. Configurable (``training_cutoffs``);
# a model not listed has an unknown cutoff and is treated as contaminated for every period.
KNOWN_TRAINING_CUTOFFS: dict[str, date] = {
    "deepseek-reasoner": date(2025, 9, 30),
    "deepseek-chat": date(2025, 9, 30),
    "gpt-4o": date(2023, 10, 31),
    "gpt-4o-mini": date(2023, 10, 31),
    "gpt-4.1": date(2024, 6, 30),
    "gpt-4.1-mini": date(2024, 6, 30),
    "o3-mini": date(2023, 10, 31),
    "llama3.1:8b": date(2023, 12, 31),
    "llama3.1": date(2023, 12, 31),
    "llama3.2": date(2023, 12, 31),
    "qwen2.5": date(2024, 9, 30),
}
BUILT_IN_MODELS = frozenset({"rules-v1", "vader-decay"})


@dataclass(frozen=True)
class AIConfig:
    """Everything the consensus needs, merged from settings, the Settings page and stored keys."""

    providers: tuple[ProviderConfig, ...]
    parameters: ConsensusParameters
    limits: CallLimits
    costs: CostLimits = field(default_factory=CostLimits)
    training_cutoffs: Mapping[str, date] = field(default_factory=lambda: dict(KNOWN_TRAINING_CUTOFFS))
    hold_band: float = 0.01
    schedule_minutes: float = 60.0
    news_lookback_hours: float = 72.0
    news_half_life_hours: float = 12.0

    @property
    def enabled_providers(self) -> list[ProviderConfig]:
        """Return the enabled analysts."""
        return [provider for provider in self.providers if provider.enabled]

    def training_cutoff(self, model: str) -> date | None:
        """Return the training cutoff of ``model`` (exact name, else its family before ':'), or None."""
        name = model.strip().lower()
        if name in self.training_cutoffs:
            return self.training_cutoffs[name]
        family = name.split(":", 1)[0]
        return self.training_cutoffs.get(family)


def _secret_store() -> SecretStore:
    """The secret store, imported on first use (it brings the ORM; every command's start imports this module)."""
    from core.security.secrets import SecretStore

    return SecretStore()


def _secret(settings_value: SecretStr | None, session: Session | None, name: str) -> str | None:
    """Return the key stored on the Settings page, else the one from the environment / config file."""
    if session is not None:
        from core.security.secrets import SecretStoreError

        try:
            stored = _secret_store().get(session, name)
        except SecretStoreError as error:
            logger.warning("Stored key %s cannot be read: %s", name, error)
            stored = None
        if stored:
            return stored
    if settings_value is not None and settings_value.get_secret_value():
        return settings_value.get_secret_value()
    return None


def _missing(**values: Any) -> list[str]:
    return [name for name, value in values.items() if not value]


def load_ai_config(session: Session | None = None, settings: AISettings | None = None) -> AIConfig:
    """Merge environment settings with the Settings page values into one :class:`AIConfig`.

    ``session`` None uses the environment and config file only.
    """
    settings = settings or AISettings()
    page: dict[str, Any] = dict(get_setting(session, SETTING_PROVIDER_FIELDS, {}) or {}) if session else {}
    stored_parameters: dict[str, Any] = dict(get_setting(session, SETTING_PARAMETERS, {}) or {}) if session else {}
    weights: dict[str, float] = dict(get_setting(session, SETTING_WEIGHTS, {}) or {}) if session else {}
    disabled: set[str] = set(get_setting(session, SETTING_DISABLED, []) or []) if session else set()

    def pick(name: str) -> Any:
        value = page.get(name)
        return value if value not in (None, "") else (getattr(settings, name) or None)

    costs = settings.cost_per_million_tokens
    providers: list[ProviderConfig] = [
        ProviderConfig("technical", ProviderKind.TECHNICAL, True, "built in: indicator votes", model="rules-v1"),
        ProviderConfig("sentiment", ProviderKind.SENTIMENT, True, "built in: news sentiment", model="vader-decay"),
    ]

    endpoint, deployment = pick("azure_openai_endpoint"), pick("azure_openai_deployment")
    api_version = pick("azure_openai_api_version") or DEFAULT_AZURE_API_VERSION
    azure_key = _secret(settings.azure_openai_api_key, session, SECRET_AZURE_KEY)
    missing = _missing(
        KONSENS_AZURE_OPENAI_ENDPOINT=endpoint,
        KONSENS_AZURE_OPENAI_API_KEY=azure_key,
        KONSENS_AZURE_OPENAI_DEPLOYMENT=deployment,
    )
    azure_in, azure_out = costs.get("azure_openai", (Decimal(0), Decimal(0)))
    providers.append(
        ProviderConfig(
            "azure-openai",
            ProviderKind.AZURE_OPENAI,
            not missing,
            f"not configured: missing {', '.join(missing)}" if missing else f"deployment {deployment} at {endpoint}",
            model=deployment or "",
            endpoint=endpoint,
            api_key=azure_key,
            api_version=api_version,
            input_cost_per_million_tokens=azure_in,
            output_cost_per_million_tokens=azure_out,
            max_output_tokens=output_token_limit(deployment or "", settings.azure_openai_max_output_tokens),
        )
    )

    deepseek_url = pick("deepseek_base_url") or DEFAULT_DEEPSEEK_BASE_URL
    deepseek_key = _secret(settings.deepseek_api_key, session, SECRET_DEEPSEEK_KEY)
    deepseek_model = page.get("deepseek_model") or settings.deepseek_model
    deepseek_in, deepseek_out = costs.get("deepseek", (Decimal(0), Decimal(0)))
    providers.append(
        ProviderConfig(
            "deepseek",
            ProviderKind.DEEPSEEK,
            deepseek_key is not None,
            f"{deepseek_model} at {deepseek_url}"
            if deepseek_key
            else "not configured: missing KONSENS_DEEPSEEK_API_KEY",
            model=deepseek_model,
            endpoint=deepseek_url,
            api_key=deepseek_key,
            input_cost_per_million_tokens=deepseek_in,
            output_cost_per_million_tokens=deepseek_out,
            max_output_tokens=output_token_limit(deepseek_model, settings.deepseek_max_output_tokens),
        )
    )

    host, ollama_model = pick("ollama_host"), pick("ollama_model")
    missing = _missing(KONSENS_OLLAMA_HOST=host, KONSENS_OLLAMA_MODEL=ollama_model)
    ollama_in, ollama_out = costs.get("ollama", (Decimal(0), Decimal(0)))
    providers.append(
        ProviderConfig(
            "ollama",
            ProviderKind.OLLAMA,
            not missing,
            f"not configured: missing {', '.join(missing)}" if missing else f"{ollama_model} at {host}",
            model=ollama_model or "",
            endpoint=host,
            input_cost_per_million_tokens=ollama_in,
            output_cost_per_million_tokens=ollama_out,
            max_output_tokens=output_token_limit(ollama_model or "", settings.ollama_max_output_tokens),
        )
    )

    endpoints: list[OpenAICompatibleEndpoint] = []
    for raw in (get_setting(session, SETTING_OPENAI_COMPATIBLE, []) or []) if session else []:
        try:
            endpoints.append(OpenAICompatibleEndpoint.model_validate(raw))
        except ValueError as error:
            logger.warning("Ignoring an invalid OpenAI-compatible endpoint in the settings: %s", error)
    known = {endpoint.name for endpoint in endpoints}  # one added on the page wins over the environment's
    endpoints.extend(endpoint for endpoint in settings.openai_compatible if endpoint.name not in known)
    for extra in endpoints:
        key = _secret(extra.api_key, session, secret_name_for_endpoint(extra.name))
        providers.append(
            ProviderConfig(
                extra.name,
                ProviderKind.OPENAI_COMPATIBLE,
                True,
                f"{extra.model} at {extra.base_url}" + ("" if key else " (no API key)"),
                model=extra.model,
                endpoint=extra.base_url,
                api_key=key,
                json_mode=extra.json_mode,
                input_cost_per_million_tokens=extra.input_cost_per_million_tokens,
                output_cost_per_million_tokens=extra.output_cost_per_million_tokens,
                max_output_tokens=output_token_limit(extra.model, extra.max_output_tokens),
            )
        )

    providers = [
        _disabled(provider, "switched off in Settings") if provider.name in disabled and provider.enabled else provider
        for provider in providers
    ]

    def parameter(name: str) -> Any:
        return stored_parameters.get(name, getattr(settings, name))

    parameters = ConsensusParameters(
        quorum=int(parameter("quorum")),
        agreement_threshold=float(parameter("agreement_threshold")),
        decision_threshold=float(parameter("decision_threshold")),
        prior_strength=float(parameter("prior_strength")),
        prior_hit_rate=float(parameter("prior_hit_rate")),
        analyst_weights={str(name): float(value) for name, value in weights.items()},
    )
    limits = CallLimits(
        timeout_seconds=settings.llm_timeout_seconds,
        max_attempts=settings.llm_max_attempts,
        retry_base_seconds=settings.llm_retry_base_seconds,
        content_retries=settings.llm_content_retries,
        deadline_seconds=settings.analyst_deadline_seconds,
        daily_call_budget=int(parameter("daily_call_budget")),
        daily_call_budgets=dict(settings.daily_call_budgets),
    )
    cost_limits = CostLimits(
        eur_per_usd=Decimal(str(parameter("eur_per_usd"))),
        daily_cap_eur=Decimal(str(parameter("daily_cost_cap_eur"))),
        monthly_cap_eur=Decimal(str(parameter("monthly_cost_cap_eur"))),
        daily_caps_eur={name: Decimal(str(value)) for name, value in settings.daily_cost_caps_eur.items()},
        monthly_caps_eur={name: Decimal(str(value)) for name, value in settings.monthly_cost_caps_eur.items()},
        history_run_cap_eur=Decimal(str(parameter("history_run_cost_cap_eur"))),
    )
    cutoffs = dict(KNOWN_TRAINING_CUTOFFS)
    cutoffs.update({name.strip().lower(): value for name, value in settings.training_cutoffs.items()})
    return AIConfig(
        providers=tuple(providers),
        parameters=parameters,
        limits=limits,
        costs=cost_limits,
        training_cutoffs=cutoffs,
        hold_band=settings.hold_band,
        schedule_minutes=float(parameter("schedule_minutes")),
        news_lookback_hours=settings.news_lookback_hours,
        news_half_life_hours=settings.news_half_life_hours,
    )


def _disabled(provider: ProviderConfig, reason: str) -> ProviderConfig:
    return replace(provider, enabled=False, reason=reason)


# --- writes from the Settings page -------------------------------------------------------------

EDITABLE_PROVIDER_FIELDS = (
    "azure_openai_endpoint",
    "azure_openai_deployment",
    "azure_openai_api_version",
    "deepseek_base_url",
    "deepseek_model",
    "ollama_host",
    "ollama_model",
)


def save_provider_fields(session: Session, values: Mapping[str, str | None]) -> None:
    """Store provider fields edited on the Settings page (blank removes a value)."""
    unknown = set(values) - set(EDITABLE_PROVIDER_FIELDS)
    if unknown:
        raise ValueError(f"unknown provider fields: {', '.join(sorted(unknown))}")
    current = dict(get_setting(session, SETTING_PROVIDER_FIELDS, {}) or {})
    for name, value in values.items():
        if value is None or not str(value).strip():
            current.pop(name, None)
        else:
            current[name] = str(value).strip()
    set_setting(session, SETTING_PROVIDER_FIELDS, current)


def save_consensus_parameters(
    session: Session,
    *,
    quorum: int,
    agreement_threshold: float,
    decision_threshold: float,
    weights: Mapping[str, float],
    disabled_analysts: list[str],
    daily_call_budget: int | None = None,
    schedule_minutes: float | None = None,
    daily_cost_cap_eur: Decimal | None = None,
    monthly_cost_cap_eur: Decimal | None = None,
) -> None:
    """Validate and store the consensus parameters edited on the Settings page."""
    if quorum < 1:
        raise ValueError("the quorum must be at least 1")
    for label, value in (("agreement threshold", agreement_threshold), ("decision threshold", decision_threshold)):
        if not 0 <= value <= 1:
            raise ValueError(f"the {label} must be between 0 and 1")
    for name, weight in weights.items():
        if not 0 <= weight <= 10:
            raise ValueError(f"the weight of {name} must be between 0 and 10")
    parameters: dict[str, Any] = dict(get_setting(session, SETTING_PARAMETERS, {}) or {})
    parameters.update(quorum=quorum, agreement_threshold=agreement_threshold, decision_threshold=decision_threshold)
    if daily_call_budget is not None:
        if daily_call_budget < 0:
            raise ValueError("the daily call budget cannot be negative")
        parameters["daily_call_budget"] = daily_call_budget
    if schedule_minutes is not None:
        if schedule_minutes <= 0:
            raise ValueError("the schedule must be a positive number of minutes")
        parameters["schedule_minutes"] = schedule_minutes
    for key, cap in (("daily_cost_cap_eur", daily_cost_cap_eur), ("monthly_cost_cap_eur", monthly_cost_cap_eur)):
        if cap is not None:
            if not cap.is_finite() or cap < 0:
                raise ValueError("a cost cap must be a number of euros, 0 or more")
            parameters[key] = str(cap)
    set_setting(session, SETTING_PARAMETERS, parameters)
    set_setting(session, SETTING_WEIGHTS, {name: float(weight) for name, weight in weights.items()})
    set_setting(session, SETTING_DISABLED, sorted(set(disabled_analysts)))


def save_openai_compatible_endpoint(
    session: Session, name: str, base_url: str, model: str, api_key: str | None = None
) -> None:
    """Add or replace an OpenAI-compatible endpoint (its key goes encrypted into the secret store)."""

    endpoint = OpenAICompatibleEndpoint(name=name, base_url=base_url.strip(), model=model.strip())
    if not endpoint.base_url.startswith(("http://", "https://")):
        raise ValueError("the base URL must start with http:// or https://")
    endpoints = [item for item in (get_setting(session, SETTING_OPENAI_COMPATIBLE, []) or []) if item["name"] != name]
    endpoints.append(endpoint.model_dump(mode="json", exclude={"api_key"}))
    set_setting(session, SETTING_OPENAI_COMPATIBLE, endpoints)
    if api_key:
        _secret_store().set(session, secret_name_for_endpoint(name), api_key)


def remove_openai_compatible_endpoint(session: Session, name: str) -> bool:
    """Remove an endpoint added on the Settings page and its stored key; return whether it existed."""

    endpoints = list(get_setting(session, SETTING_OPENAI_COMPATIBLE, []) or [])
    kept = [item for item in endpoints if item["name"] != name]
    set_setting(session, SETTING_OPENAI_COMPATIBLE, kept)
    _secret_store().delete(session, secret_name_for_endpoint(name))
    return len(kept) != len(endpoints)


@dataclass(frozen=True)
class AISettingsOverview:
    """What the Settings page shows: effective config, page values, environment defaults, key hints."""

    config: AIConfig
    page_fields: dict[str, str]
    environment_defaults: dict[str, str]  # what applies when the page leaves a field blank
    key_hints: dict[str, str]
    page_endpoints: list[dict[str, Any]]
    disabled_analysts: list[str]


def settings_overview(session: Session, settings: AISettings | None = None) -> AISettingsOverview:
    """Return the AI settings as the Settings page needs them (never a key in clear)."""

    settings = settings or AISettings()
    defaults = {
        name: str(getattr(settings, name))
        for name in EDITABLE_PROVIDER_FIELDS
        if getattr(settings, name, None) not in (None, "")
    }
    keys_in_environment = {
        SECRET_AZURE_KEY: settings.azure_openai_api_key is not None,
        SECRET_DEEPSEEK_KEY: settings.deepseek_api_key is not None,
    }
    hints = {name: hint for name, hint in _secret_store().masked(session).items() if name.startswith(SETTING_PREFIX)}
    for name, from_environment in keys_in_environment.items():
        if from_environment and name not in hints:  # a key stored here wins over the environment's
            hints[name] = "from the environment"
    return AISettingsOverview(
        config=load_ai_config(session, settings),
        page_fields={str(k): str(v) for k, v in (get_setting(session, SETTING_PROVIDER_FIELDS, {}) or {}).items()},
        environment_defaults=defaults,
        key_hints=hints,
        page_endpoints=list(get_setting(session, SETTING_OPENAI_COMPATIBLE, []) or []),
        disabled_analysts=list(get_setting(session, SETTING_DISABLED, []) or []),
    )


def store_api_key(session: Session, name: str, value: str) -> None:
    """Store an AI provider key encrypted (``ai.azure_openai_api_key`` or ``ai.deepseek_api_key``)."""

    if name not in (SECRET_AZURE_KEY, SECRET_DEEPSEEK_KEY):
        raise ValueError(f"unknown key name {name!r}")
    _secret_store().set(session, name, value.strip())
