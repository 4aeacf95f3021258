"""Candles and quotes from any ccxt exchange (One Trading, Bitpanda's exchange, by default)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import ccxt
import pandas as pd

from core.market.sources.base import (
    InstrumentRef,
    MarketDataError,
    QuoteSnapshot,
    RetryPolicy,
    SourceAuthenticationError,
    SourceCapabilities,
    SourceResponseError,
    SourceUnavailableError,
    UnknownSymbolError,
    UnsupportedTimeframeError,
    call_with_retries,
    candles_from_rows,
    window_filter,
)
from core.market.timeframes import timeframe_seconds
from core.retry import RateLimiter
from core.timeutil import ms_to_utc, utc_now, utc_to_ms

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Venue quirks as data: candles per request where ccxt's own metadata is missing or too optimistic.
CANDLE_LIMIT_OVERRIDES: dict[str, int] = {"onetrading": 1500, "kraken": 720, "bitpanda": 1500}
DEFAULT_CANDLE_LIMIT = 500


class CcxtMarketData:
    """A ``MarketData`` adapter over one ccxt exchange (``ccxt:<exchange id>``)."""

    def __init__(
        self,
        exchange_id: str = "onetrading",
        *,
        api_key: str | None = None,
        secret: str | None = None,
        timeout_seconds: float = 20.0,
        retry_policy: RetryPolicy | None = None,
        requests_per_minute: float | None = None,
        exchange_options: dict[str, Any] | None = None,
    ):
        exchange_class = getattr(ccxt, exchange_id, None)
        if exchange_id not in ccxt.exchanges or exchange_class is None:
            raise MarketDataError(f"unknown ccxt exchange {exchange_id!r}")
        config: dict[str, Any] = {
            "enableRateLimit": False,
            "timeout": int(timeout_seconds * 1000),
            "enableLastHttpResponse": True,
            "enableLastJsonResponse": True,
        }
        if api_key:
            config["apiKey"] = api_key
        if secret:
            config["secret"] = secret
        config.update(exchange_options or {})
        self.exchange: ccxt.Exchange = exchange_class(config)
        self.exchange_id = exchange_id
        self.name = f"ccxt:{exchange_id}"
        rate = requests_per_minute or 60_000.0 / max(float(self.exchange.rateLimit or 1000), 1.0)
        self.capabilities = SourceCapabilities(
            timeframes=frozenset(self.exchange.timeframes or {}),
            candle_limit=self._candle_limit(),
            requests_per_minute=rate,
        )
        self._limiter = RateLimiter.per_minute(rate, service=self.name.split(":", 1)[0])
        self._retry_policy = retry_policy or RetryPolicy()

    def _candle_limit(self) -> int:
        if self.exchange_id in CANDLE_LIMIT_OVERRIDES:
            return CANDLE_LIMIT_OVERRIDES[self.exchange_id]
        features = getattr(self.exchange, "features", None) or {}
        limit = ((features.get("spot") or {}).get("fetchOHLCV") or {}).get("limit")
        return int(limit) if limit else DEFAULT_CANDLE_LIMIT

    def _call(self, description: str, call: Callable[[], T]) -> T:
        def translated() -> T:
            self.exchange.last_http_response = None
            self.exchange.last_json_response = None
            result = call()
            body = self.exchange.last_http_response
            if body and self.exchange.last_json_response is None:
                # ccxt turns an unparseable body into an empty result; that is a garbage answer, not "no data".
                raise SourceResponseError(f"{self.name} answered something that is not JSON: {str(body)[:80]!r}")
            return result

        return call_with_retries(
            translated,
            policy=self._retry_policy,
            limiter=self._limiter,
            description=description,
            translate=lambda error: _translate(error, self.name),
        )

    def _market_symbol(self, instrument: InstrumentRef) -> str:
        if self.exchange.markets is None:
            self._call(f"{self.name} load markets", self.exchange.load_markets)
        symbol = instrument.exchange_symbol or instrument.symbol
        if symbol not in (self.exchange.markets or {}):
            raise UnknownSymbolError(f"{self.name} has no market {symbol!r}")
        return symbol

    def fetch_candles(self, instrument: InstrumentRef, timeframe: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Return the exchange's candles with open times in ``[start, end)`` (one request)."""
        if timeframe not in self.capabilities.timeframes:
            supported = ", ".join(sorted(self.capabilities.timeframes))
            raise UnsupportedTimeframeError(f"{self.name} has no {timeframe} candles (supported: {supported})")
        symbol = self._market_symbol(instrument)
        count = max(
            1,
            min(self.capabilities.candle_limit, -(-int((end - start).total_seconds()) // timeframe_seconds(timeframe))),
        )
        rows = self._call(
            f"{self.name} candles {symbol} {timeframe}",
            lambda: self.exchange.fetch_ohlcv(symbol, timeframe, since=utc_to_ms(start), limit=count),
        )
        if not isinstance(rows, list):
            raise SourceResponseError(f"{self.name} answered candles in an unexpected format")
        return window_filter(candles_from_rows(rows), start, end)

    def fetch_quote(self, instrument: InstrumentRef) -> QuoteSnapshot:
        """Return last, bid and ask from the exchange's ticker."""
        symbol = self._market_symbol(instrument)
        ticker = self._call(f"{self.name} ticker {symbol}", lambda: self.exchange.fetch_ticker(symbol))
        last = ticker.get("last") if isinstance(ticker, dict) else None
        if last is None:
            raise SourceResponseError(f"{self.name} ticker for {symbol} has no last price")
        timestamp = ticker.get("timestamp")
        return QuoteSnapshot(
            ts=ms_to_utc(timestamp) if timestamp else utc_now(),
            last=Decimal(str(last)),
            bid=_decimal_or_none(ticker.get("bid")),
            ask=_decimal_or_none(ticker.get("ask")),
        )

    def close(self) -> None:
        """Close the exchange's HTTP session."""
        session = getattr(self.exchange, "session", None)
        if session is not None:
            session.close()


def _decimal_or_none(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _translate(error: Exception, source: str) -> MarketDataError:
    """Map a ccxt exception onto the Konsens error policy."""
    message = f"{source}: {type(error).__name__}: {str(error)[:300]}"
    if isinstance(error, ccxt.AuthenticationError | ccxt.PermissionDenied | ccxt.AccountSuspended):
        return SourceAuthenticationError(message)
    if isinstance(error, ccxt.BadSymbol):
        return UnknownSymbolError(message)
    if isinstance(error, ccxt.NetworkError):  # timeouts, 429 (DDoSProtection), 5xx (ExchangeNotAvailable)
        return SourceUnavailableError(message)
    if isinstance(error, ccxt.BadResponse | ccxt.NullResponse):
        return SourceResponseError(message)
    if isinstance(error, ccxt.BaseError):
        return MarketDataError(message)
    return SourceResponseError(message)
