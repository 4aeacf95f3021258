"""Run-time configuration of the news pipeline, edited on the Settings page and kept in the database.

Settings keys (JSON values in the ``settings`` table):

- ``news.feeds``: ``[{"name", "url", "enabled"}]`` — the RSS feeds (default: :data:`DEFAULT_FEEDS`);
- ``news.aliases``: ``{symbol or ticker: [alias, ...]}`` — extra tagging terms;
- ``news.subreddits``: ``{symbol: [subreddit, ...]}`` — what Reddit reads per instrument;
- ``news.retention_days``: ``{policy: days or null}`` — see :data:`DEFAULT_RETENTION_DAYS`.

Credentials are stored encrypted with :class:`core.security.secrets.SecretStore` under
:data:`SECRET_NAMES`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from core.errors import PermanentError
from core.security.secrets import SecretStore
from core.system.settings_store import get_setting, set_setting

SETTING_FEEDS = "news.feeds"
SETTING_ALIASES = "news.aliases"
SETTING_SUBREDDITS = "news.subreddits"
SETTING_RETENTION = "news.retention_days"

DEFAULT_FEEDS: tuple[dict[str, Any], ...] = (
    {"name": "coindesk", "url": "https://www.coindesk.com/arc/outboundfeeds/rss/", "enabled": True},
    {"name": "cointelegraph", "url": "https://cointelegraph.com/rss", "enabled": True},
    {"name": "decrypt", "url": "https://decrypt.co/feed", "enabled": True},
    {"name": "theblock", "url": "https://www.theblock.co/rss.xml", "enabled": True},
    {"name": "bitcoinmagazine", "url": "https://bitcoinmagazine.com/.rss/full/", "enabled": True},
    {"name": "cnbc-markets", "url": "https://www.cnbc.com/id/20910258/device/rss/rss.html", "enabled": True},
    {"name": "marketwatch", "url": "https://feeds.content.dowjones.io/public/rss/mw_topstories", "enabled": True},
    {"name": "yahoo-finance", "url": "https://finance.yahoo.com/news/rssindex", "enabled": True},
    {"name": "investing-com", "url": "https://www.investing.com/rss/news.rss", "enabled": True},
)

DEFAULT_SUBREDDITS: dict[str, tuple[str, ...]] = {
    "BTC": ("Bitcoin", "CryptoCurrency"),
    "ETH": ("ethereum", "ethfinance"),
    "SOL": ("solana",),
    "AAPL": ("apple", "stocks"),
}
GENERIC_CRYPTO_SUBREDDITS = ("CryptoCurrency",)
GENERIC_STOCK_SUBREDDITS = ("stocks",)

# Retention policies: days to keep, None = forever.
DEFAULT_RETENTION_DAYS: dict[str, int | None] = {
    "news_posts": 90,
    "news_articles": 365,
    "sentiment_hourly": None,
    "calendar_events": 730,
    "news_quarantine": 60,
}
RETENTION_LABELS = {
    "news_posts": "Posts (Reddit, X) in news_items",
    "news_articles": "Articles (RSS, NewsAPI, Alpha Vantage) in news_items",
    "sentiment_hourly": "Hourly sentiment aggregates",
    "calendar_events": "Economic calendar events",
    "news_quarantine": "Quarantined news items",
}

SECRET_NAMES = {
    "newsapi_key": "news.newsapi.api_key",
    "alphavantage_key": "news.alphavantage.api_key",
    "reddit_client_id": "news.reddit.client_id",
    "reddit_client_secret": "news.reddit.client_secret",
    "x_bearer_token": "news.x.bearer_token",
    "fred_key": "news.fred.api_key",
}
SECRET_LABELS = {
    "newsapi_key": "NewsAPI key",
    "alphavantage_key": "Alpha Vantage key",
    "reddit_client_id": "Reddit client id",
    "reddit_client_secret": "Reddit client secret",
    "x_bearer_token": "X (Twitter) bearer token",
    "fred_key": "FRED API key (economic calendar)",
}

_FEED_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")
_SUBREDDIT = re.compile(r"^[A-Za-z0-9_]{2,21}$")


class NewsConfigError(PermanentError, ValueError):
    """A configuration value was refused (one clear message; nothing is stored)."""


@dataclass(frozen=True)
class FeedConfig:
    name: str
    url: str
    enabled: bool = True

    @property
    def source(self) -> str:
        """Return the source name the feed's items are stored under (``rss:<name>``)."""
        return f"rss:{self.name}"


@dataclass(frozen=True)
class NewsConfig:
    feeds: list[FeedConfig]
    aliases: dict[str, list[str]]
    subreddits: dict[str, list[str]]
    retention_days: dict[str, int | None] = field(default_factory=lambda: dict(DEFAULT_RETENTION_DAYS))


