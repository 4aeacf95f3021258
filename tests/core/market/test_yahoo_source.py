"""The Yahoo adapter: yfinance's session redirected to a loopback server (cookie, crumb, chart)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from pytest_httpserver import HTTPServer
from requests.adapters import HTTPAdapter
from werkzeug import Request, Response

from core.market.sources.base import (
    InstrumentRef,
    RetryPolicy,
    SourceAuthenticationError,
    SourceResponseError,
    SourceUnavailableError,
    UnknownSymbolError,
)
from core.market.sources.yahoo_source import YahooMarketData

AAPL = InstrumentRef(symbol="AAPL", base="AAPL", quote="USD", asset_class="stock", yahoo_symbol="AAPL")
CRUMB = "Xq9crumb/1"


class LoopbackAdapter(HTTPAdapter):
    """Send every request to the loopback server, whatever host yfinance names."""

    def __init__(self, base_url: str):
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(request.url or "")
        request.headers["X-Original-Host"] = parts.netloc
        request.url = f"{self.base_url}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
        return super().send(request, **kwargs)


def make_source(server: HTTPServer) -> YahooMarketData:
    session = requests.Session()
    adapter = LoopbackAdapter(server.url_for("/"))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return YahooMarketData(
        session=session,
        timeout_seconds=5,
        retry_policy=RetryPolicy(attempts=3, initial_wait_seconds=0.01, max_wait_seconds=0.05),
        requests_per_minute=60_000,
    )


def serve_cookie_and_crumb(server: HTTPServer) -> None:
    server.expect_request("/", headers={"X-Original-Host": "fc.yahoo.com"}).respond_with_response(
        Response("", status=404, headers={"Set-Cookie": "A3=d=AQABBCookie; Domain=127.0.0.1; Path=/"})
    )
    server.expect_request("/v1/test/getcrumb").respond_with_data(CRUMB, content_type="text/plain")


def chart(timestamps: list[int], quote: dict[str, list[Any]], granularity: str = "1d") -> dict[str, Any]:
    return {
        "chart": {
            "result": [
                {
                    "meta": {
                        "currency": "USD",
                        "symbol": "AAPL",
                        "exchangeName": "NMS",
                        "instrumentType": "EQUITY",
                        "gmtoffset": -14400,
                        "timezone": "EDT",
                        "exchangeTimezoneName": "America/New_York",
                        "regularMarketPrice": 189.84,
                        "regularMarketTime": 1717185600,
                        "dataGranularity": granularity,
                        "range": "",
                        "validRanges": ["1d", "5d", "1mo"],
                    },
                    "timestamp": timestamps,
                    "indicators": {"quote": [quote], "adjclose": [{"adjclose": quote.get("close", [])}]},
                }
            ],
            "error": None,
        }
    }


def test_daily_candles_go_through_cookie_crumb_and_chart(httpserver: HTTPServer) -> None:
    serve_cookie_and_crumb(httpserver)
    seen: list[dict[str, str]] = []

    def handler(request: Request) -> Response:
        seen.append(dict(request.args))
        body = chart(
            [1717075800, 1717162200, 1717248600],  # 2024-05-30/31 and 06-01 13:30 UTC (session open, EDT)
            {"open": [190.76, 191.44, None], "high": [192.18, 192.57, None], "low": [190.13, 189.91, None],
             "close": [191.29, 192.25, None], "volume": [49947900, 75158300, None]},
        )  # fmt: skip
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/v8/finance/chart/AAPL").respond_with_handler(handler)
    source = make_source(httpserver)
    frame = source.fetch_candles(AAPL, "1d", datetime(2024, 5, 30, tzinfo=UTC), datetime(2024, 6, 3, tzinfo=UTC))
    assert list(frame["ts"]) == [datetime(2024, 5, 30, tzinfo=UTC), datetime(2024, 5, 31, tzinfo=UTC)]
    assert list(frame["close"]) == [191.29, 192.25]
    assert frame.iloc[1]["volume"] == 75158300
    assert seen[0]["crumb"] == CRUMB
    assert seen[0]["interval"] == "1d"
    assert seen[0]["period1"] == str(int(datetime(2024, 5, 30, tzinfo=UTC).timestamp()))
    paths = [request.path for request, _ in httpserver.log]
    assert paths[0] == "/"  # the cookie from fc.yahoo.com first
    assert paths[-2:] == ["/v1/test/getcrumb", "/v8/finance/chart/AAPL"]


def test_hourly_candles_are_built_from_fifteen_minute_bars_on_the_utc_hour(httpserver: HTTPServer) -> None:
    serve_cookie_and_crumb(httpserver)
    start = int(datetime(2024, 5, 31, 13, 30, tzinfo=UTC).timestamp())
    stamps = [start + 900 * index for index in range(4)]  # 13:30, 13:45, 14:00, 14:15
    httpserver.expect_request("/v8/finance/chart/AAPL").respond_with_json(
        chart(
            stamps,
            {
                "open": [10.0, 11.0, 12.0, 13.0],
                "high": [10.5, 11.5, 12.5, 13.5],
                "low": [9.5, 10.5, 11.5, 12.5],
                "close": [11.0, 12.0, 13.0, 14.0],
                "volume": [100, 200, 300, 400],
            },
            "15m",
        )
    )
    frame = make_source(httpserver).fetch_candles(
        AAPL, "1h", datetime(2024, 5, 31, 13, tzinfo=UTC), datetime(2024, 5, 31, 15, tzinfo=UTC)
    )
    assert list(frame["ts"]) == [datetime(2024, 5, 31, 13, tzinfo=UTC), datetime(2024, 5, 31, 14, tzinfo=UTC)]
    assert list(frame["open"]) == [10.0, 12.0]
    assert list(frame["close"]) == [12.0, 14.0]
    assert list(frame["volume"]) == [300, 700]


def test_quote_from_chart_meta(httpserver: HTTPServer) -> None:
    serve_cookie_and_crumb(httpserver)
    httpserver.expect_request("/v8/finance/chart/AAPL").respond_with_json(chart([], {}))
    quote = make_source(httpserver).fetch_quote(AAPL)
    assert str(quote.last) == "189.84"
    assert quote.ts == datetime(2024, 5, 31, 20, tzinfo=UTC)


def test_rate_limited_then_success(httpserver: HTTPServer) -> None:
    serve_cookie_and_crumb(httpserver)
    answers = [Response("Too Many Requests", status=429)] * 2 + [
        Response(json.dumps(chart([], {})), content_type="application/json")
    ]
    httpserver.expect_request("/v8/finance/chart/AAPL").respond_with_handler(lambda _request: answers.pop(0))
    assert str(make_source(httpserver).fetch_quote(AAPL).last) == "189.84"


def test_unauthorised_unknown_server_error_and_garbage(httpserver: HTTPServer) -> None:
    serve_cookie_and_crumb(httpserver)
    unauthorised = {"finance": {"result": None, "error": {"code": "Unauthorized", "description": "Invalid Crumb"}}}
    missing = {"code": "Not Found", "description": "No data found, symbol may be delisted"}
    not_found = {"chart": {"result": None, "error": missing}}
    httpserver.expect_request("/v8/finance/chart/LOCKED").respond_with_json(unauthorised, status=401)
    httpserver.expect_request("/v8/finance/chart/GONE").respond_with_json(not_found, status=404)
    httpserver.expect_request("/v8/finance/chart/DOWN").respond_with_data("<html>bad gateway</html>", status=502)
    httpserver.expect_request("/v8/finance/chart/JUNK").respond_with_data(
        '{"chart": [', content_type="application/json"
    )
    source = make_source(httpserver)

    def ref(symbol: str) -> InstrumentRef:
        return InstrumentRef(symbol=symbol, base=symbol, quote="USD", asset_class="stock")

    with pytest.raises(SourceAuthenticationError, match="Invalid Crumb"):
        source.fetch_quote(ref("LOCKED"))
    with pytest.raises(UnknownSymbolError, match="delisted"):
        source.fetch_quote(ref("GONE"))
    with pytest.raises(SourceUnavailableError):
        source.fetch_quote(ref("DOWN"))
    with pytest.raises(SourceResponseError):
        source.fetch_quote(ref("JUNK"))
