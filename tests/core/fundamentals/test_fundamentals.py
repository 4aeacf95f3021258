"""Fundamentals clients against loopback servers in the providers' wire formats, and their storage.

CoinGecko ``/coins/{id}``: the shape of CoinGecko's API v3 reference
(https://docs.coingecko.com/v3.0.1/reference/coins-id) — ``market_data`` with per-currency
objects (``current_price``, ``market_cap``, ``total_volume``, ``ath``, ``ath_change_percentage``,
``fully_diluted_valuation``), supplies as numbers, ``developer_data``/``community_data``,
``categories``, ``last_updated``; the values below are those of a recorded Bitcoin answer.
Yahoo ``/v10/finance/quoteSummary/{symbol}``: the modules yfinance's ``Ticker.info`` requests
(yfinance ``yfinance/scrapers/quote.py``), each value ``{"raw": ..., "fmt": ...}``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from core.db.engine import Database
from core.fundamentals.models import AssetFundamentals, FundamentalsSource
from core.fundamentals.service import collect_fundamentals, latest_fundamentals
from core.fundamentals.sources import CoinGeckoFundamentals, YahooFundamentals
from core.market.models import AssetClass, Instrument
from core.market.sources.base import (
    InstrumentRef,
    RetryPolicy,
    SourceAuthenticationError,
    SourceResponseError,
    SourceUnavailableError,
    UnknownSymbolError,
)
from tests.core.market.test_yahoo_source import LoopbackAdapter, serve_cookie_and_crumb

BTC = InstrumentRef(symbol="BTC/EUR", base="BTC", quote="EUR", coingecko_id="bitcoin")
AAPL = InstrumentRef(symbol="AAPL", base="AAPL", quote="USD", asset_class="stock", yahoo_symbol="AAPL")
FAST = RetryPolicy(attempts=2, initial_wait_seconds=0.01, max_wait_seconds=0.02)

COIN = {
    "id": "bitcoin",
    "symbol": "btc",
    "name": "Bitcoin",
    "categories": ["Cryptocurrency", "Layer 1 (L1)"],
    "sentiment_votes_up_percentage": 82.84,
    "market_cap_rank": 1,
    "market_data": {
        "current_price": {"eur": 20486.0, "usd": 22112.0},
        "ath": {"eur": 59717.0, "usd": 69045.0},
        "ath_change_percentage": {"eur": -65.69, "usd": -67.94652},
        "ath_date": {"eur": "2021-11-10T14:40:19.650Z", "usd": "2021-11-10T14:24:11.849Z"},
        "market_cap": {"eur": 395000000000, "usd": 426000000000},
        "market_cap_rank": 1,
        "fully_diluted_valuation": {"eur": 430000000000, "usd": 464000000000},
        "total_volume": {"eur": 19750000000, "usd": 21300000000},
        "price_change_percentage_7d": 5.2,
        "price_change_percentage_30d": 22.1,
        "total_supply": 21000000.0,
        "max_supply": 21000000.0,
        "circulating_supply": 19317000.0,
        "last_updated": "2023-03-24T13:55:13.610Z",
    },
    "community_data": {
        "twitter_followers": 5694210,
        "reddit_subscribers": 4701522,
        "telegram_channel_user_count": None,
    },
    "developer_data": {
        "forks": 33962,
        "stars": 69218,
        "total_issues": 7330,
        "closed_issues": 6874,
        "pull_requests_merged": 10608,
        "pull_request_contributors": 832,
        "commit_count_4_weeks": 274,
    },
    "last_updated": "2023-03-24T13:55:13.610Z",
}


def coingecko(server: HTTPServer) -> CoinGeckoFundamentals:
    return CoinGeckoFundamentals(
        api_base_url=server.url_for("/api/v3/"), timeout_seconds=5, retry_policy=FAST, requests_per_minute=60_000
    )


def test_coingecko_coin_gives_supply_dilution_volume_ratio_and_activity(httpserver: HTTPServer) -> None:
    seen: list[dict[str, str]] = []

    def handler(request: Request) -> Response:
        seen.append(dict(request.args))
        return Response(json.dumps(COIN), content_type="application/json")

    httpserver.expect_request("/api/v3/coins/bitcoin/").respond_with_handler(handler)
    record = coingecko(httpserver).fetch(BTC)
    metrics = record.metrics
    assert record.as_of == datetime(2023, 3, 24, 13, 55, 13, 610000, tzinfo=UTC)
    assert record.provider_id == "bitcoin" and record.source is FundamentalsSource.COINGECKO
    assert metrics["currency"] == "EUR"
    assert Decimal(metrics["market_cap"]) == Decimal("395000000000")
    assert metrics["market_cap_rank"] == 1
    assert metrics["volume_to_market_cap"] == pytest.approx(19750 / 395000)
    assert metrics["dilution"] == pytest.approx(1 - 19317000 / 21000000)
    assert metrics["all_time_high_change_pct"] == pytest.approx(-65.69)
    assert metrics["developer"]["commit_count_4_weeks"] == 274
    assert metrics["community"] == {"twitter_followers": 5694210, "reddit_subscribers": 4701522}
    assert metrics["categories"] == ["Cryptocurrency", "Layer 1 (L1)"]
    assert seen[0]["tickers"] == "false" and seen[0]["developer_data"] == "true"


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (404, {"error": "coin not found"}, UnknownSymbolError),
        (401, {"status": {"error_code": 10002, "error_message": "API Key Missing"}}, SourceAuthenticationError),
        (
            429,
            {"status": {"error_code": 429, "error_message": "You've exceeded the Rate Limit."}},
            SourceUnavailableError,
        ),
        (200, {"id": "bitcoin", "name": "Bitcoin"}, SourceResponseError),
    ],
)
def test_coingecko_errors(httpserver: HTTPServer, status: int, body: dict[str, object], error: type) -> None:
    httpserver.expect_request("/api/v3/coins/bitcoin/").respond_with_json(body, status=status)
    with pytest.raises(error):
        coingecko(httpserver).fetch(BTC)


def raw(value: float | int, fmt: str = "") -> dict[str, object]:
    return {"raw": value, "fmt": fmt or str(value)}


SUMMARY = {
    "quoteSummary": {
        "result": [
            {
                "assetProfile": {
                    "sector": "Technology",
                    "industry": "Consumer Electronics",
                    "country": "United States",
                },
                "summaryDetail": {
                    "trailingPE": raw(29.6),
                    "forwardPE": raw(26.1),
                    "dividendYield": raw(0.0052),
                    "dividendRate": raw(0.96),
                    "fiftyTwoWeekHigh": raw(199.62),
                    "fiftyTwoWeekLow": raw(164.08),
                    "priceToSalesTrailing12Months": raw(7.6),
                    "marketCap": raw(2950000000000),
                    "exDividendDate": raw(1715299200),
                    "currency": "USD",
                },
                "defaultKeyStatistics": {
                    "priceToBook": raw(39.5),
                    "pegRatio": raw(2.1),
                    "enterpriseToEbitda": raw(22.8),
                    "profitMargins": raw(0.26),
                },
                "financialData": {
                    "currentPrice": raw(191.29),
                    "revenueGrowth": raw(-0.043),
                    "profitMargins": raw(0.26),
                },
                "calendarEvents": {
                    "earnings": {"earningsDate": [raw(1722470400), raw(1722902400)]},
                    "exDividendDate": raw(1715299200),
                },
                "price": {
                    "regularMarketPrice": raw(191.29),
                    "regularMarketTime": 1717185600,
                    "currency": "USD",
                    "longName": "Apple Inc.",
                    "quoteType": "EQUITY",
                    "marketCap": raw(2950000000000),
                },
                "quoteType": {"quoteType": "EQUITY", "longName": "Apple Inc."},
            }
        ],
        "error": None,
    }
}


def yahoo(server: HTTPServer) -> YahooFundamentals:
    session = requests.Session()
    adapter = LoopbackAdapter(server.url_for("/"))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return YahooFundamentals(session=session, timeout_seconds=5, retry_policy=FAST, requests_per_minute=60_000)


def test_yahoo_quote_summary_gives_sector_valuation_dividend_earnings_and_range(httpserver: HTTPServer) -> None:
    serve_cookie_and_crumb(httpserver)
    seen: list[dict[str, str]] = []

    def handler(request: Request) -> Response:
        seen.append(dict(request.args))
        return Response(json.dumps(SUMMARY), content_type="application/json")

    httpserver.expect_request("/v10/finance/quoteSummary/AAPL").respond_with_handler(handler)
    record = yahoo(httpserver).fetch(AAPL)
    metrics = record.metrics
    assert record.as_of == datetime(2024, 5, 31, 20, tzinfo=UTC)
    assert (metrics["sector"], metrics["industry"], metrics["kind"]) == ("Technology", "Consumer Electronics", "equity")
    assert metrics["trailing_pe"] == pytest.approx(29.6) and metrics["price_to_book"] == pytest.approx(39.5)
    assert metrics["dividend_yield"] == pytest.approx(0.0052)
    assert metrics["earnings_dates"] == ["2024-08-01", "2024-08-06"]
    assert metrics["ex_dividend_date"] == "2024-05-10"
    assert metrics["fifty_two_week_high"] == "199.62"
    assert metrics["fifty_two_week_position"] == pytest.approx((191.29 - 164.08) / (199.62 - 164.08))
    assert "crumb" in seen[0] and "summaryDetail" in seen[0]["modules"]


def test_yahoo_unknown_symbol_is_refused(httpserver: HTTPServer) -> None:
    serve_cookie_and_crumb(httpserver)
    not_found = {
        "quoteSummary": {
            "result": None,
            "error": {"code": "Not Found", "description": "Quote not found for symbol: AAPL"},
        }
    }
    httpserver.expect_request("/v10/finance/quoteSummary/AAPL").respond_with_json(not_found, status=404)
    httpserver.expect_request("/consent").respond_with_data("", status=404)  # yfinance's second crumb strategy
    with pytest.raises(UnknownSymbolError, match="Quote not found"):
        yahoo(httpserver).fetch(AAPL)


def test_yahoo_server_error_is_retried_then_unavailable(httpserver: HTTPServer) -> None:
    serve_cookie_and_crumb(httpserver)
    httpserver.expect_request("/v10/finance/quoteSummary/AAPL").respond_with_data("busy", status=503)
    with pytest.raises(SourceUnavailableError):
        yahoo(httpserver).fetch(AAPL)
    assert sum(request.path.startswith("/v10/") for request, _ in httpserver.log) >= 2  # retried


class StubProvider:
    """A provider answering fixed records (the HTTP clients are tested above)."""

    def __init__(self, source: FundamentalsSource, as_of: datetime, *, fail: bool = False):
        self.source = source
        self.as_of = as_of
        self.fail = fail
        self.calls = 0

    def fetch(self, instrument: InstrumentRef):
        from core.fundamentals.sources import FundamentalsRecord

        self.calls += 1
        if self.fail:
            raise SourceUnavailableError("yahoo HTTP 503 for " + instrument.symbol)
        return FundamentalsRecord(
            self.source,
            instrument.coingecko_id or instrument.symbol,
            self.as_of,
            {"market_cap": "1000", "symbol": instrument.symbol},
        )


def test_collection_stores_once_skips_fresh_and_keeps_going_after_a_failure(database: Database) -> None:
    def seed(session):
        session.add_all(
            [
                Instrument(
                    symbol="BTC/EUR",
                    base="BTC",
                    quote="EUR",
                    asset_class=AssetClass.CRYPTO,
                    coingecko_id="bitcoin",
                    tracked=True,
                ),
                Instrument(symbol="AAPL", base="AAPL", quote="USD", asset_class=AssetClass.STOCK, tracked=True),
                Instrument(symbol="EUR/USD", base="EUR", quote="USD", asset_class=AssetClass.FIAT, tracked=True),
                Instrument(
                    symbol="DEMO/EUR",
                    base="DEMO",
                    quote="EUR",
                    asset_class=AssetClass.CRYPTO,
                    tracked=True,
                    coingecko_id="demo-coin",
                    default_source="demo",
                ),
            ]
        )

    database.run(seed)
    now = datetime(2026, 12, 1, 8, tzinfo=UTC)
    crypto = StubProvider(FundamentalsSource.COINGECKO, now - timedelta(minutes=3))
    stocks = StubProvider(FundamentalsSource.YAHOO, now, fail=True)
    providers = {FundamentalsSource.COINGECKO: crypto, FundamentalsSource.YAHOO: stocks}
    report = collect_fundamentals(database, providers, now=now)  # type: ignore[arg-type]
    assert report.stored == ["BTC/EUR"] and "AAPL" in report.failed and report.skipped == ["DEMO/EUR", "EUR/USD"]
    again = collect_fundamentals(database, providers, now=now + timedelta(hours=1))  # type: ignore[arg-type]
    assert again.stored == [] and "BTC/EUR" in again.skipped  # fetched an hour ago: not due
    later = collect_fundamentals(database, providers, now=now + timedelta(days=1))  # type: ignore[arg-type]
    assert later.unchanged == ["BTC/EUR"]  # same provider time: nothing written twice
    assert database.run(lambda s: s.query(AssetFundamentals).count()) == 1
    btc_id = database.run(lambda s: s.query(Instrument).filter_by(symbol="BTC/EUR").one().id)
    view = database.run(lambda s: latest_fundamentals(s, btc_id))
    assert view is not None and view.metrics["market_cap"] == "1000"
    assert database.run(lambda s: latest_fundamentals(s, btc_id, as_of=now - timedelta(minutes=10))) is None
