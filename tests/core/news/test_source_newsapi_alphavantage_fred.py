from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer

from core.news.errors import SourceAuthError, SourceBadResponse, SourceError, SourceRateLimited, SourceUnavailable
from core.news.http import HttpClient
from core.news.models import CalendarImportance
from core.news.sources.alphavantage import AlphaVantageNewsSource
from core.news.sources.fred import FredCalendarSource
from core.news.sources.newsapi import NewsApiSource, build_query
from tests.core.news.conftest import fetch_context


def http(name: str) -> HttpClient:
    return HttpClient(name, timeout_seconds=2, attempts=2, backoff_seconds=0, sleep=lambda _s: None)


# --- NewsAPI -----------------------------------------------------------------------------------

NEWSAPI_OK = {
    "status": "ok",
    "totalResults": 2,
    "articles": [
        {
            "source": {"id": "reuters", "name": "Reuters"},
            "author": "A. Writer",
            "title": "Bitcoin jumps - Reuters",
            "description": "BTC rose.",
            "url": "https://www.reuters.com/markets/btc",
            "urlToImage": None,
            "publishedAt": "2026-03-10T08:15:00Z",
            "content": "BTC rose sharply... [+1200 chars]",
        },
        {
            "source": {"id": None, "name": "[Removed]"},
            "author": None,
            "title": "[Removed]",
            "description": "[Removed]",
            "url": "https://removed.com",
            "urlToImage": None,
            "publishedAt": "1970-01-01T00:00:00Z",
            "content": "[Removed]",
        },
    ],
}


def newsapi(httpserver: HTTPServer) -> NewsApiSource:
    return NewsApiSource("NEWSKEY", http("newsapi"), base_url=httpserver.url_for("/"))


def test_newsapi_everything(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/v2/everything",
        headers={"X-Api-Key": "NEWSKEY"},
        query_string={
            "q": "Bitcoin OR BTC OR Apple OR AAPL",
            "from": "2026-03-08T12:00:00Z",
            "sortBy": "publishedAt",
            "language": "en",
            "pageSize": "100",
            "page": "1",
        },
    ).respond_with_json(NEWSAPI_OK)
    (item,) = newsapi(httpserver).fetch(fetch_context()).items
    assert item.title == "Bitcoin jumps - Reuters" and item.publisher == "Reuters"
    assert item.published_at == datetime(2026, 3, 10, 8, 15, tzinfo=UTC)
    assert item.source_id is not None and len(item.source_id) == 40


def test_newsapi_query_quotes_phrases() -> None:
    from core.news.sources.base import InstrumentQuery

    context = fetch_context(instruments=[InstrumentQuery("X", "XYZ", ("New Coin",))])
    assert build_query(context) == '"New Coin" OR XYZ'


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, {"status": "error", "code": "apiKeyInvalid", "message": "Your API key is invalid."}, SourceAuthError),
        (429, {"status": "error", "code": "rateLimited", "message": "Too many requests."}, SourceRateLimited),
        (500, {"status": "error", "code": "unexpectedError", "message": "Oops"}, SourceUnavailable),
        (200, {"status": "error", "code": "apiKeyExhausted", "message": "Exhausted"}, SourceAuthError),
        (200, {"unexpected": True}, SourceBadResponse),
    ],
)
def test_newsapi_errors(httpserver: HTTPServer, status: int, body: dict[str, object], error: type) -> None:
    httpserver.expect_request("/v2/everything").respond_with_json(body, status=status)
    with pytest.raises(error):
        newsapi(httpserver).fetch(fetch_context())


