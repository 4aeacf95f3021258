"""The research worker: fundamentals (CoinGecko, Yahoo) and FRED macro series, once a day.

It runs hourly; each pass fetches only what is due (fundamentals older than 20 h; macro series
once per 20 h), so a restart never re-asks the providers. Kept apart from the market worker so
its slow, daily requests never delay candle collection. Without a FRED key (Settings → News)
the macro part is skipped; CoinGecko works without a key (a demo key is used when stored).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db.engine import Database
from core.fundamentals.models import FundamentalsSource
from core.fundamentals.service import FundamentalsProvider, collect_fundamentals
from core.fundamentals.sources import CoinGeckoFundamentals, YahooFundamentals
from core.macro.fred import FredObservationsClient
from core.macro.models import MacroObservation
from core.macro.service import collect_macro
from core.market.settings import MarketSettings
from core.market.sources.registry import COINGECKO_KEY_SECRET
from core.news.config import SECRET_NAMES
from core.news.http import HttpClient
from core.news.settings import NewsSettings
from core.security.secrets import SecretStore, SecretStoreError
from core.timeutil import utc_now
from workers.runtime import PassResult, WorkerLoop

logger = logging.getLogger(__name__)

WORKER_NAME = "research"
DEFAULT_INTERVAL_SECONDS = 3600.0
MACRO_MAX_AGE = timedelta(hours=20)


def _secret(session: Session, name: str) -> str | None:
    try:
        return SecretStore().get(session, name)
    except SecretStoreError as error:
        logger.error("Research: %s", error)
        return None


def _macro_due(session: Session) -> bool:
    newest = session.scalar(select(func.max(MacroObservation.fetched_at)))
    return newest is None or utc_now() - newest >= MACRO_MAX_AGE


def run_pass(database: Database) -> PassResult:
    """Collect due fundamentals and macro series; return what was stored and what failed."""
    market = MarketSettings()
    news = NewsSettings()
    coingecko_key = (
        market.market_coingecko_api_key.get_secret_value()
        if market.market_coingecko_api_key is not None
        else database.run(lambda session: _secret(session, COINGECKO_KEY_SECRET))
    )
    fred_key, macro_due = database.run(
        lambda session: (_secret(session, SECRET_NAMES["fred_key"]), _macro_due(session))
    )
    coingecko = CoinGeckoFundamentals(
        demo_api_key=coingecko_key,
        api_base_url=market.market_coingecko_base_url,
        timeout_seconds=market.market_request_timeout_seconds,
    )
    yahoo = YahooFundamentals(timeout_seconds=market.market_request_timeout_seconds)
    providers: dict[FundamentalsSource, FundamentalsProvider] = {
        FundamentalsSource.COINGECKO: coingecko,
        FundamentalsSource.YAHOO: yahoo,
    }
    result: dict[str, Any] = {}
    try:
        report = collect_fundamentals(database, providers)
        result["fundamentals"] = {"stored": report.stored, "unchanged": report.unchanged, "failed": report.failed}
    finally:
        coingecko.close()
        yahoo.close()
    if fred_key and macro_due:
        with HttpClient(
            "fred",
            timeout_seconds=news.http_timeout_seconds,
            attempts=news.http_attempts,
            backoff_seconds=news.http_backoff_seconds,
            user_agent=news.user_agent,
        ) as http:
            macro = collect_macro(database, FredObservationsClient(fred_key, http, base_url=news.fred_base_url))
        result["macro"] = {"stored": macro.stored, "failed": macro.failed}
    else:
        result["macro"] = "skipped: no FRED key" if not fred_key else "skipped: collected within 20 h"
    return result


def build_worker(database: Database, *, interval_seconds: float | None = None) -> WorkerLoop:
    """Return the research loop (hourly passes; each provider asked at most daily)."""
    return WorkerLoop(
        name=WORKER_NAME,
        database=database,
        run_pass=run_pass,
        interval_seconds=interval_seconds or DEFAULT_INTERVAL_SECONDS,
    )
