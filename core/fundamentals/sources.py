"""Fundamentals from CoinGecko (``/coins/{id}``) and Yahoo Finance (``/v10/finance/quoteSummary``).

Both adapters return a :class:`FundamentalsRecord`: the provider's own update time and a flat,
normalised metrics dict (money as decimal strings, ratios as floats, dates as ISO strings), so
the analysts and the Asset panel never depend on a provider's layout. Errors follow the market
data policy (``core.market.sources.base``): 429/5xx/timeouts are retried, then
``SourceUnavailableError``; 401/403 ``SourceAuthenticationError``; 404 ``UnknownSymbolError``;
an answer without the expected objects ``SourceResponseError``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from pycoingecko import CoinGeckoAPI
from yfinance.data import YfData

from core.fundamentals.models import FundamentalsRecord as FundamentalsRecord
from core.fundamentals.models import FundamentalsSource
from core.market.sources.base import (
    InstrumentRef,
    RetryPolicy,
    SourceResponseError,
    UnknownSymbolError,
    call_with_retries,
)
from core.market.sources.coingecko_source import _translate as translate_coingecko
from core.market.sources.yahoo_source import _translate as translate_yahoo
from core.market.sources.yahoo_source import checked_yahoo_answer
from core.retry import RateLimiter
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

T = TypeVar("T")

QUOTE_SUMMARY_URL = "https://query2.finance.yahoo.com/v10/finance/quoteSummary/{symbol}"
QUOTE_SUMMARY_MODULES = (
    "assetProfile,summaryProfile,summaryDetail,defaultKeyStatistics,financialData,calendarEvents,price,quoteType"
)


def _number(value: Any) -> float | None:
    if isinstance(value, dict):  # Yahoo's {"raw": 1.2, "fmt": "1.20"}
        value = value.get("raw")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _money(value: Any) -> str | None:
    number = _number(value)
    return None if number is None else format(Decimal(str(number)), "f")


def _iso_time(value: Any) -> datetime | None:
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _epoch_date(value: Any) -> str | None:
    number = _number(value)
    return None if number is None else datetime.fromtimestamp(number, tz=UTC).date().isoformat()


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _without_none(metrics: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in metrics.items() if value is not None and value != {} and value != []}


def coingecko_metrics(coin: dict[str, Any], currency: str) -> dict[str, Any]:
    """Normalise a CoinGecko ``/coins/{id}`` answer (prices in ``currency``, else USD)."""
    market = coin.get("market_data")
    if not isinstance(market, dict):
        raise SourceResponseError(f"coingecko answer for {coin.get('id')!r} has no market_data")
    prices = market.get("current_price") or {}
    chosen = currency if currency in prices else "usd"

    def in_currency(name: str) -> Any:
        values = market.get(name)
        return values.get(chosen) if isinstance(values, dict) else None

    market_cap = _number(in_currency("market_cap"))
    volume = _number(in_currency("total_volume"))
    circulating = _number(market.get("circulating_supply"))
    total = _number(market.get("total_supply"))
    maximum = _number(market.get("max_supply"))
    ceiling = maximum or total
    developer: dict[str, Any] = coin.get("developer_data") or {}
    community: dict[str, Any] = coin.get("community_data") or {}
    if not isinstance(developer, dict) or not isinstance(community, dict):
        raise SourceResponseError(f"coingecko answer for {coin.get('id')!r} has malformed developer/community data")
    return _without_none(
        {
            "kind": "crypto",
            "name": coin.get("name"),
            "currency": chosen.upper(),
            "price": _money(in_currency("current_price")),
            "market_cap": _money(market_cap),
            "market_cap_rank": coin.get("market_cap_rank") or market.get("market_cap_rank"),
            "fully_diluted_valuation": _money(in_currency("fully_diluted_valuation")),
            "volume_24h": _money(volume),
            "volume_to_market_cap": _ratio(volume, market_cap),
            "circulating_supply": circulating,
            "total_supply": total,
            "max_supply": maximum,
            "circulating_share": _ratio(circulating, ceiling),
            "dilution": (1 - circulating / ceiling) if circulating is not None and ceiling else None,
            "all_time_high": _money(in_currency("ath")),
            "all_time_high_change_pct": _number(in_currency("ath_change_percentage")),
            "all_time_high_date": in_currency("ath_date"),
            "price_change_7d_pct": _number(market.get("price_change_percentage_7d")),
            "price_change_30d_pct": _number(market.get("price_change_percentage_30d")),
            "categories": [item for item in coin.get("categories") or [] if isinstance(item, str) and item],
            "developer": _without_none(
                {
                    name: _number(developer.get(name))
                    for name in (
                        "commit_count_4_weeks",
                        "stars",
                        "forks",
                        "pull_requests_merged",
                        "pull_request_contributors",
                        "closed_issues",
                        "total_issues",
                    )
                }
            ),
            "community": _without_none(
                {
                    name: _number(community.get(name))
                    for name in ("twitter_followers", "reddit_subscribers", "telegram_channel_user_count")
                }
            ),
            "sentiment_votes_up_pct": _number(coin.get("sentiment_votes_up_percentage")),
        }
    )


class CoinGeckoFundamentals:
    """``/coins/{id}`` through pycoingecko (demo key optional)."""

    source = FundamentalsSource.COINGECKO

    def __init__(
        self,
        *,
        demo_api_key: str | None = None,
        api_base_url: str | None = None,
        timeout_seconds: float = 20.0,
        retry_policy: RetryPolicy | None = None,
        requests_per_minute: float = 30.0,
    ):
        self.client = CoinGeckoAPI(demo_api_key=demo_api_key or "", retries=0)
        if api_base_url is not None:
            self.client.api_base_url = api_base_url if api_base_url.endswith("/") else api_base_url + "/"
        self.client.request_timeout = timeout_seconds
        self._limiter = RateLimiter.per_minute(requests_per_minute)
        self._retry_policy = retry_policy or RetryPolicy()

    def fetch(self, instrument: InstrumentRef) -> FundamentalsRecord:
        """Return the coin's fundamentals; ``UnknownSymbolError`` without a CoinGecko id."""
        if not instrument.coingecko_id:
            raise UnknownSymbolError(f"{instrument.symbol} has no CoinGecko id")
        coin_id = instrument.coingecko_id

        def request() -> dict[str, Any]:
            answer = self.client.get_coin_by_id(
                coin_id,
                localization="false",
                tickers="false",
                market_data="true",
                community_data="true",
                developer_data="true",
                sparkline="false",
            )
            if not isinstance(answer, dict):
                raise SourceResponseError(f"coingecko /coins/{coin_id} did not answer a JSON object")
            if "error" in answer and "market_data" not in answer:
                raise UnknownSymbolError(f"coingecko: {coin_id}: {str(answer['error'])[:200]}")
            return answer

        coin = call_with_retries(
            request,
            policy=self._retry_policy,
            limiter=self._limiter,
            description=f"coingecko coin {coin_id}",
            translate=translate_coingecko,
        )
        metrics = coingecko_metrics(coin, instrument.quote.lower())
        market = coin.get("market_data") or {}
        as_of = _iso_time(market.get("last_updated")) or _iso_time(coin.get("last_updated")) or utc_now()
        return FundamentalsRecord(self.source, coin_id, as_of, metrics)

    def close(self) -> None:
        self.client.session.close()


