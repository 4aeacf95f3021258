"""Open a ``MarketData`` adapter by source name: ``demo``, ``ccxt:<exchange id>``, ``coingecko``, ``yahoo``.

Credentials come from the encrypted secret store (entered on the Settings page) or, for
CoinGecko when none is stored, from ``KONSENS_MARKET_COINGECKO_API_KEY`` (the one override order
of ``core/config.py``: the database before the environment). Secret names are listed in
:func:`secret_names`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from core.errors import PermanentError
from core.market.settings import MarketSettings
from core.market.sources.base import MarketData, MarketDataError, RetryPolicy

KNOWN_SOURCE_KINDS = ("demo", "ccxt", "coingecko", "yahoo")
COINGECKO_KEY_SECRET = "market.coingecko.api_key"


class UnknownSourceError(MarketDataError, PermanentError):
    """A source name that no adapter serves."""


@dataclass(frozen=True)
class SourceCredentials:
    """Optional keys for a source (never logged)."""

    api_key: str | None = None
    secret: str | None = None


def ccxt_key_secret(exchange_id: str) -> str:
    """Return the secret-store name of a ccxt exchange's API key."""
    return f"market.ccxt.{exchange_id}.api_key"


def ccxt_secret_secret(exchange_id: str) -> str:
    """Return the secret-store name of a ccxt exchange's API secret."""
    return f"market.ccxt.{exchange_id}.secret"


def normalise_source_name(name: str, settings: MarketSettings | None = None) -> str:
    """Return the canonical form of a source name (``ccxt`` alone means the default exchange)."""
    settings = settings or MarketSettings()
    cleaned = name.strip().lower()
    if cleaned == "ccxt":
        return f"ccxt:{settings.market_default_exchange}"
    kind = cleaned.split(":", 1)[0]
    if kind not in KNOWN_SOURCE_KINDS or (kind != "ccxt" and ":" in cleaned):
        raise UnknownSourceError(
            f"unknown data source {name!r}; use demo, ccxt:<exchange id> (e.g. ccxt:onetrading), coingecko or yahoo"
        )
    if kind == "ccxt":
        import ccxt

        exchange_id = cleaned.split(":", 1)[1]
        if exchange_id not in ccxt.exchanges:
            raise UnknownSourceError(f"unknown ccxt exchange {exchange_id!r}")
    return cleaned


def load_credentials(session: Session, source_name: str) -> SourceCredentials:
    """Read a source's keys from the encrypted secret store (nothing stored: no keys)."""
    from core.security.secrets import SecretStore

    store = SecretStore()
    if source_name == "coingecko":
        return SourceCredentials(api_key=store.get(session, COINGECKO_KEY_SECRET))
    if source_name.startswith("ccxt:"):
        exchange_id = source_name.split(":", 1)[1]
        return SourceCredentials(
            api_key=store.get(session, ccxt_key_secret(exchange_id)),
            secret=store.get(session, ccxt_secret_secret(exchange_id)),
        )
    return SourceCredentials()


def open_market_data(
    source_name: str,
    *,
    credentials: SourceCredentials | None = None,
    settings: MarketSettings | None = None,
    demo_epoch: datetime | None = None,
) -> MarketData:
    """Create the adapter for ``source_name`` with the configured timeouts and retries.

    ``demo_epoch``: where the demo market's walk starts in this database
    (``core.demo.state.demo_walk_epoch``; None: ``DEMO_EPOCH``), for the demo source.
    """
    settings = settings or MarketSettings()
    name = normalise_source_name(source_name, settings)
    credentials = credentials or SourceCredentials()
    policy = RetryPolicy(
        attempts=settings.market_retry_attempts, initial_wait_seconds=settings.market_retry_wait_seconds
    )
    timeout = settings.market_request_timeout_seconds
    if name == "demo":
        from core.market.sources.demo import DemoMarketData

        return DemoMarketData(epoch=demo_epoch)
    if name.startswith("ccxt:"):
        from core.market.sources.ccxt_source import CcxtMarketData

        return CcxtMarketData(
            name.split(":", 1)[1],
            api_key=credentials.api_key,
            secret=credentials.secret,
            timeout_seconds=timeout,
            retry_policy=policy,
            exchange_options=(
                {"urls": {"api": {"public": settings.market_ccxt_api_url, "private": settings.market_ccxt_api_url}}}
                if settings.market_ccxt_api_url
                else None
            ),
        )
    if name == "coingecko":
        from core.market.sources.coingecko_source import CoinGeckoMarketData

        key = credentials.api_key
        if not key and settings.market_coingecko_api_key is not None:
            key = settings.market_coingecko_api_key.get_secret_value()
        return CoinGeckoMarketData(
            demo_api_key=key,
            api_base_url=settings.market_coingecko_base_url,
            timeout_seconds=timeout,
            retry_policy=policy,
        )
    from core.market.sources.yahoo_source import YahooMarketData

    return YahooMarketData(timeout_seconds=timeout, retry_policy=policy)


def secret_names() -> dict[str, str]:
    """Return the secret-store names the market area uses, with a label for each."""
    return {COINGECKO_KEY_SECRET: "CoinGecko demo API key"}