def slugify_feed_name(name: str) -> str:
    """Return a feed name as stored: lower case, ``[a-z0-9._-]``, at most 40 characters."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.strip().lower()).strip("-")
    return slug[:40]


def validate_feeds(feeds: Sequence[Mapping[str, Any]]) -> list[FeedConfig]:
    """Return validated feeds or raise :class:`NewsConfigError` naming the first bad row."""
    result: list[FeedConfig] = []
    names: set[str] = set()
    for position, feed in enumerate(feeds, start=1):
        name = slugify_feed_name(str(feed.get("name") or ""))
        url = str(feed.get("url") or "").strip()
        if not name and not url:
            continue
        if not _FEED_NAME.match(name):
            raise NewsConfigError(f"feed {position}: a name is required (letters, digits, '.', '_', '-')")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise NewsConfigError(f"feed {name!r}: {url!r} is not an http(s) URL")
        if name in names:
            raise NewsConfigError(f"feed name {name!r} is used twice")
        names.add(name)
        result.append(FeedConfig(name=name, url=url, enabled=bool(feed.get("enabled", True))))
    return result


def _clean_term_lists(values: Mapping[str, Any], *, what: str, pattern: re.Pattern[str] | None) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for key, raw in values.items():
        key = str(key).strip().upper()
        if not key:
            continue
        items = raw.split(",") if isinstance(raw, str) else list(raw or [])
        terms = [str(item).strip() for item in items if str(item).strip()]
        for term in terms:
            if pattern is not None and not pattern.match(term):
                raise NewsConfigError(f"{what} {term!r} for {key} is not valid")
            if len(term) > 80:
                raise NewsConfigError(f"{what} {term[:20]!r}… for {key} is longer than 80 characters")
        if terms:
            result[key] = list(dict.fromkeys(terms))
    return result


def load_news_config(session: Session) -> NewsConfig:
    """Return the stored configuration, with defaults for what was never set."""
    stored_feeds = get_setting(session, SETTING_FEEDS)
    feeds = validate_feeds(stored_feeds if stored_feeds is not None else list(DEFAULT_FEEDS))
    aliases = _clean_term_lists(get_setting(session, SETTING_ALIASES, {}) or {}, what="alias", pattern=None)
    stored_subreddits = get_setting(session, SETTING_SUBREDDITS)
    subreddits = (
        _clean_term_lists(stored_subreddits, what="subreddit", pattern=_SUBREDDIT)
        if stored_subreddits is not None
        else {key: list(values) for key, values in DEFAULT_SUBREDDITS.items()}
    )
    retention = dict(DEFAULT_RETENTION_DAYS)
    for key, value in (get_setting(session, SETTING_RETENTION, {}) or {}).items():
        if key in retention:
            retention[key] = None if value in (None, 0, "") else int(value)
    return NewsConfig(feeds=feeds, aliases=aliases, subreddits=subreddits, retention_days=retention)


def save_feeds(session: Session, feeds: Sequence[Mapping[str, Any]]) -> list[FeedConfig]:
    """Validate and store the RSS feed list."""
    validated = validate_feeds(feeds)
    set_setting(session, SETTING_FEEDS, [{"name": f.name, "url": f.url, "enabled": f.enabled} for f in validated])
    return validated


def save_aliases(session: Session, aliases: Mapping[str, Any]) -> dict[str, list[str]]:
    """Validate and store the tagging aliases (``{symbol or ticker: [alias, ...] or "a, b"}``)."""
    cleaned = _clean_term_lists(aliases, what="alias", pattern=None)
    set_setting(session, SETTING_ALIASES, cleaned)
    return cleaned


def save_subreddits(session: Session, subreddits: Mapping[str, Any]) -> dict[str, list[str]]:
    """Validate and store the subreddits read per instrument ticker."""
    cleaned = _clean_term_lists(subreddits, what="subreddit", pattern=_SUBREDDIT)
    set_setting(session, SETTING_SUBREDDITS, cleaned)
    return cleaned


def save_retention(session: Session, retention: Mapping[str, int | None]) -> dict[str, int | None]:
    """Validate and store retention days per policy (None or 0 = keep forever)."""
    cleaned: dict[str, int | None] = {}
    for key, value in retention.items():
        if key not in DEFAULT_RETENTION_DAYS:
            raise NewsConfigError(f"unknown retention policy {key!r}")
        if value in (None, 0):
            cleaned[key] = None
            continue
        days = int(value)
        if days < 1 or days > 36_500:
            raise NewsConfigError(f"retention of {key} must be 1 to 36500 days (or empty for forever)")
        cleaned[key] = days
    set_setting(session, SETTING_RETENTION, {**DEFAULT_RETENTION_DAYS, **cleaned})
    return cleaned


def credential_hints(session: Session, store: SecretStore) -> dict[str, str | None]:
    """Return, per credential key of :data:`SECRET_NAMES`, its masked form or None when not stored."""
    masked = store.masked(session)
    return {key: masked.get(name) for key, name in SECRET_NAMES.items()}


def save_credentials(session: Session, store: SecretStore, values: Mapping[str, str | None]) -> list[str]:
    """Store the non-empty credentials (encrypted); return the keys stored. Unknown keys are refused."""
    stored = []
    for key, value in values.items():
        if key not in SECRET_NAMES:
            raise NewsConfigError(f"unknown credential {key!r}")
        if value and value.strip():
            store.set(session, SECRET_NAMES[key], value.strip())
            stored.append(key)
    return stored


def delete_credentials(session: Session, store: SecretStore, keys: Sequence[str]) -> list[str]:
    """Delete stored credentials; return the keys that existed."""
    return [key for key in keys if key in SECRET_NAMES and store.delete(session, SECRET_NAMES[key])]