def yahoo_metrics(result: dict[str, Any]) -> dict[str, Any]:
    """Normalise one ``quoteSummary`` result (the modules ``Ticker.info`` is built from)."""

    def module(name: str) -> dict[str, Any]:
        value = result.get(name)
        return value if isinstance(value, dict) else {}

    profile = module("assetProfile") or module("summaryProfile")
    detail = module("summaryDetail")
    statistics = module("defaultKeyStatistics")
    financial = module("financialData")
    calendar = module("calendarEvents")
    price = module("price")
    quote_type = module("quoteType")
    last = _number(price.get("regularMarketPrice")) or _number(financial.get("currentPrice"))
    high = _number(detail.get("fiftyTwoWeekHigh"))
    low = _number(detail.get("fiftyTwoWeekLow"))
    earnings = (
        (calendar.get("earnings") or {}).get("earningsDate") if isinstance(calendar.get("earnings"), dict) else None
    )
    return _without_none(
        {
            "kind": str(quote_type.get("quoteType") or price.get("quoteType") or "EQUITY").lower(),
            "name": price.get("longName") or price.get("shortName") or quote_type.get("longName"),
            "currency": price.get("currency") or detail.get("currency"),
            "price": _money(last),
            "sector": profile.get("sector"),
            "industry": profile.get("industry"),
            "market_cap": _money(price.get("marketCap") or detail.get("marketCap")),
            "trailing_pe": _number(detail.get("trailingPE")),
            "forward_pe": _number(detail.get("forwardPE") or statistics.get("forwardPE")),
            "price_to_book": _number(statistics.get("priceToBook")),
            "price_to_sales": _number(detail.get("priceToSalesTrailing12Months")),
            "peg_ratio": _number(statistics.get("pegRatio")),
            "enterprise_to_ebitda": _number(statistics.get("enterpriseToEbitda")),
            "profit_margin": _number(financial.get("profitMargins") or statistics.get("profitMargins")),
            "revenue_growth": _number(financial.get("revenueGrowth")),
            "dividend_yield": _number(detail.get("dividendYield")),
            "dividend_rate": _money(detail.get("dividendRate")),
            "ex_dividend_date": _epoch_date(calendar.get("exDividendDate") or detail.get("exDividendDate")),
            "earnings_dates": [date for date in (_epoch_date(item) for item in earnings or []) if date],
            "fifty_two_week_high": _money(high),
            "fifty_two_week_low": _money(low),
            "fifty_two_week_position": _ratio(
                (last - low) if last is not None and low is not None else None,
                (high - low) if high is not None and low is not None else None,
            ),
            "total_assets": _money(detail.get("totalAssets")),  # ETFs
            "expense_ratio": _number(statistics.get("annualReportExpenseRatio")),  # ETFs
        }
    )


