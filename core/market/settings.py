"""Typed settings of the market-data area (``KONSENS_MARKET_*`` or the ``[market]`` table of config.toml)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from core.config import KonsensSettingsBase
from core.market.timeframes import timeframe_seconds

DEFAULT_EXCHANGE = "onetrading"


class MarketSettings(KonsensSettingsBase):
    """How the market worker and the adapters behave."""

    toml_table: ClassVar[str | None] = "market"

    market_timeframes: list[str] = Field(default=["1h"], description="Timeframes the market worker collects.")
    market_interval_seconds: float = Field(default=300.0, gt=0, description="Seconds between worker passes.")
    market_initial_history_days: int = Field(
        default=30, ge=1, description="How far back the worker starts for an instrument without candles."
    )
    market_request_timeout_seconds: float = Field(default=20.0, gt=0)
    market_retry_attempts: int = Field(default=4, ge=1, le=10)
    market_retry_wait_seconds: float = Field(default=1.0, ge=0)
    market_default_exchange: str = DEFAULT_EXCHANGE
    market_coingecko_api_key: SecretStr | None = Field(
        default=None, description="CoinGecko demo API key (used when none is stored in Settings)."
    )
    market_coingecko_base_url: str | None = Field(
        default=None, description="CoinGecko API base URL (default: the public API; e.g. a proxy or a test server)."
    )
    market_ccxt_api_url: str | None = Field(
        default=None, description="Override of the ccxt exchange's REST base URL (a proxy or a test server)."
    )
    market_streaming: bool = Field(
        default=True,
        description="Stream quotes and forming candles (ccxt.pro for exchanges with WebSockets, ticks in demo mode).",
    )
    market_stream_flush_seconds: float = Field(default=1.0, gt=0, description="How often streamed ticks are stored.")
    market_stream_silence_seconds: float = Field(
        default=60.0, gt=0, description="A stream silent this long falls back to REST polling (and raises an alert)."
    )
    market_stream_fallback_poll_seconds: float = Field(
        default=30.0, gt=0, description="REST polling interval of an instrument whose stream is down."
    )
    market_demo_tick_seconds: float = Field(default=1.0, gt=0, description="Interval of the demo source's ticks.")
    market_ccxt_ws_url: str | None = Field(
        default=None, description="Override of the ccxt exchange's WebSocket URL (a proxy or a test server)."
    )
    market_quote_retention_hours: float = Field(
        default=72.0,
        ge=0,
        description=(
            "Streamed and polled quotes older than this are deleted by the market worker (0 = keep all); "
            "an instrument's newest quote is always kept. Candles are kept."
        ),
    )
    market_prune_batch_rows: int = Field(
        default=5000, ge=1, description="Quotes deleted per transaction when old quotes are pruned."
    )
    market_prune_max_batches: int = Field(
        default=20, ge=1, description="At most this many prune batches per market worker pass (the rest next pass)."
    )

    @field_validator("market_timeframes")
    @classmethod
    def _known_timeframes(cls, value: list[str]) -> list[str]:
        for timeframe in value:
            timeframe_seconds(timeframe)
        return value