def test_newsapi_garbage_and_empty(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/v2/everything").respond_with_data("<<garbage>>")
    httpserver.expect_ordered_request("/v2/everything").respond_with_json(
        {"status": "ok", "totalResults": 0, "articles": []}
    )
    with pytest.raises(SourceBadResponse):
        newsapi(httpserver).fetch(fetch_context())
    assert newsapi(httpserver).fetch(fetch_context()).items == []


# --- Alpha Vantage -----------------------------------------------------------------------------

AV_OK = {
    "items": "1",
    "sentiment_score_definition": "x <= -0.35: Bearish; ...",
    "relevance_score_definition": "0 < x <= 1",
    "feed": [
        {
            "title": "Bitcoin ETF demand grows",
            "url": "https://www.benzinga.com/btc-etf",
            "time_published": "20260310T071500",
            "authors": ["Jane", "John"],
            "summary": "Demand grows.",
            "banner_image": None,
            "source": "Benzinga",
            "category_within_source": "News",
            "source_domain": "www.benzinga.com",
            "topics": [{"topic": "Blockchain", "relevance_score": "0.9"}],
            "overall_sentiment_score": 0.31,
            "overall_sentiment_label": "Somewhat-Bullish",
            "ticker_sentiment": [
                {
                    "ticker": "CRYPTO:BTC",
                    "relevance_score": "0.8",
                    "ticker_sentiment_score": "0.4",
                    "ticker_sentiment_label": "Bullish",
                }
            ],
        },
    ],
}


def alphavantage(httpserver: HTTPServer) -> AlphaVantageNewsSource:
    return AlphaVantageNewsSource("AVKEY", http("alphavantage"), base_url=httpserver.url_for("/"))


def test_alphavantage_rotates_tickers_and_parses(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/query",
        query_string={
            "function": "NEWS_SENTIMENT",
            "tickers": "AAPL",
            "time_from": "20260308T1200",
            "sort": "LATEST",
            "limit": "200",
            "apikey": "AVKEY",
        },
    ).respond_with_json(AV_OK)
    result = alphavantage(httpserver).fetch(fetch_context(cursor="CRYPTO:BTC"))
    assert result.cursor == "AAPL"
    (item,) = result.items
    assert item.published_at == datetime(2026, 3, 10, 7, 15, tzinfo=UTC)
    assert item.author == "Jane, John" and item.publisher == "Benzinga" and item.hint_symbols == ("AAPL",)
    assert item.metrics == {"av_sentiment": 0.31, "av_label": "Somewhat-Bullish", "tickers": ["CRYPTO:BTC"]}


def test_alphavantage_http_200_throttle_answer(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/query").respond_with_json(
        {
            "Information": "We have detected your API key as AVKEY and our standard API rate limit is "
            "25 requests per day."
        }
    )
    with pytest.raises(SourceRateLimited) as caught:
        alphavantage(httpserver).fetch(fetch_context())
    assert caught.value.retry_at == datetime(2026, 3, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (200, {"Error Message": "the parameter apikey is invalid or missing."}, SourceAuthError),
        (200, {"Error Message": "Invalid API call."}, SourceError),
        (401, {"message": "unauthorized"}, SourceAuthError),
        (429, {"message": "slow"}, SourceRateLimited),
        (500, {"message": "boom"}, SourceUnavailable),
        (200, {"feed": "not a list"}, SourceBadResponse),
    ],
)
def test_alphavantage_errors(httpserver: HTTPServer, status: int, body: dict[str, object], error: type) -> None:
    httpserver.expect_request("/query").respond_with_json(body, status=status)
    with pytest.raises(error):
        alphavantage(httpserver).fetch(fetch_context())


def test_alphavantage_garbage_and_empty(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/query").respond_with_data("garbage{")
    httpserver.expect_ordered_request("/query").respond_with_json({"items": "0", "feed": []})
    with pytest.raises(SourceBadResponse):
        alphavantage(httpserver).fetch(fetch_context())
    assert alphavantage(httpserver).fetch(fetch_context()).items == []


# --- FRED release calendar ---------------------------------------------------------------------

FRED_OK = {
    "realtime_start": "2026-03-03", "realtime_end": "2026-04-24", "order_by": "release_date", "sort_order": "asc",
    "count": 3, "offset": 0, "limit": 1000,
    "release_dates": [
        {"release_id": 10, "release_name": "Consumer Price Index", "date": "2026-03-11"},
        {"release_id": 18, "release_name": "H.15 Selected Interest Rates", "date": "2026-03-11"},
        {"release_id": 101, "release_name": "FOMC Press Release", "date": "2026-03-18"},
    ],
}  # fmt: skip


def fred(httpserver: HTTPServer) -> FredCalendarSource:
    return FredCalendarSource("FREDKEY", http("fred"), base_url=httpserver.url_for("/"))


def test_fred_market_moving_releases_with_new_york_times(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/fred/releases/dates",
        query_string={
            "api_key": "FREDKEY",
            "file_type": "json",
            "realtime_start": "2026-03-03",
            "realtime_end": "2026-04-24",
            "include_release_dates_with_no_data": "true",
            "order_by": "release_date",
            "sort_order": "asc",
            "limit": "1000",
            "offset": "0",
        },
    ).respond_with_json(FRED_OK)
    cpi, fomc = fred(httpserver).fetch_events(fetch_context())
    assert (cpi.title, cpi.importance, cpi.country) == ("Consumer Price Index", CalendarImportance.HIGH, "US")
    assert cpi.event_time == datetime(2026, 3, 11, 12, 30, tzinfo=UTC)  # 08:30 EDT (DST from 8 March 2026)
    assert cpi.external_id == "10:2026-03-11"
    assert fomc.event_time == datetime(2026, 3, 18, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            400,
            {"error_code": 400, "error_message": "Bad Request.  The value for variable api_key is not registered."},
            SourceAuthError,
        ),
        (429, {"error_code": 429, "error_message": "Too Many Requests."}, SourceRateLimited),
        (500, {"error_code": 500, "error_message": "Internal error"}, SourceUnavailable),
        (200, {"releases": []}, SourceBadResponse),
    ],
)
def test_fred_errors(httpserver: HTTPServer, status: int, body: dict[str, object], error: type) -> None:
    httpserver.expect_request("/fred/releases/dates").respond_with_json(body, status=status)
    with pytest.raises(error):
        fred(httpserver).fetch_events(fetch_context())


def test_fred_garbage_and_empty(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/fred/releases/dates").respond_with_data("<xml/>")
    httpserver.expect_ordered_request("/fred/releases/dates").respond_with_json({"count": 0, "release_dates": []})
    with pytest.raises(SourceBadResponse):
        fred(httpserver).fetch_events(fetch_context())
    assert fred(httpserver).fetch_events(fetch_context()) == []
