"""The CoinGecko adapter against a loopback server speaking CoinGecko's v3 JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from core.market.sources.base import (
    InstrumentRef,
    RetryPolicy,
    SourceAuthenticationError,
    SourceResponseError,
    SourceUnavailableError,
    UnknownSymbolError,
    UnsupportedTimeframeError,
)
from core.market.sources.coingecko_source import CoinGeckoMarketData

BTC = InstrumentRef(symbol="BTC/EUR", base="BTC", quote="EUR", coingecko_id="bitcoin")
DAY = datetime(2024, 3, 1, tzinfo=UTC)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def make_source(server: HTTPServer, key: str | None = None) -> CoinGeckoMarketData:
    return CoinGeckoMarketData(
        demo_api_key=key,
        api_base_url=server.url_for("/api/v3/"),
        timeout_seconds=5,
        retry_policy=RetryPolicy(attempts=3, initial_wait_seconds=0.01, max_wait_seconds=0.05),
        requests_per_minute=60_000,
    )


def test_hourly_candles_are_aggregated_from_five_minute_samples(httpserver: HTTPServer) -> None:
    prices = [[ms(DAY + timedelta(minutes=5 * index)), 60_000.0 + index] for index in range(24)]  # two hours
    volumes = [[row[0], 1.5e9] for row in prices]
    seen: list[dict[str, str]] = []

    def handler(request: Request) -> Response:
        seen.append(dict(request.args))
        body = {"prices": prices, "market_caps": prices, "total_volumes": volumes}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/api/v3/coins/bitcoin/market_chart/range").respond_with_handler(handler)
    frame = make_source(httpserver, key="CG-secret-demo").fetch_candles(BTC, "1h", DAY, DAY + timedelta(days=1))
    assert list(frame["ts"]) == [DAY, DAY + timedelta(hours=1)]
    first = frame.iloc[0]
    assert (first["open"], first["high"], first["low"], first["close"]) == (60_000.0, 60_011.0, 60_000.0, 60_011.0)
    assert frame.iloc[1]["open"] == 60_012.0
    assert (frame["volume"] == 0).all()
    assert seen[0]["vs_currency"] == "eur"
    assert seen[0]["from"] == str(int(DAY.timestamp()))
    assert seen[0]["to"] == str(int((DAY + timedelta(days=1)).timestamp()))
    assert seen[0]["x_cg_demo_api_key"] == "CG-secret-demo"


def test_daily_candles_take_the_24h_volume_at_the_day_end(httpserver: HTTPServer) -> None:
    prices = [[ms(DAY + timedelta(hours=index)), 100.0 + index] for index in range(48)]
    volumes = [[row[0], 1000.0 + index] for index, row in enumerate(prices)]
    httpserver.expect_request("/api/v3/coins/bitcoin/market_chart/range").respond_with_json(
        {"prices": prices, "market_caps": prices, "total_volumes": volumes}
    )
    frame = make_source(httpserver).fetch_candles(BTC, "1d", DAY, DAY + timedelta(days=2))
    assert list(frame["ts"]) == [DAY, DAY + timedelta(days=1)]
    assert list(frame["open"]) == [100.0, 124.0]
    assert list(frame["close"]) == [123.0, 147.0]
    assert list(frame["volume"]) == [1023.0, 1047.0]


def test_four_hour_candles_come_from_the_ohlc_endpoint_stamped_at_close(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/api/v3/coins/bitcoin/ohlc", query_string={"vs_currency": "eur", "days": "30"}
    ).respond_with_json(
        [
            [ms(DAY + timedelta(hours=4)), 61000.1, 61500.0, 60900.0, 61200.5],
            [ms(DAY + timedelta(hours=8)), 61200.5, 61300.0, 61000.0, 61100.0],
        ]
    )
    frame = make_source(httpserver).fetch_candles(BTC, "4h", DAY, DAY + timedelta(days=1))
    assert list(frame["ts"]) == [DAY, DAY + timedelta(hours=4)]
    assert frame.iloc[0]["close"] == 61200.5


def test_quote_from_simple_price(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v3/simple/price").respond_with_json(
        {"bitcoin": {"eur": 61234.5, "last_updated_at": 1709251200}}
    )
    quote = make_source(httpserver).fetch_quote(BTC)
    assert str(quote.last) == "61234.5"
    assert quote.ts == DAY


def test_rate_limit_then_success(httpserver: HTTPServer) -> None:
    answers = [
        Response(
            json.dumps({"status": {"error_code": 429, "error_message": "You've exceeded the Rate Limit."}}),
            status=429,
            content_type="application/json",
        ),
        Response(json.dumps({"bitcoin": {"eur": 1.5}}), content_type="application/json"),
    ]
    httpserver.expect_request("/api/v3/simple/price").respond_with_handler(lambda _request: answers.pop(0))
    assert str(make_source(httpserver).fetch_quote(BTC).last) == "1.5"


def test_server_error_is_unavailable_after_retries(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v3/simple/price").respond_with_data("<html>oops</html>", status=503)
    with pytest.raises(SourceUnavailableError):
        make_source(httpserver).fetch_quote(BTC)
    assert len(httpserver.log) == 3


def test_unauthorised_key_is_an_authentication_error_without_the_key_in_the_message(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v3/simple/price").respond_with_json(
        {"status": {"error_code": 10002, "error_message": "API Key Missing"}}, status=401
    )
    with pytest.raises(SourceAuthenticationError) as raised:
        make_source(httpserver, key="CG-very-secret").fetch_quote(BTC)
    assert "CG-very-secret" not in str(raised.value)
    assert len(httpserver.log) == 1


def test_garbage_json_and_unknown_coin(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v3/coins/bitcoin/ohlc").respond_with_data("[[1,2", content_type="application/json")
    httpserver.expect_request("/api/v3/coins/nocoin/ohlc").respond_with_json({"error": "coin not found"}, status=404)
    source = make_source(httpserver)
    with pytest.raises(SourceResponseError):
        source.fetch_candles(BTC, "4h", DAY, DAY + timedelta(days=1))
    with pytest.raises(UnknownSymbolError):
        source.fetch_candles(
            InstrumentRef("NO/EUR", "NO", "EUR", coingecko_id="nocoin"), "4h", DAY, DAY + timedelta(days=1)
        )
    with pytest.raises(UnknownSymbolError, match="no CoinGecko id"):
        source.fetch_quote(InstrumentRef("X/EUR", "X", "EUR"))
    with pytest.raises(UnsupportedTimeframeError):
        source.fetch_candles(BTC, "5m", DAY, DAY + timedelta(days=1))
