from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from core.db.engine import Database
from core.news.config import (
    DEFAULT_FEEDS,
    DEFAULT_RETENTION_DAYS,
    NewsConfigError,
    credential_hints,
    delete_credentials,
    load_news_config,
    save_aliases,
    save_credentials,
    save_feeds,
    save_retention,
    save_subreddits,
)
from core.security.secrets import SecretStore


def test_defaults_without_stored_settings(sqlite_database: Database) -> None:
    with sqlite_database.session() as session:
        config = load_news_config(session)
    assert [feed.name for feed in config.feeds] == [feed["name"] for feed in DEFAULT_FEEDS]
    assert config.retention_days == DEFAULT_RETENTION_DAYS
    assert config.subreddits["BTC"] == ["Bitcoin", "CryptoCurrency"]


def test_feeds_are_validated_and_nothing_is_stored_on_error(sqlite_database: Database) -> None:
    with sqlite_database.session() as session:
        save_feeds(session, [{"name": "My Feed", "url": "https://feeds.example/rss", "enabled": False}])
    with pytest.raises(NewsConfigError, match="not an http"), sqlite_database.session() as session:
        save_feeds(session, [{"name": "bad", "url": "ftp://x"}])
    with pytest.raises(NewsConfigError, match="used twice"), sqlite_database.session() as session:
        save_feeds(session, [{"name": "a", "url": "https://a.example"}, {"name": "A", "url": "https://b.example"}])
    with sqlite_database.session() as session:
        (feed,) = load_news_config(session).feeds
    assert (feed.name, feed.url, feed.enabled, feed.source) == (
        "my-feed",
        "https://feeds.example/rss",
        False,
        "rss:my-feed",
    )


def test_aliases_subreddits_and_retention(sqlite_database: Database) -> None:
    with sqlite_database.session() as session:
        save_aliases(session, {"btc": "digital gold, sats", "ETH/EUR": ["ether"]})
        save_subreddits(session, {"SOL": "solana, SolanaTrading"})
        save_retention(session, {"news_posts": 30, "sentiment_hourly": 0})
    with pytest.raises(NewsConfigError, match="subreddit"), sqlite_database.session() as session:
        save_subreddits(session, {"BTC": "not a valid name!"})
    with pytest.raises(NewsConfigError, match="1 to 36500"), sqlite_database.session() as session:
        save_retention(session, {"news_posts": -5})
    with sqlite_database.session() as session:
        config = load_news_config(session)
    assert config.aliases == {"BTC": ["digital gold", "sats"], "ETH/EUR": ["ether"]}
    assert config.subreddits == {"SOL": ["solana", "SolanaTrading"]}
    assert config.retention_days["news_posts"] == 30 and config.retention_days["sentiment_hourly"] is None


def test_credentials_are_stored_encrypted_and_masked(sqlite_database: Database) -> None:
    store = SecretStore(Fernet.generate_key())
    with sqlite_database.session() as session:
        assert save_credentials(session, store, {"newsapi_key": "abcd1234", "x_bearer_token": ""}) == ["newsapi_key"]
    with sqlite_database.session() as session:
        hints = credential_hints(session, store)
        assert hints["newsapi_key"] == "••••1234" and hints["x_bearer_token"] is None
        assert store.get(session, "news.newsapi.api_key") == "abcd1234"
        assert delete_credentials(session, store, ["newsapi_key", "x_bearer_token"]) == ["newsapi_key"]
    with pytest.raises(NewsConfigError), sqlite_database.session() as session:
        save_credentials(session, store, {"unknown": "x"})
