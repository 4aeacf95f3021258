"""The ccxt adapter against a loopback server speaking One Trading's public REST format."""

from __future__ import annotations

import json
from datetime import UTC, datetime

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
from core.market.sources.ccxt_source import CcxtMarketData

BTC = InstrumentRef(symbol="BTC/EUR", base="BTC", quote="EUR")

INSTRUMENTS = [
    {
        "base": {"code": "BTC", "precision": 5},
        "quote": {"code": "EUR", "precision": 2},
        "amount_precision": 5,
        "market_precision": 2,
        "min_size": "10.0",
        "id": "BTC_EUR",
        "type": "SPOT",
        "state": "ACTIVE",
    }
]
CURRENCIES = [{"code": "BTC", "precision": 8, "name": "Bitcoin"}, {"code": "EUR", "precision": 2, "name": "Euro"}]


def candlestick(hour: int, open_: str, high: str, low: str, close: str) -> dict[str, object]:
    """One candle as One Trading sends it: ``time`` is the candle's last millisecond."""
    return {
        "instrument_code": "BTC_EUR",
        "granularity": {"unit": "HOURS", "period": 1},
        "high": high,
        "low": low,
        "open": open_,
        "close": close,
        "total_amount": "33.85924",
        "volume": "311958.9635744",
        "time": f"2024-05-08T{hour:02d}:59:59.999Z",
        "last_sequence": 461123 + hour,
    }


def serve_markets(server: HTTPServer) -> None:
    server.expect_request("/fast/v1/currencies").respond_with_json(CURRENCIES)
    server.expect_request("/fast/v1/instruments").respond_with_json(INSTRUMENTS)


def make_source(server: HTTPServer, **kwargs: object) -> CcxtMarketData:
    base = server.url_for("/fast").rstrip("/")
    return CcxtMarketData(
        "onetrading",
        api_key=kwargs.pop("api_key", None),  # type: ignore[arg-type]
        retry_policy=RetryPolicy(attempts=3, initial_wait_seconds=0.01, max_wait_seconds=0.05),
        requests_per_minute=60_000,
        exchange_options={"urls": {"api": {"public": base, "private": base}}},
        timeout_seconds=5,
    )


def test_fetch_candles_parses_one_trading_candlesticks(httpserver: HTTPServer) -> None:
    serve_markets(httpserver)
    seen: list[dict[str, str]] = []

    def handler(request: Request) -> Response:
        seen.append(dict(request.args))
        body = {
            "candlesticks": [
                candlestick(10, "9250.0", "9252.65", "9115.27", "9132.35"),
                candlestick(11, "9132.53", "9162.49", "9040.0", "9083.69"),
            ]
        }
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/fast/v1/candlesticks/BTC_EUR").respond_with_handler(handler)
    source = make_source(httpserver)
    frame = source.fetch_candles(BTC, "1h", datetime(2024, 5, 8, 10, tzinfo=UTC), datetime(2024, 5, 8, 12, tzinfo=UTC))
    assert list(frame["ts"]) == [datetime(2024, 5, 8, 10, tzinfo=UTC), datetime(2024, 5, 8, 11, tzinfo=UTC)]
    assert frame.loc[0, "open"] == 9250.0
    assert frame.loc[1, "low"] == 9040.0
    assert frame.loc[0, "volume"] == pytest.approx(33.85924)
    assert seen[0]["unit"] == "HOURS"
    assert seen[0]["period"] == "1"
    assert seen[0]["from"].startswith("2024-05-08T10:00:00")
    assert source.capabilities.candle_limit == 1500


def test_fetch_quote_reads_the_market_ticker(httpserver: HTTPServer) -> None:
    serve_markets(httpserver)
    httpserver.expect_request("/fast/v1/market-ticker/BTC_EUR").respond_with_json(
        {
            "instrument_code": "BTC_EUR",
            "sequence": 602562,
            "time": "2024-07-10T06:27:34.951Z",
            "state": "ACTIVE",
            "is_frozen": 0,
            "quote_volume": "1695555.1783768",
            "base_volume": "205.67436",
            "last_price": "8143.91",
            "best_bid": "8143.71",
            "best_ask": "8156.9",
            "price_change": "-147.47",
            "price_change_percentage": "-1.78",
            "high": "8337.45",
            "low": "8110.0",
        }
    )
    quote = make_source(httpserver).fetch_quote(BTC)
    assert str(quote.last) == "8143.91"
    assert str(quote.bid) == "8143.71"
    assert str(quote.ask) == "8156.9"
    assert quote.ts == datetime(2024, 7, 10, 6, 27, 34, 951000, tzinfo=UTC)


def test_rate_limit_answer_is_retried_then_succeeds(httpserver: HTTPServer) -> None:
    serve_markets(httpserver)
    answers = [
        Response(json.dumps({"error": "RATELIMIT"}), status=429, content_type="application/json"),
        Response(
            json.dumps({"candlesticks": [candlestick(10, "1", "2", "0.5", "1.5")]}), content_type="application/json"
        ),
    ]
    httpserver.expect_request("/fast/v1/candlesticks/BTC_EUR").respond_with_handler(lambda _request: answers.pop(0))
    frame = make_source(httpserver).fetch_candles(
        BTC, "1h", datetime(2024, 5, 8, 10, tzinfo=UTC), datetime(2024, 5, 8, 11, tzinfo=UTC)
    )
    assert len(frame) == 1


def test_server_errors_are_retried_and_then_reported_as_unavailable(httpserver: HTTPServer) -> None:
    serve_markets(httpserver)
    httpserver.expect_request("/fast/v1/candlesticks/BTC_EUR").respond_with_data("bad gateway", status=502)
    with pytest.raises(SourceUnavailableError):
        make_source(httpserver).fetch_candles(
            BTC, "1h", datetime(2024, 5, 8, 10, tzinfo=UTC), datetime(2024, 5, 8, 11, tzinfo=UTC)
        )
    candle_calls = [request for request, _ in httpserver.log if "candlesticks" in request.path]
    assert len(candle_calls) == 3


def test_invalid_api_key_is_an_authentication_error_and_not_retried(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/fast/v1/currencies").respond_with_json({"error": "INVALID_APIKEY"}, status=401)
    with pytest.raises(SourceAuthenticationError):
        make_source(httpserver).fetch_quote(BTC)
    assert len(httpserver.log) == 1


def test_garbage_json_is_a_response_error(httpserver: HTTPServer) -> None:
    serve_markets(httpserver)
    httpserver.expect_request("/fast/v1/candlesticks/BTC_EUR").respond_with_data(
        "{not json", content_type="application/json"
    )
    with pytest.raises(SourceResponseError):
        make_source(httpserver).fetch_candles(
            BTC, "1h", datetime(2024, 5, 8, 10, tzinfo=UTC), datetime(2024, 5, 8, 11, tzinfo=UTC)
        )


def test_unknown_symbol_and_unsupported_timeframe_are_clear_errors(httpserver: HTTPServer) -> None:
    serve_markets(httpserver)
    source = make_source(httpserver)
    start, end = datetime(2024, 5, 8, tzinfo=UTC), datetime(2024, 5, 9, tzinfo=UTC)
    with pytest.raises(UnknownSymbolError, match="DOGE/EUR"):
        source.fetch_candles(InstrumentRef("DOGE/EUR", "DOGE", "EUR"), "1h", start, end)
    with pytest.raises(UnsupportedTimeframeError, match="3m"):
        source.fetch_candles(BTC, "3m", start, end)
