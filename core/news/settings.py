"""Typed settings of the news pipeline (``KONSENS_NEWS_*`` or the ``[news]`` table of config.toml).

These are the start-up settings (intervals, timeouts, endpoints, thresholds). What the user edits
at run time on the Settings page (feeds, aliases, retention, credentials) lives in the database:
see :mod:`core.news.config`.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from core.config import ENV_PREFIX, KonsensSettingsBase


class NewsSettings(KonsensSettingsBase):
    """Start-up settings of the news collector."""

    toml_table: ClassVar[str | None] = "news"
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX + "NEWS_", env_file=".env", extra="ignore", frozen=True)

    worker_tick_seconds: float = Field(
        default=60.0, gt=0, description="How often the worker checks which source is due."
    )
    rss_interval_seconds: float = Field(default=900.0, gt=0)
    newsapi_interval_seconds: float = Field(default=1800.0, gt=0)
    alphavantage_interval_seconds: float = Field(default=3600.0, gt=0)
    reddit_interval_seconds: float = Field(default=600.0, gt=0)
    x_interval_seconds: float = Field(default=1800.0, gt=0)
    calendar_interval_seconds: float = Field(default=43_200.0, gt=0)
    retention_interval_seconds: float = Field(default=21_600.0, gt=0)
    failure_backoff_max_seconds: float = Field(
        default=3_600.0,
        gt=0,
        description=(
            "Longest wait before a failing source is tried again: the wait doubles from 60 s with each "
            "failure in a row, up to this or the source's own interval if that is longer."
        ),
    )

    http_timeout_seconds: float = Field(default=15.0, gt=0)
    http_attempts: int = Field(default=3, ge=1, le=10)
    http_backoff_seconds: float = Field(default=1.0, ge=0)
    rss_host_spacing_seconds: float = Field(default=1.0, ge=0, description="Pause between requests to one feed host.")
    user_agent: str = "Konsens/0.1 (news collector; +https://github.com/konsens)"

    alphavantage_daily_budget: int = Field(default=25, ge=1)
    near_duplicate_threshold: float = Field(default=0.8, gt=0, le=1)
    near_duplicate_window_hours: float = Field(default=48.0, gt=0)
    future_tolerance_seconds: float = Field(default=600.0, ge=0)
    lookback_hours: float = Field(default=48.0, gt=0, description="How far back a first fetch reaches.")

    newsapi_base_url: str = "https://newsapi.org"
    alphavantage_base_url: str = "https://www.alphavantage.co"
    fred_base_url: str = "https://api.stlouisfed.org"
    reddit_oauth_url: str = "https://oauth.reddit.com"
    reddit_url: str = "https://www.reddit.com"
    x_base_url: str = "https://api.twitter.com"