class YahooFundamentals:
    """``quoteSummary`` through yfinance's cookie + crumb session (``Ticker.info``'s request)."""

    source = FundamentalsSource.YAHOO

    def __init__(
        self,
        *,
        session: Any = None,
        timeout_seconds: float = 20.0,
        retry_policy: RetryPolicy | None = None,
        requests_per_minute: float = 30.0,
    ):
        if session is None:
            from yfinance._http import new_session

            session = new_session()
        self.session = session
        self._data = YfData.__new__(YfData)  # a private instance, not yfinance's process-wide singleton
        YfData.__init__(self._data, session=session)
        self._timeout = timeout_seconds
        self._limiter = RateLimiter.per_minute(requests_per_minute)
        self._retry_policy = retry_policy or RetryPolicy()

    def fetch(self, instrument: InstrumentRef) -> FundamentalsRecord:
        """Return the stock's or ETF's fundamentals."""
        symbol = instrument.yahoo_symbol or instrument.symbol

        def request() -> dict[str, Any]:
            response = self._data.get(
                QUOTE_SUMMARY_URL.format(symbol=symbol),
                params={"modules": QUOTE_SUMMARY_MODULES, "formatted": "false"},
                timeout=self._timeout,
            )
            return _checked_summary(response, symbol)

        result = call_with_retries(
            request,
            policy=self._retry_policy,
            limiter=self._limiter,
            description=f"yahoo quoteSummary {symbol}",
            translate=translate_yahoo,
        )
        price = result.get("price") if isinstance(result.get("price"), dict) else {}
        moment = _number((price or {}).get("regularMarketTime"))
        as_of = datetime.fromtimestamp(moment, tz=UTC) if moment is not None else utc_now()
        return FundamentalsRecord(self.source, symbol, as_of, yahoo_metrics(result))

    def close(self) -> None:
        close: Callable[[], None] | None = getattr(self.session, "close", None)
        if close is not None:
            close()


def _checked_summary(response: Any, symbol: str) -> dict[str, Any]:
    payload, description = checked_yahoo_answer(response, symbol, ("quoteSummary", "finance"))
    if not isinstance(payload, dict) or not isinstance(payload.get("quoteSummary"), dict):
        raise SourceResponseError(f"yahoo answer for {symbol} has no 'quoteSummary' object")
    summary = payload["quoteSummary"]
    if summary.get("error"):
        raise UnknownSymbolError(f"yahoo: {symbol}: {description}")
    results = summary.get("result")
    if not isinstance(results, list) or not results or not isinstance(results[0], dict):
        raise SourceResponseError(f"yahoo quoteSummary answer for {symbol} has no result")
    return results[0]
